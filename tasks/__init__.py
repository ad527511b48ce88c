"""Prefect tasks: one task = one block (thin: call scalinglab, then storage)."""
