"""SIGKILL of the driver at random points, then `scalinglab resume` (several trials): the cube
equals, bit for bit, the cube of an uninterrupted run; no finished block ran twice; no process
of the killed sweep is left; no orphaned partial chunk file is left or counted as data.

The trials are chained on one store: `run` is killed at the first point, the `resume` that
recovers it is killed at the second, the next `resume` at the third, and a last `resume`
finishes. Each kill is checked as a trial of its own was (it lands mid-sweep while the driver
holds the store's lock; nothing of the killed sweep keeps running; the next driver detects and
recovers the dead driver's lock; no block finished before it is started again), and the finished cube
carries whatever any kill left behind into the bit-for-bit comparison. One chain costs one
driver start per kill instead of two, and the resumed drivers are killed too.
"""
from __future__ import annotations

import json
import os
import random
import signal
import time

import storage
from tests.conftest import write_spec
from tests.flows.helpers import (assert_cubes_identical, cli_env, done_units, marked_processes,
                                 reference_cube, run_cli, start_cli, wait_for)

GRID = ('alpha = [0.8, 1.0, 1.2]\nbeta = [0.3, 0.45, 0.6, 0.75]\nN = [64, 128]\nP = ["inf"]\n'
        't = {geomspace = [1, 20000], num = 14}')
TRIALS = 3
_rng = random.Random(20261122)  # random kill points, reproducible in CI
KILL_POINTS = sorted((_rng.randint(1, 8), _rng.uniform(0.0, 1.5)) for _ in range(TRIALS))
SLOW_LAST_BLOCK = "11:sleep"  # no killed driver can finish before its kill, however fast the machine


def test_sigkill_then_resume_is_bit_identical(tmp_path, api_url):
    store = tmp_path / "cube.zarr"
    spec = write_spec(tmp_path / "spec.toml", store=store, seeds=2, grid=GRID)
    from scalinglab.spec import load_spec

    sp = load_spec(spec)
    blocks = sp.blocks()
    assert len(blocks) == 12 and len(KILL_POINTS) == TRIALS
    per_block = len(sp.N)
    done_before: set[int] = set()
    kills: list[tuple[set[int], int]] = []  # per kill: the blocks finished then, and the ledger's length then
    for trial, (after_blocks, extra_delay) in enumerate(KILL_POINTS):
        first = trial == 0
        log = tmp_path / f"driver{trial}.log"
        proc = start_cli(*(("run", str(spec)) if first else ("resume", str(store))), "--no-progress",
                         env=cli_env(api_url, SCALINGLAB_INJECT_FAULT=SLOW_LAST_BLOCK), log=log)

        def killable() -> bool:  # this driver holds the sweep's lock, and enough blocks are done
            try:
                held = json.loads((store / "_meta" / "lock.json").read_text())
            except (OSError, ValueError):
                return False
            return (held.get("pid") == proc.pid and "reaper_token" in held
                    and done_units(store) >= after_blocks * per_block)

        try:
            assert wait_for(killable, timeout=240, step=0.05), log.read_text()
            time.sleep(extra_delay)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if not first:  # this resume found the previous dead driver's lock, and took it over
            assert "stale lock" in log.read_text(), log.read_text()
        token = json.loads((store / "_meta" / "lock.json").read_text())["reaper_token"]  # the dead driver's lock stays
        killed_at = storage.block_status(sp, str(store))
        done_now = {b for b, s in killed_at.items() if s == storage.DONE}
        assert done_before <= done_now, "a finished block lost its status"
        done_before = done_now
        assert 0 < len(done_before) < len(blocks), f"the kill must land mid-sweep ({len(done_before)} done)"
        # nothing of the killed sweep keeps running (Prefect server, Ray gcs/raylet/agents/workers)
        assert wait_for(lambda: not marked_processes(token), timeout=30), marked_processes(token)
        kills.append((done_now, len(storage.read_runs(str(store)))))
    res = run_cli("resume", str(store), "--no-progress", "--json", env=cli_env(api_url))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "stale lock" in res.stderr  # the dead driver's lock is detected and recovered
    summary = json.loads(res.stdout[res.stdout.index("{"):])
    assert summary["units_done"] == summary["units_total"] == sp.n_units
    runs = storage.read_runs(str(store))  # every recorded start of a block, oldest first
    for b in kills[0][0]:  # no block finished before the first kill ran twice
        assert sum(r["block"] == b for r in runs) == 1, b
    for k, (done_then, n_then) in enumerate(kills):  # nor did any driver after a kill start a block finished then
        # (a block started but not finished by a killed driver is legitimately started again)
        assert not done_then & {r["block"] for r in runs[n_then:]}, (k, done_then, runs[n_then:])
    assert {r["block"] for r in runs} == {b.id for b in blocks}
    reference_cube(spec, tmp_path / "ref.zarr")
    assert_cubes_identical(store, tmp_path / "ref.zarr")
    res = run_cli("status", str(store), "--verify", "--json")
    assert res.returncode == 0 and "reset to pending" not in res.stderr, res.stderr
    assert not list(store.rglob("*.partial"))
    res = run_cli("resume", str(store), "--no-progress", env=cli_env(api_url))
    assert res.returncode == 0 and "nothing to do" in res.stdout
    assert len(storage.read_runs(str(store))) == len(runs)
