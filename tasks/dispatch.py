"""Feed a sweep's blocks to Ray with bounded bookkeeping (one Prefect task per sweep, not per block).

Blocks stay the unit of storage, resume and retry; the unit of *dispatch* is a batch of
blocks run by one Ray remote call of :func:`tasks.blocks.run_blocks`. The driver keeps at
most ``2 x workers`` batches in flight (backpressure: its memory does not grow with the
grid), sizes batches from the measured seconds per block so that a call is worth about
:data:`TARGET_CALL_SECONDS` (cheap blocks travel in bulk, costly ones alone), and shrinks
them near the end so the last wave stays balanced. Ray retries a batch whose worker or
node died (``max_retries``) or whose store write raised ``OSError``; blocks already done
are skipped on retry. A batch lost past its retries is recorded as failed, with the reason,
and the sweep goes on.

The orchestration cost is O(batches + workers), measured in bench/dispatch.py and
bench/cluster.py; the Prefect side is one task run per sweep (flows/sweep.py).
"""
from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import storage

__all__ = ["dispatch_blocks", "Tally", "TARGET_CALL_SECONDS", "cluster_workers"]

#: Work per Ray call the batch size aims at: Ray's own cost per call is ~1 ms, so this keeps
#: it under 1% while a lost worker loses at most this much work.
TARGET_CALL_SECONDS = 0.5
#: Ray retries of one batch after its worker or node died or a store write raised OSError.
MAX_RETRIES = 3


@dataclass
class Tally:
    """Counts of a running dispatch; ``rate`` in blocks/s over the blocks actually computed."""

    total: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    block_seconds: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def pending(self) -> int:
        return self.total - self.finished

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    @property
    def rate(self) -> float:
        return self.finished / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        return self.pending / self.rate if self.rate > 0 and self.finished else None

    def as_dict(self) -> dict[str, Any]:
        eta = self.eta_seconds
        return {"blocks_total": self.total, "blocks_done": self.done, "blocks_failed": self.failed,
                "blocks_pending": self.pending, "blocks_skipped": self.skipped,
                "rate_blocks_per_s": round(self.rate, 3), "elapsed_s": round(self.elapsed, 3),
                "eta_s": None if eta is None else round(eta, 1)}


def cluster_workers() -> int:
    """Logical CPUs of the connected Ray cluster (each batch takes one)."""
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def _batch_size(per_block_s: float, remaining: int, workers: int) -> int:
    """Blocks per Ray call: ~TARGET_CALL_SECONDS of work, and no more than leaves every
    worker about two calls of what remains (load balance in the last wave)."""
    want = math.ceil(TARGET_CALL_SECONDS / max(per_block_s, 1e-6))
    balance = max(1, remaining // (2 * workers))
    return int(max(1, min(want, balance)))


def dispatch_blocks(spec, store: str, block_ids: list[int], *, workers: int | None = None,
                    max_in_flight: int | None = None, on_progress: Callable[[Tally], None] | None = None,
                    progress_every: float = 0.5, log: Callable[[str], None] | None = None,
                    stop: Callable[[], bool] | None = None,
                    submit: Callable[[Any, str, list[int]], Any] | None = None) -> dict[str, Any]:
    """Compute ``block_ids`` of the cube at ``store`` on the connected Ray cluster.

    ``stop()`` is polled at least once a second; when it turns true the batches in flight
    are cancelled (their blocks stay pending), and the summary says ``interrupted``.
    ``submit(spec_json_ref, store, batch) -> ObjectRef`` replaces the Ray remote call of
    :func:`tasks.blocks.run_blocks` (benchmarks simulate big clusters with it; see
    bench/cluster.py); ``workers`` must then be given.

    Returns the summary dict of :func:`flows.sweep.sweep_flow` (``submitted``, ``done``,
    ``failed``, ``wall_seconds``, ``block_seconds``, ``failures``, ``batches``, ...).
    """
    import ray

    from tasks.blocks import run_blocks

    workers = workers or cluster_workers()
    max_in_flight = max_in_flight or 2 * workers
    if submit is None:
        remote = ray.remote(run_blocks).options(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=[OSError])
        submit = remote.remote
    spec_json = spec.to_json()
    spec_ref = ray.put(spec_json)
    queue = deque(int(b) for b in block_ids)
    tally = Tally(total=len(queue))
    inflight: dict[Any, list[int]] = {}
    batches = 0
    measured_blocks = 0
    last_report = 0.0
    writer: storage.CubeWriter | None = None
    interrupted = False
    try:
        while queue or inflight:
            if stop and stop():  # the user interrupted: keep what is done, drop the rest now
                interrupted = True
                queue.clear()
                _cancel(inflight)
                inflight.clear()
                break
            while queue and len(inflight) < max_in_flight:
                if measured_blocks >= min(workers, tally.total):
                    size = _batch_size(tally.block_seconds / measured_blocks, len(queue), workers)
                else:  # one block a call until every worker has reported a measured block
                    size = 1
                batch = [queue.popleft() for _ in range(min(size, len(queue)))]
                inflight[submit(spec_ref, store, batch)] = batch
                batches += 1
            refs = list(inflight)
            ready, _ = ray.wait(refs, num_returns=1, timeout=1.0, fetch_local=False)
            if ready:  # collect everything finished by now in one go
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=False)
            for ref in ready:
                batch = inflight.pop(ref)
                try:
                    results = ray.get(ref)
                except Exception as err:  # lost past its retries (worker/node died, store unreachable)
                    writer = writer or storage.CubeWriter(store, spec.storage_options or None)
                    results = _record_lost_batch(spec, store, writer, batch, err)
                    if log:
                        log(f"batch of {len(batch)} blocks lost: {type(err).__name__}: {err}")
                for res in results:
                    if res.get("skipped"):
                        tally.skipped += 1
                    else:
                        tally.block_seconds += float(res.get("seconds", 0.0))
                        measured_blocks += 1
                    if res["status"] == "done":
                        tally.done += 1
                    else:
                        tally.failed += 1
                        tally.failures.append(res)
            now = time.perf_counter()
            if on_progress and (now - last_report >= progress_every or not (queue or inflight)):
                on_progress(tally)
                last_report = now
    except BaseException:  # the driver failed: stop the work in flight
        _cancel(inflight)
        raise
    return {"store": store, "submitted": tally.total, "done": tally.done, "failed": tally.failed,
            "skipped": tally.skipped, "wall_seconds": tally.elapsed, "block_seconds": tally.block_seconds,
            "failures": tally.failures, "batches": batches, "workers": workers, "interrupted": interrupted,
            "not_started": tally.total - tally.finished}


def _cancel(inflight: dict[Any, list[int]]) -> None:
    """Stop batches in flight (their blocks stay pending: status is written last)."""
    import ray

    for ref in inflight:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # already finished, or not a task (an actor call in benchmarks)
            pass


def _record_lost_batch(spec, store: str, writer: "storage.CubeWriter", batch: list[int], err: BaseException) -> list[dict[str, Any]]:
    """Mark the not-done blocks of a batch Ray gave up on as failed, with the reason."""
    from tasks.blocks import block_units

    message = f"task crashed: {type(err).__name__}: {err}".splitlines()[0][:500]
    out = []
    for b in batch:
        block = spec.block(b)
        if (writer.status(block) == storage.DONE).all():
            out.append({"block": b, "status": "done", "seconds": 0.0, "skipped": True})
            continue
        writer.set_status(block, storage.FAILED)
        storage.record_failure(store, b, block_units(spec, block), message, spec.storage_options or None)
        out.append({"block": b, "status": "failed", "error": message, "seconds": 0.0})
    return out
