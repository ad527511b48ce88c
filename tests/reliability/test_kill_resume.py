"""SIGKILL of the driver at random points, then `scalinglab resume` (several trials): the cube
equals, bit for bit, the cube of an uninterrupted run; no finished block ran twice; no process
of the killed sweep is left; no orphaned partial chunk file is left or counted as data."""
from __future__ import annotations

import json
import os
import random
import signal
import time

import pytest

import storage
from tests.conftest import write_spec
from tests.flows.helpers import (assert_cubes_identical, cli_env, done_units, marked_processes,
                                 reference_cube, run_cli, start_cli, wait_for)

GRID = ('alpha = [0.8, 1.0, 1.2]\nbeta = [0.3, 0.45, 0.6, 0.75]\nN = [64, 128]\nP = ["inf"]\n'
        't = {geomspace = [1, 20000], num = 14}')
TRIALS = 3
_rng = random.Random(20261122)  # random kill points, reproducible in CI
KILL_POINTS = [(_rng.randint(1, 8), _rng.uniform(0.0, 1.5)) for _ in range(TRIALS)]
SLOW_LAST_BLOCK = "11:sleep"  # the killed run cannot finish before the kill, however fast the machine


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    store = d / "cube.zarr"
    spec = write_spec(d / "spec.toml", store=store, seeds=2, grid=GRID)
    reference_cube(spec, d / "ref.zarr")
    return d / "ref.zarr"


@pytest.mark.parametrize("after_blocks,extra_delay", KILL_POINTS)
def test_sigkill_then_resume_is_bit_identical(tmp_path, api_url, reference, after_blocks, extra_delay):
    store = tmp_path / "cube.zarr"
    spec = write_spec(tmp_path / "spec.toml", store=store, seeds=2, grid=GRID)
    from scalinglab.spec import load_spec

    sp = load_spec(spec)
    blocks = sp.blocks()
    assert len(blocks) == 12
    per_block = len(sp.N)
    proc = start_cli("run", str(spec), "--no-progress", env=cli_env(api_url, SCALINGLAB_INJECT_FAULT=SLOW_LAST_BLOCK),
                     log=tmp_path / "run.log")
    try:
        assert wait_for(lambda: done_units(store) >= after_blocks * per_block, timeout=240, step=0.05), \
            (tmp_path / "run.log").read_text()
        time.sleep(extra_delay)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    token = json.loads((store / "_meta" / "lock.json").read_text())["reaper_token"]  # the dead driver's lock stays
    killed_at = storage.block_status(sp, str(store))
    done_before = {b for b, s in killed_at.items() if s == storage.DONE}
    assert 0 < len(done_before) < len(blocks), f"the kill must land mid-sweep ({len(done_before)} done)"
    # nothing of the killed sweep keeps running (Prefect server, Ray gcs/raylet/agents/workers)
    assert wait_for(lambda: not marked_processes(token), timeout=30), marked_processes(token)
    res = run_cli("resume", str(store), "--no-progress", "--json", env=cli_env(api_url))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "stale lock" in res.stderr  # the dead driver's lock is detected and recovered
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["units_done"] == summary["units_total"] == sp.n_units
    runs = storage.read_runs(str(store))
    for b in done_before:  # no finished block ran twice
        assert sum(r["block"] == b for r in runs) == 1, b
    assert {r["block"] for r in runs} == {b.id for b in blocks}
    assert_cubes_identical(store, reference)
    res = run_cli("status", str(store), "--verify", "--json")
    assert res.returncode == 0 and "reset to pending" not in res.stderr, res.stderr
    assert not list(store.rglob("*.partial"))
    res = run_cli("resume", str(store), "--no-progress", env=cli_env(api_url))
    assert res.returncode == 0 and "nothing to do" in res.stdout
    assert len(storage.read_runs(str(store))) == len(runs)
