"""Deterministic kill points for reliability tests (a test hook, like ``SCALINGLAB_INJECT_FAULT``).

``SCALINGLAB_KILL_AT="create:after-array-2"`` makes the process that reaches that point kill
itself with SIGKILL there: no cleanup, no ``finally``, exactly what a power cut or ``kill -9``
does. Several points may be listed, comma-separated. The points:

- ``create:after-group`` — the cube's group document written (marked half-made), no array yet;
- ``create:after-array-<k>`` — the k-th array's metadata written (k = 1, 2, …);
- ``create:before-attrs`` — every array and the layout written, the spec not yet;
- ``create:after-attrs`` — the cube complete, its creation lock still held;
- ``lock:after-tmp`` — a local lock's temporary file written, not yet linked into place;
- ``lock:after-create`` — the lock file created, before the acquirer returns;
- ``lock:during-takeover`` — a stale lock's break file taken, the stale lock not yet removed.
"""
from __future__ import annotations

import os
import signal

__all__ = ["KILL_ENV", "kill_point"]

KILL_ENV = "SCALINGLAB_KILL_AT"


def kill_point(name: str) -> None:
    """SIGKILL this process if ``SCALINGLAB_KILL_AT`` names ``name`` (no-op otherwise)."""
    wanted = os.environ.get(KILL_ENV)
    if wanted and name in {w.strip() for w in wanted.split(",")}:
        os.kill(os.getpid(), signal.SIGKILL)
