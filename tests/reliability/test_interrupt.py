"""A running sweep seen from another terminal (`status`: done/failed/pending, rate, ETA), then
stopped with SIGINT: one line saying what is done and how to go on, exit 130, nothing lost;
`resume` finishes it with the numbers of an uninterrupted run."""
from __future__ import annotations

import json
import signal
import time

import storage
from tests.conftest import write_spec
from tests.flows.helpers import (assert_cubes_identical, cli_env, done_units, reference_cube, run_cli, start_cli,
                                 wait_for)

GRID = 'alpha = [0.8, 1.0, 1.2]\nbeta = [0.3, 0.5, 0.7]\nN = [32, 64]\nP = ["inf"]\nt = {geomspace = [1, 5000], num = 10}'


def test_status_while_running_then_sigint_then_resume(tmp_path, api_url):
    store = tmp_path / "cube.zarr"
    spec = write_spec(tmp_path / "spec.toml", store=store, seeds=2, grid=GRID)
    from scalinglab.spec import load_spec

    sp = load_spec(spec)
    assert sp.n_blocks == 9
    # the last block sleeps 30 s, so the sweep is still running when we look and interrupt
    proc = start_cli("run", str(spec), "--no-progress",
                     env=cli_env(api_url, SCALINGLAB_INJECT_FAULT=f"{sp.n_blocks - 1}:sleep"), log=tmp_path / "run.log")
    try:
        assert wait_for(lambda: done_units(store) >= 3 * sp.N.size and storage.read_progress(str(store)), 240, 0.1), \
            (tmp_path / "run.log").read_text()
        time.sleep(2.5)  # one publication period with blocks done: a rate and an ETA
        res = run_cli("status", str(store), "--json", env=cli_env(api_url))
        info = json.loads(res.stdout)
        running = info["running"]
        assert running["pid"] == proc.pid and running["blocks_total"] == sp.n_blocks
        assert running["rate_blocks_per_s"] > 0 and running["eta_s"] is not None
        assert 0 < info["blocks_done"] < sp.n_blocks and info["blocks_pending"] > 0
        res = run_cli("status", str(store), env=cli_env(api_url))
        assert f"running (pid {proc.pid}" in res.stdout and "blocks/s" in res.stdout and "ETA" in res.stdout
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "run.log").read_text()
    lines = [line for line in log.splitlines() if line.strip()]
    assert rc == 130, log
    assert "Traceback" not in log and "Crash detected" not in log, log
    assert lines[-1].startswith("interrupted; ") and f"scalinglab resume {store}" in lines[-1], log
    counts = storage.status_counts(sp, str(store))
    assert counts["blocks_done"] < sp.n_blocks and counts["blocks_failed"] == 0
    assert storage.read_progress(str(store)) is None  # a stopped sweep publishes no stale progress
    res = run_cli("resume", str(store), "--no-progress", "--json", env=cli_env(api_url))
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["units_done"] == sp.n_units
    ref = tmp_path / "ref.zarr"
    reference_cube(spec, ref)
    assert_cubes_identical(store, ref)
