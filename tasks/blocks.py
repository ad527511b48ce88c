"""Prefect task: compute one block and write it into the cube (data first, status last)."""
from __future__ import annotations

import time
import traceback
from typing import Any

from prefect import get_run_logger, task

import storage
from scalinglab.compute import compute_block
from scalinglab.spec import spec_from_json

__all__ = ["run_block"]


def _units(spec, block) -> list[dict[str, Any]]:
    return [{"alpha": float(spec.alpha[ia]), "beta": float(spec.beta[ib]), "P": float(spec.P[ip])}
            for ia, ib, ip in block.cells()]


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    except Exception:  # not inside Ray
        return "local"


@task(name="run-block", retries=2, retry_delay_seconds=[1, 5],
      task_run_name="block-{block_id}", cache_policy=None, persist_result=False)
def run_block(spec_json: str, store: str, block_id: int) -> dict[str, Any]:
    """Compute block ``block_id`` of the sweep and write it; a science failure is recorded, not raised."""
    spec = spec_from_json(spec_json)
    block = spec.blocks()[block_id]
    opts = spec.storage_options or None
    start = time.perf_counter()
    storage.record_run(store, block_id, {"node": _node_id()}, opts)
    try:
        result = compute_block(spec, block)
    except Exception as err:  # the block failed (diverged, bad numerics): record it, let the others run
        message = f"{type(err).__name__}: {err}"
        storage.set_status(store, block, storage.FAILED, opts)
        storage.record_failure(store, block_id, _units(spec, block), message + "\n" + traceback.format_exc(limit=3), opts)
        get_run_logger().warning("block %d failed: %s", block_id, message)
        return {"block": block_id, "status": "failed", "error": message, "seconds": time.perf_counter() - start}
    storage.write_block(store, block, result, opts)  # I/O errors propagate: Prefect retries them
    storage.clear_failure(store, block_id, opts)
    seconds = time.perf_counter() - start
    get_run_logger().info("block %d done in %.2f s (%d cells)", block_id, seconds, len(list(block.cells())))
    return {"block": block_id, "status": "done", "seconds": seconds}
