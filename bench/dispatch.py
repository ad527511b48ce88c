"""Dispatch throughput in the worst case: one cell per block, trivially cheap work, 2 local CPUs.

Blocks are PLRF ``asymptotic`` theory cells with one N (about a millisecond of science
each), so almost all of a block's cost is orchestration and its writes to the cube.

Measured in one run:
- ``serial``: the same blocks run one after another in this process by the worker code,
  one block a call (:func:`tasks.blocks.run_blocks`, no Ray, no Prefect): the cost of a
  block on its own; W workers running blocks one at a time would reach W / that;
- ``dispatch``: :func:`tasks.dispatch.dispatch_blocks` on a local Ray with 2 CPUs,
  blocks/s beyond start-up (first submission to last result), and ratio = rate / (2 / floor);
- ``flow``: the same through the Prefect flow (``flows.sweep.run_sweep``, one task run);
- driver memory: peak resident set of this process while 10^3 and 10^4 blocks are
  dispatched to workers that return at once (the driver's side only: batching, in-flight
  window, tallies; goal: flat within 20%).

Prints JSON. Run: .venv/bin/python bench/dispatch.py [--blocks 2000] [--memory-blocks 1000 10000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
for key, value in {"SCALINGLAB_BLOCK_SECONDS": "0", "SCALINGLAB_BLOCK_BYTES": "0", "RAY_USAGE_STATS_ENABLED": "0",
                   "RAY_AUTH_MODE": "disabled", "PREFECT_LOGGING_LEVEL": "WARNING",
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "OMP_NUM_THREADS": "1",
                   "OPENBLAS_NUM_THREADS": "1"}.items():
    os.environ.setdefault(key, value)


def cheap_cube(tmp: Path, n_blocks: int, name: str):
    import storage
    from scalinglab.spec import parse_spec

    side_a = max(1, int(n_blocks ** 0.5))
    side_b = -(-n_blocks // side_a)
    store = str(tmp / f"{name}-{n_blocks}.zarr")
    spec = parse_spec({"model": "plrf", "methods": ["theory"], "seeds": 1,
                       "grid": {"alpha": {"linspace": [0.6, 2.0], "num": side_a},
                                "beta": {"linspace": [0.2, 1.5], "num": side_b},
                                "N": [64], "P": ["inf"], "t": [10, 100, 1000]},
                       "params": {"theory": "asymptotic"}, "store": {"path": store}}, chunks=(1, 1, 1, 1))
    storage.create_cube(spec, store)
    return spec, store


class PeakRSS:
    """Samples this process's resident set every 50 ms."""

    def __init__(self) -> None:
        import psutil

        self.proc, self.peak, self.stop = psutil.Process(), 0, threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.05)

    def __enter__(self) -> "PeakRSS":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()


def _noop_workers():
    """Workers that return at once (no compute, no writes): the driver's own memory and
    bookkeeping for 10^4 blocks in seconds, on a machine where the real blocks would share
    the driver's two cores."""
    import ray

    @ray.remote(num_cpus=0)
    class Noop:
        def run(self, batch: list[int]) -> list[dict]:
            return [{"block": b, "status": "done", "seconds": 1e-4} for b in batch]

    return Noop.remote()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=2000)
    ap.add_argument("--memory-blocks", type=int, nargs=2, default=[1000, 10000])
    ap.add_argument("--serial-blocks", type=int, default=300)
    args = ap.parse_args()
    import ray

    from tasks.blocks import run_blocks
    from tasks.dispatch import dispatch_blocks

    out: dict = {"benchmark": "dispatch throughput, worst case (one cheap cell per block), 2 local CPUs",
                 "goal": ">= 100 blocks/s beyond start-up; driver RSS flat within 20% from 10^3 to 10^4 blocks"}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        spec, store = cheap_cube(tmp, args.serial_blocks, "serial")
        sj = spec.to_json()
        run_blocks(sj, store, [0])  # imports and caches, as a warm worker has them
        t0 = time.perf_counter()
        for b in range(1, spec.n_blocks):  # one block a call: no batching to amortise anything
            run_blocks(sj, store, [b])
        floor = (time.perf_counter() - t0) / (spec.n_blocks - 1)
        out["serial"] = {"blocks": spec.n_blocks - 1, "seconds_per_block": round(floor, 5),
                         "best_rate_2_workers": round(2 / floor, 1)}

        t0 = time.perf_counter()
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
                 object_store_memory=200 * 2**20)
        out["ray_init_s"] = round(time.perf_counter() - t0, 2)
        try:
            spec, store = cheap_cube(tmp, args.blocks, "dispatch")
            res = dispatch_blocks(spec, store, list(range(spec.n_blocks)))
            rate = spec.n_blocks / res["wall_seconds"]
            out["dispatch"] = {"blocks": spec.n_blocks, "wall_s": round(res["wall_seconds"], 2),
                               "blocks_per_s": round(rate, 1), "batches": res["batches"],
                               "ratio_to_best": round(rate / (2 / floor), 3), "failed": res["failed"]}
            from prefect.testing.utilities import prefect_test_harness

            from flows.sweep import run_sweep

            with prefect_test_harness(server_startup_timeout=90):
                spec, store = cheap_cube(tmp, args.blocks, "flow")
                t0 = time.perf_counter()
                res = run_sweep(store)
                flow_wall = time.perf_counter() - t0
            out["flow"] = {"blocks": spec.n_blocks, "flow_wall_s": round(flow_wall, 2),
                           "dispatch_wall_s": round(res["wall_seconds"], 2),
                           "blocks_per_s_dispatch": round(spec.n_blocks / res["wall_seconds"], 1),
                           "blocks_per_s_flow": round(spec.n_blocks / flow_wall, 1)}
            mem = {}
            noop = _noop_workers()
            for n in args.memory_blocks:
                spec, store = cheap_cube(tmp, n, "memory")
                with PeakRSS() as peak:
                    res = dispatch_blocks(spec, store, list(range(spec.n_blocks)), workers=2,
                                          submit=lambda ref, st, batch: noop.run.remote(batch))
                mem[str(spec.n_blocks)] = {"peak_rss_mib": round(peak.peak / 2**20, 1),
                                           "blocks_per_s": round(spec.n_blocks / res["wall_seconds"], 1)}
            lo, hi = (mem[k]["peak_rss_mib"] for k in mem)
            out["driver_memory"] = {**mem, "ratio_large_to_small": round(hi / lo, 3)}
        finally:
            ray.shutdown()
        print(json.dumps(out, indent=2), flush=True)  # before removing the cubes (many files)


if __name__ == "__main__":
    main()
