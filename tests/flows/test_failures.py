"""A failing block is recorded with its reason while the others finish; `resume --failed`
re-runs only those; a second sweep on a store being written is refused."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import storage
from tests.conftest import write_spec
from tests.flows.helpers import cli_env, run_cli

GRID = 'alpha = [0.8, 1.0]\nbeta = [0.3, 0.5, 0.7]\nN = [16, 32]\nP = ["inf"]\nt = {geomspace = [1, 2000], num = 8}'


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_failed_blocks_are_recorded_and_rerun_alone(tmp_path, api_url):
    store = tmp_path / "cube.zarr"
    spec = write_spec(tmp_path / "spec.toml", store=store, seeds=2, grid=GRID)
    from scalinglab.spec import load_spec

    sp = load_spec(spec)
    n_blocks = len(sp.blocks())
    assert n_blocks >= 3
    # block 0 raises, block 1 diverges (NaN losses); the rest must finish
    env = cli_env(api_url, SCALINGLAB_INJECT_FAULT="0,1:nan")
    env2 = cli_env(api_url, SCALINGLAB_INJECT_FAULT="0:raise")
    res = run_cli("run", str(spec), "--no-progress", "--json", env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["blocks_failed"] == 2 and summary["blocks_done"] == n_blocks - 2
    assert {f["block"] for f in summary["failures"]} == {0, 1}
    assert all("DivergedError" in f["error"] and "not finite" in f["error"] for f in summary["failures"])
    # the human status names the cells and the reason
    res = run_cli("status", str(store), env=cli_env(api_url))
    assert res.returncode == 1 and "failed block 0" in res.stdout and "diverged" in res.stdout
    # a raising block: reason kept too
    res = run_cli("resume", str(store), "--failed", "--no-progress", "--json", env=env2)
    assert res.returncode == 1
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert [f["block"] for f in summary["failures"]] == [0] and "injected fault" in summary["failures"][0]["error"]
    runs_before = storage.read_runs(str(store))
    # now without faults: only the failed block runs, and the ledger is cleared
    res = run_cli("resume", str(store), "--failed", "--no-progress", "--json", env=cli_env(api_url))
    assert res.returncode == 0, res.stdout + res.stderr
    runs = storage.read_runs(str(store))
    assert [r["block"] for r in runs[len(runs_before):]] == [0]
    assert storage.read_failures(str(store)) == []
    ds = storage.open_cube(str(store))
    assert int((ds.status == storage.DONE).sum()) == sp.n_units
    assert not ds.sim_loss.isnull().any() and not ds.theory_loss.isnull().any()


def test_second_sweep_refused_and_stale_lock_recovered(tmp_path, api_url):
    """What is tested is the store's lock; both runs use the session's Prefect server (a run that
    starts its own server is covered by tests/flows/test_sweep.py)."""
    store = tmp_path / "cube.zarr"
    spec = write_spec(tmp_path / "spec.toml", store=store, seeds=1,
                      grid='alpha = [1.0]\nbeta = [0.4]\nN = [16]\nP = ["inf"]\nt = [1, 10, 100]')
    from scalinglab.spec import load_spec

    storage.create_cube(load_spec(spec), str(store))
    lock = storage.CubeLock(str(store)).acquire()  # a live sweep (this process) holds the store
    try:
        res = run_cli("run", str(spec), "--no-progress", env=cli_env(api_url))
        assert res.returncode == 2
        line = res.stderr.strip().splitlines()
        assert len(line) == 1 and f"held by pid {os.getpid()}" in line[0] and "scalinglab unlock" in line[0]
        assert storage.status_counts(load_spec(spec), str(store))["units_done"] == 0
    finally:
        lock.release()
    # a lock left by a killed driver (dead pid on this host) is detected and taken over
    (store / "_meta" / "lock.json").write_text(json.dumps({"host": os.uname().nodename, "pid": _dead_pid(), "token": "x",
                                                  "started": "earlier"}))
    res = run_cli("run", str(spec), "--no-progress", env=cli_env(api_url))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "recovered a stale lock" in res.stderr
    assert not (store / "_meta" / "lock.json").exists()


def test_run_refuses_a_different_spec_on_an_existing_cube(tmp_path):
    store = tmp_path / "cube.zarr"
    grid = 'alpha = [1.0]\nbeta = [0.4]\nN = [16]\nP = ["inf"]\nt = [1, 10, 100]'
    spec = write_spec(tmp_path / "a.toml", store=store, seeds=1, grid=grid)
    from scalinglab.spec import load_spec

    storage.create_cube(load_spec(spec), str(store))
    other = write_spec(tmp_path / "b.toml", store=store, seeds=1, grid=grid.replace("[16]", "[16, 32]"))
    from typer.testing import CliRunner

    from flows.cli import app

    res = CliRunner().invoke(app, ["run", str(other)])
    assert res.exit_code == 2
    assert "grid.N: [16] -> [16, 32]" in res.stderr and len(res.stderr.strip().splitlines()) == 1
