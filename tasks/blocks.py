"""The worker half of a sweep: compute a batch of blocks and write each into the cube.

:func:`run_blocks` is a plain function. The dispatcher (:mod:`tasks.dispatch`) runs it as a
Ray remote function, so a worker imports numpy, zarr and the science layer but never
Prefect: a block costs its compute and its writes, not a task-run's bookkeeping.

Per block: skip it if the cube already has it done (a retried batch after a lost worker,
or a block finished by an earlier driver), record the start in ``_meta/runs``, compute,
write data then status. A science failure (divergence, bad numerics) is recorded in the
failure ledger and the batch goes on; an ``OSError`` (store unreachable) propagates, so Ray
retries the batch.
"""
from __future__ import annotations

import hashlib
import logging
import time
import traceback
from collections import OrderedDict
from typing import Any

import storage
from scalinglab.compute import compute_block
from scalinglab.spec import SweepSpec, spec_from_json

__all__ = ["run_blocks", "run_block"]

log = logging.getLogger("scalinglab.blocks")

#: Parsed specs and open cubes of this worker process, by (store, spec digest). A worker
#: serves one sweep at a time; a few entries cover tests that run sweeps back to back.
_CACHE: "OrderedDict[tuple[str, str], tuple[SweepSpec, storage.CubeWriter]]" = OrderedDict()
_CACHE_SIZE = 4


def _open(spec_json: str, store: str) -> tuple[SweepSpec, storage.CubeWriter]:
    key = (store, hashlib.sha256(spec_json.encode()).hexdigest())
    hit = _CACHE.get(key)
    if hit is None:
        spec = spec_from_json(spec_json)
        hit = (spec, storage.CubeWriter(store, spec.storage_options or None))
        _CACHE[key] = hit
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return hit


def _units(spec: SweepSpec, block) -> list[dict[str, Any]]:
    return [{"alpha": float(spec.alpha[ia]), "beta": float(spec.beta[ib]), "P": float(spec.P[ip])}
            for ia, ib, ip in block.cells()]


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    except Exception:  # not inside Ray
        return "local"


def run_block(spec: SweepSpec, writer: storage.CubeWriter, store: str, block_id: int, node: str) -> dict[str, Any]:
    """Compute and write one block; returns ``{"block", "status", "seconds"[, "error"]}``."""
    opts = spec.storage_options or None
    block = spec.block(block_id)
    before = writer.status(block)
    if (before == storage.DONE).all():
        return {"block": block_id, "status": "done", "seconds": 0.0, "skipped": True}
    start = time.perf_counter()
    storage.record_run(store, block_id, {"node": node}, opts)
    try:
        result = compute_block(spec, block)
    except Exception as err:  # the block failed (diverged, bad numerics): record it, let the others run
        message = f"{type(err).__name__}: {err}"
        writer.set_status(block, storage.FAILED)
        storage.record_failure(store, block_id, _units(spec, block), message + "\n" + traceback.format_exc(limit=3), opts)
        log.warning("block %d failed: %s", block_id, message)
        return {"block": block_id, "status": "failed", "error": message, "seconds": time.perf_counter() - start}
    writer.write(block, result)  # OSError propagates: Ray retries the batch (done blocks are skipped)
    if (before == storage.FAILED).any():
        storage.clear_failure(store, block_id, opts)
    return {"block": block_id, "status": "done", "seconds": time.perf_counter() - start}


def run_blocks(spec_json: str, store: str, block_ids: list[int]) -> list[dict[str, Any]]:
    """Compute and write every block of ``block_ids`` in turn; one result dict per block."""
    spec, writer = _open(spec_json, store)
    node = _node_id()
    return [run_block(spec, writer, store, b, node) for b in block_ids]
