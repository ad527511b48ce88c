"""kill -9 of the driver halfway through a sweep, then `scalinglab resume`: the cube equals,
bit for bit, the cube of an uninterrupted run; no finished block ran twice; nothing is left
running; orphaned partial chunk files are never counted as data."""
from __future__ import annotations

import json
import os
import signal
import time

import numpy as np

import storage
from tests.conftest import write_spec
from tests.flows.helpers import (assert_cubes_identical, cli_env, done_units, marked_processes, new_token,
                                 reference_cube, run_cli, start_cli, wait_for)

GRID = ('alpha = [0.8, 1.0, 1.2]\nbeta = [0.3, 0.45, 0.6, 0.75]\nN = [96, 192]\nP = ["inf"]\n'
        't = {geomspace = [1, 30000], num = 16}')


def test_kill_minus_9_then_resume_is_bit_identical(tmp_path, api_url):
    store = tmp_path / "cube.zarr"
    spec = write_spec(tmp_path / "spec.toml", store=store, seeds=3, grid=GRID)
    from scalinglab.spec import load_spec

    sp = load_spec(spec)
    blocks = sp.blocks()
    assert len(blocks) >= 6, sp.chunks
    per_block = int(np.prod(blocks[0].shape))
    token = new_token()
    proc = start_cli("run", str(spec), "--no-progress", env=cli_env(api_url, SCALINGLAB_SWEEP_TOKEN=token),
                     log=tmp_path / "run.log")
    try:
        assert wait_for(lambda: done_units(store) >= per_block, timeout=240), (tmp_path / "run.log").read_text()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_at = storage.block_status(sp, str(store))
    done_before = {b for b, s in killed_at.items() if s == storage.DONE}
    assert 0 < len(done_before) < len(blocks), "the kill must land mid-sweep"
    # nothing of the killed sweep keeps running (Prefect server, Ray gcs/raylet/agents/workers)
    assert wait_for(lambda: not marked_processes(token), timeout=30), marked_processes(token)
    # resume: the stale lock of the dead driver is detected and recovered
    res = run_cli("resume", str(store), "--no-progress", "--json", env=cli_env(api_url))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "stale lock" in res.stderr
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["units_done"] == summary["units_total"] == sp.n_units
    # no finished block ran twice
    runs = storage.read_runs(str(store))
    for b in done_before:
        assert sum(r["block"] == b for r in runs) == 1, b
    assert {r["block"] for r in runs} == {b.id for b in blocks}
    # bit-identical to an uninterrupted run
    ref = tmp_path / "ref.zarr"
    reference_cube(spec, ref)
    assert_cubes_identical(store, ref)
    # verify reads every chunk: nothing corrupt, and no orphan *.partial file remains
    res = run_cli("status", str(store), "--verify", "--json")
    assert res.returncode == 0 and "reset to pending" not in res.stderr, res.stderr
    assert not list(store.rglob("*.partial"))
    # a second resume of a finished cube does nothing and says so
    res = run_cli("resume", str(store), "--no-progress", env=cli_env(api_url))
    assert res.returncode == 0 and "nothing to do" in res.stdout
    assert len(storage.read_runs(str(store))) == len(runs)
