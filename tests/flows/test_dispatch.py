"""Dispatch at scale (issue 11): a 500-block sweep through the real flow on real Ray equals
the numbers computed without Prefect or Ray; Prefect's bookkeeping is one task run per sweep
whatever the block count (20 and 500 blocks); the driver's memory does not grow with blocks
(10^3 against 10^4 blocks); the cube opens with plain xarray without a warning; the driver
publishes live progress.

The large sweep had 2,000 blocks (47 s of the suite on 2 cores; bench/dispatch.py measures the
dispatch rate at 2,024). Every property it shows is shown at 500 too: one task run (against
one per block), batches fewer than blocks, every number bit-identical, progress published
while it runs (the first publication comes with the first finished batch)."""
from __future__ import annotations

import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest

import storage
from tests.conftest import write_spec

#: One (alpha, beta) cell per block, trivially cheap work (PLRF asymptotic tier, one N):
#: the worst case for orchestration cost.
CHEAP = dict(model="plrf", methods=("theory",), seeds=1, params='theory = "asymptotic"')


def _cheap_spec(tmp_path, n_alpha: int, n_beta: int):
    from scalinglab.spec import load_spec

    grid = (f"alpha = {{linspace = [0.6, 2.0], num = {n_alpha}}}\nbeta = {{linspace = [0.2, 1.5], num = {n_beta}}}\n"
            "N = [64]\nP = [\"inf\"]\nt = [10, 100, 1000]")
    spec = load_spec(write_spec(tmp_path / "spec.toml", store=tmp_path / "cube.zarr", grid=grid, **CHEAP))
    assert spec.n_blocks == n_alpha * n_beta  # one cell per block
    storage.create_cube(spec, str(tmp_path / "cube.zarr"))
    return spec, str(tmp_path / "cube.zarr")


def _task_runs(flow_run_id: str) -> list:
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read():
        async with get_client() as client:
            return await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))

    return asyncio.run(read())


def test_many_blocks_one_task_run_exact_numbers(tmp_path, prefect_api, ray_local):
    from flows.sweep import run_sweep
    from scalinglab.compute import compute_block

    spec, store = _cheap_spec(tmp_path, 20, 25)
    seen: list[dict] = []
    stop = threading.Event()

    def watch() -> None:  # what `scalinglab status` reads from another terminal
        while not stop.is_set():
            p = storage.read_progress(store)
            if p:
                seen.append(p)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = run_sweep(store)
    finally:
        stop.set()
        watcher.join(5)
    print({k: v for k, v in result.items() if k != "failures"})
    assert result["done"] == 500 and result["failed"] == 0 and result["submitted"] == 500, result
    assert result["batches"] < 500  # cheap blocks travel in batches
    ds = storage.open_cube(store).load()
    assert (ds.status == storage.DONE).all()
    # every number equals the science layer's, computed here without Prefect or Ray
    names = ("theory_loss", "theory_F0", "theory_Kpp")
    expect = {name: np.full(ds[name].shape, np.nan) for name in names}
    for b in spec.blocks():
        r = compute_block(spec, b)
        for name in names:
            expect[name][b.slices] = r.arrays[name]
    for name in names:
        np.testing.assert_array_equal(ds[name].values, expect[name], err_msg=name)
    # Prefect's cost does not scale with blocks: one dispatch task run for 500 blocks
    runs = _task_runs(result["flow_run_id"])
    assert len(runs) == 1 and runs[0].name.startswith("dispatch-blocks"), [r.name for r in runs]
    # live progress was published while it ran (rate and ETA), and removed at the end
    live = [p for p in seen if 0 < p["blocks_done"] < 500]
    assert live and all(p["rate_blocks_per_s"] > 0 and p["eta_s"] is not None for p in live), seen[:3]
    assert storage.read_progress(store) is None
    # a finished cube opens with plain xarray, without a single warning
    import xarray as xr

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = xr.open_zarr(store)
        assert "theory_loss" in plain and "_meta" not in plain.variables
        xr.open_zarr(store, consolidated=False)


def test_a_small_sweep_also_costs_one_task_run(tmp_path, prefect_api, ray_local):
    from flows.sweep import run_sweep

    _, store = _cheap_spec(tmp_path, 4, 5)
    result = run_sweep(store)
    assert result["done"] == 20
    assert len(_task_runs(result["flow_run_id"])) == 1


def _noop_workers():
    """Workers that return at once: the driver's own bookkeeping, without compute or writes."""
    import ray

    @ray.remote(num_cpus=0)
    class Noop:
        def run(self, batch: list[int]) -> list[dict]:
            return [{"block": b, "status": "done", "seconds": 1e-3} for b in batch]

    return Noop.remote()


def _traced_peak(n_blocks: int, noop) -> int:
    from scalinglab.spec import parse_spec
    from tasks.dispatch import dispatch_blocks

    spec = parse_spec({"model": "plrf", "methods": ["theory"], "grid": {"alpha": {"linspace": [0.6, 2.0], "num": 100},
                       "beta": {"linspace": [0.2, 1.5], "num": n_blocks // 100}, "N": [64], "t": [10, 100]},
                       "params": {"theory": "asymptotic"}, "store": {"path": "never-written.zarr"}}, chunks=(1, 1, 1, 1))
    assert spec.n_blocks == n_blocks
    tracemalloc.start()
    try:
        res = dispatch_blocks(spec, "never-written.zarr", list(range(n_blocks)), workers=2,
                              submit=lambda ref, store, batch: noop.run.remote(batch))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res["done"] == n_blocks and res["batches"] < n_blocks
    return peak


def test_driver_memory_does_not_grow_with_blocks(ray_local):
    """Peak Python allocations of the dispatcher (the driver's whole share of a sweep) for
    10^4 blocks against 10^3, with workers that return at once. Holding one future or result
    per block (as the old per-block Prefect tasks did) costs >= 1 KB each; what may grow is the
    queue of block ids (tens of bytes each). Tolerance: 200 bytes a block. It fails if the
    dispatcher keeps per-block objects: keeping every result dict measured 338 bytes a block."""
    noop = _noop_workers()
    small = _traced_peak(1_000, noop)
    large = _traced_peak(10_000, noop)
    per_block = (large - small) / (10_000 - 1_000)
    assert per_block < 200, (small, large, per_block)
