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
from storage import reuse
from scalinglab.compute import compute_block
from scalinglab.spec import SweepSpec, spec_from_json

__all__ = ["run_blocks", "compute_or_fail", "warm_up"]

log = logging.getLogger("scalinglab.blocks")

#: Parsed specs and open cubes of this worker process, by (store, spec digest). A worker
#: serves one sweep at a time; a few entries cover tests that run sweeps back to back.
_CACHE: "OrderedDict[tuple[str, str], tuple[SweepSpec, storage.CubeWriter, list]]" = OrderedDict()
_CACHE_SIZE = 4


def _open(spec_json: str, store: str) -> tuple[SweepSpec, storage.CubeWriter, list]:
    """The parsed spec, an open writer and the reuse sources (issue 10.6) of a sweep, once per process."""
    key = (store, hashlib.sha256(spec_json.encode()).hexdigest())
    hit = _CACHE.get(key)
    if hit is None:
        spec = spec_from_json(spec_json)
        opts = spec.storage_options or None
        hit = (spec, storage.CubeWriter(store, opts), reuse.load_sources(store, opts))
        _CACHE[key] = hit
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    _CACHE.move_to_end(key)
    return hit


def warm_up(store: str) -> int:
    """Nothing but this module's imports (done by Ray when it loads the function) and the
    cube's spec: called once per worker while the driver still starts up. Returns the pid."""
    import os

    try:
        _open(storage.read_spec(store).to_json(), store)
    except Exception:  # a store the worker cannot read yet is the sweep's business, not ours
        pass
    return os.getpid()


def block_units(spec: SweepSpec, block) -> list[dict[str, Any]]:
    """The block's (alpha, beta, P) cells as the failure ledger records them."""
    return [{"alpha": float(spec.alpha[ia]), "beta": float(spec.beta[ib]), "P": float(spec.P[ip])}
            for ia, ib, ip in block.cells()]


def _node_id() -> str:
    try:
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    except Exception:  # not inside Ray
        return "local"


def compute_or_fail(spec: SweepSpec, writer: storage.CubeWriter, store: str, block,
                    copy: Any = None) -> tuple[Any, dict[str, Any]]:
    """Compute one block: ``(result, report)``; a science failure is recorded (status failed,
    ledger entry with the reason) and gives ``(None, report)``. ``copy`` (a
    :class:`storage.reuse.BlockReuse`) supplies the units copied from older cubes: only the
    rest is computed."""
    start = time.perf_counter()
    try:
        if copy is None:
            result = compute_block(spec, block)
        else:
            result = copy.merge(compute_block(spec, block, need=copy.need()))
    except Exception as err:  # the block failed (diverged, bad numerics): record it, let the others run
        message = f"{type(err).__name__}: {err}"
        writer.set_status(block, storage.FAILED)
        storage.record_failure(store, block.id, block_units(spec, block), message + "\n" + traceback.format_exc(limit=3),
                               spec.storage_options or None)
        log.warning("block %d failed: %s", block.id, message)
        return None, {"block": block.id, "status": "failed", "error": message, "seconds": time.perf_counter() - start}
    return result, {"block": block.id, "status": "done", "seconds": time.perf_counter() - start}


def run_blocks(spec_json: str, store: str, block_ids: list[int]) -> list[dict[str, Any]]:
    """Compute and write every block of ``block_ids``; one report dict per block.

    The batch's statuses are read in one round of requests and its start is recorded in one
    run record (``_meta/runs``) listing the blocks it is about to compute; blocks already
    done are skipped (a retried batch, or a block finished by an earlier driver). Each block
    is written as soon as it is computed: its data chunks in one round of concurrent
    requests, then its status (status last: a kill at any point leaves a block pending,
    never half-done). Gathering the writes of a whole batch was measured slower (zarr's
    thread hand-offs). An ``OSError`` while writing propagates: Ray retries the batch.
    """
    spec, writer, sources = _open(spec_json, store)
    opts = spec.storage_options or None
    blocks = [spec.block(b) for b in block_ids]
    before = writer.statuses(blocks)
    out = [{"block": blk.id, "status": "done", "seconds": 0.0, "skipped": True}
           for blk, st in zip(blocks, before) if (st == storage.DONE).all()]
    todo = [(blk, st) for blk, st in zip(blocks, before) if not (st == storage.DONE).all()]
    if not todo:
        return out
    copies = {blk.id: reuse.block_reuse(spec, blk, sources) for blk, _ in todo} if sources else {}
    storage.record_runs(store, [blk.id for blk, _ in todo], {"node": _node_id()}, opts,
                        per_block={b: {"reuse": {"sources": c.sources, "values": c.counts()}}
                                   for b, c in copies.items() if c is not None})
    for blk, st in todo:
        result, report = compute_or_fail(spec, writer, store, blk, copies.get(blk.id))
        if result is not None:
            writer.write(blk, result)
            if (st == storage.FAILED).any():
                storage.clear_failure(store, blk.id, opts)
        out.append(report)
    return out
