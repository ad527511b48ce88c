"""Utilisation of a simulated big cluster: can one driver keep 64 or 256 workers busy?

Ray is started on this machine with many logical CPUs, and the sweep's real dispatcher
(:func:`tasks.dispatch.dispatch_blocks`: batching, backpressure, ``ray.wait`` collection,
tallies) feeds 10^4 blocks to simulated workers whose blocks *sleep* 0.5–2 s (a fixed
pseudo-random duration per block id). The workers are slots of async Ray actors
(``max_concurrency`` slots each), because 256 real worker processes do not fit in this
machine's 2 cores and 24 GiB; each call is a real Ray actor task with a real ObjectRef, so
the driver pays what it pays on a cluster: submission, completion and bookkeeping per batch.
Nothing is written to any cube: the workload exists for this benchmark only.

utilisation = ideal wall / measured wall, ideal = sum of block durations / workers: the
baseline is measured in the same run (the durations the actors actually slept).

Prints JSON. Run: .venv/bin/python bench/cluster.py [--blocks 10000] [--workers 64 256]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

GOLDEN = 0.6180339887498949
SLOTS_PER_ACTOR = 64


def block_seconds(block_id: int, lo: float, hi: float) -> float:
    """A fixed duration in [lo, hi] per block (a low-discrepancy sequence: no RNG state)."""
    return lo + (hi - lo) * ((block_id * GOLDEN) % 1.0)


def _pool_class():
    import ray

    @ray.remote(num_cpus=0)
    class SleepingWorkers:
        """``SLOTS_PER_ACTOR`` simulated workers: each call sleeps its blocks' durations."""

        def __init__(self, lo: float, hi: float) -> None:
            self.lo, self.hi = lo, hi

        async def run(self, spec_json: str, store: str, batch: list[int]) -> list[dict]:
            import asyncio

            out = []
            for b in batch:
                d = block_seconds(b, self.lo, self.hi)
                await asyncio.sleep(d)
                out.append({"block": b, "status": "done", "seconds": d})
            return out

    return SleepingWorkers


def _spec(n_blocks: int, store: str):
    """A real spec with >= n_blocks one-cell blocks (only its shape matters here)."""
    from scalinglab.spec import parse_spec

    side = int(n_blocks ** 0.5) + 1
    return parse_spec({"model": "plrf", "methods": ["theory"], "seeds": 1,
                       "grid": {"alpha": {"linspace": [0.6, 2.0], "num": side}, "beta": {"linspace": [0.2, 1.5], "num": side},
                                "N": [64], "P": ["inf"], "t": [10, 100]},
                       "params": {"theory": "asymptotic"}, "store": {"path": store}}, chunks=(1, 1, 1, 1))


def measure(workers: int, n_blocks: int, lo: float, hi: float) -> dict:
    import ray

    from tasks.dispatch import dispatch_blocks

    ray.init(address="local", num_cpus=workers, include_dashboard=False, log_to_driver=False,
             object_store_memory=200 * 2**20)
    try:
        pool_cls = _pool_class()
        n_actors = max(1, -(-workers // SLOTS_PER_ACTOR))
        t0 = time.perf_counter()
        actors = [pool_cls.options(max_concurrency=SLOTS_PER_ACTOR).remote(lo, hi) for _ in range(n_actors)]
        ray.get([a.run.remote("", "", []) for a in actors])
        startup = time.perf_counter() - t0
        turn = iter(range(10**12))

        def submit(spec_ref, store, batch):
            return actors[next(turn) % n_actors].run.remote(spec_ref, store, batch)

        with tempfile.TemporaryDirectory() as tmp:
            spec = _spec(n_blocks, str(Path(tmp) / "unused.zarr"))
            ids = list(range(n_blocks))
            res = dispatch_blocks(spec, str(Path(tmp) / "unused.zarr"), ids, workers=workers, submit=submit)
        slept = sum(block_seconds(b, lo, hi) for b in ids)
        ideal = slept / workers
        return {"workers": workers, "blocks": n_blocks, "block_seconds": [lo, hi], "actor_startup_s": round(startup, 2),
                "wall_s": round(res["wall_seconds"], 2), "ideal_s": round(ideal, 2),
                "utilisation": round(ideal / res["wall_seconds"], 4), "batches": res["batches"],
                "done": res["done"], "failed": res["failed"],
                "dispatch_blocks_per_s": round(n_blocks / res["wall_seconds"], 1)}
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=10_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--min-seconds", type=float, default=0.5)
    ap.add_argument("--max-seconds", type=float, default=2.0)
    args = ap.parse_args()
    out = {"benchmark": "cluster utilisation (simulated workers)", "goal": ">= 0.90 at 64 and 256 workers",
           "runs": [measure(w, args.blocks, args.min_seconds, args.max_seconds) for w in args.workers]}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
