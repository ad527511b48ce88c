"""Reuse across sweeps (issue 10.6), through the real flow: ``--reuse OLD.zarr`` copies every unit
whose key is done in OLD and computes only the rest; the result equals a from-scratch run, bit for bit.

Counts come from the run ledger (``_meta/runs``): per block, how many values (unit x seed) were
copied and computed.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import storage
from storage import reuse
from tests.conftest import write_spec
from tests.flows.helpers import cli_env, run_cli

T = "t = {geomspace = [1, 1000], num = 10}"


def _grid(N: str, beta: str = "[0.4, 0.6]") -> str:
    return f'alpha = [1.0]\nbeta = {beta}\nN = {N}\nP = ["inf"]\n{T}'


def _run(path, *, sources=()):
    from flows.sweep import run_sweep
    from scalinglab.spec import load_spec

    spec = load_spec(path)
    storage.create_cube(spec, spec.store_path)
    if sources:
        reuse.record_sources(spec.store_path, [reuse.open_source(str(s)) for s in sources])
    res = run_sweep(spec.store_path, [b.id for b in spec.blocks()])
    assert res["failed"] == 0 and res["done"] == spec.n_blocks
    return spec


def _ledger_counts(store) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for e in storage.read_runs(str(store)):
        for kind, c in e.get("reuse", {}).get("values", {}).items():
            k = out.setdefault(kind, {"reused": 0, "computed": 0})
            k["reused"] += c["reused"]
            k["computed"] += c["computed"]
    return out


def _assert_same_cube(a, b) -> None:
    da, db = storage.open_cube(str(a)), storage.open_cube(str(b))
    names = [v for v in da.data_vars if v != "wall_time"]
    assert set(names) == {v for v in db.data_vars if v != "wall_time"}
    for v in names:
        assert np.array_equal(da[v].values, db[v].values, equal_nan=True), v
    assert not np.isnan(da.wall_time.values).any()


@pytest.fixture(scope="module")
def old_cube(tmp_path_factory, prefect_api, ray_local):
    d = tmp_path_factory.mktemp("reuse-old")
    spec = _run(write_spec(d / "old.toml", store=d / "old.zarr", seeds=2, grid=_grid("[16, 32]")))
    return d / "old.zarr", spec


def test_extending_by_one_N_and_one_seed_computes_only_the_new_units(tmp_path, old_cube):
    old, _ = old_cube
    grid = _grid("[16, 32, 64]")
    new = _run(write_spec(tmp_path / "new.toml", store=tmp_path / "new.zarr", seeds=3, grid=grid), sources=[old])
    assert new.theory_paired  # the exact PLRF tier: seeded like the simulation
    # 2 beta x 3 N x 3 seeds = 18 values per kind; the old cube holds 2 beta x 2 N x 2 seeds = 8 of them
    assert _ledger_counts(tmp_path / "new.zarr") == {"theory": {"reused": 8, "computed": 10},
                                                     "simulation": {"reused": 8, "computed": 10}}
    runs = storage.read_runs(str(tmp_path / "new.zarr"))
    assert all(e["reuse"]["sources"] == [{"path": str(old), "spec_hash": storage.read_spec(str(old)).hash}]
               for e in runs)
    _run(write_spec(tmp_path / "scratch.toml", store=tmp_path / "scratch.zarr", seeds=3, grid=grid))
    assert _ledger_counts(tmp_path / "scratch.zarr") == {}
    _assert_same_cube(tmp_path / "new.zarr", tmp_path / "scratch.zarr")


def test_a_different_unit_is_not_reused(tmp_path, old_cube):
    """Negative control: other params (lr_scale) make other keys: nothing is copied, the numbers differ."""
    old, _ = old_cube
    _run(write_spec(tmp_path / "other.toml", store=tmp_path / "other.zarr", seeds=2, grid=_grid("[16, 32]"),
                    params="lr_scale = 0.4"), sources=[old])
    assert _ledger_counts(tmp_path / "other.zarr") == {"theory": {"reused": 0, "computed": 8},
                                                       "simulation": {"reused": 0, "computed": 8}}
    a, b = storage.open_cube(str(old)), storage.open_cube(str(tmp_path / "other.zarr"))
    assert not np.array_equal(a.sim_loss.values, b.sim_loss.values)


def test_cli_plan_and_run_with_reuse(tmp_path, old_cube, api_url):
    old, _ = old_cube
    spec = write_spec(tmp_path / "cli.toml", store=tmp_path / "cli.zarr", seeds=2, grid=_grid("[16, 32]", "[0.4, 0.6, 0.8]"))
    res = run_cli("plan", str(spec), "--reuse", str(old), "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)["reuse"]
    assert info["simulation"] == {"reused": 8, "total": 12} and info["theory"] == {"reused": 8, "total": 12}
    res = run_cli("run", str(spec), "--reuse", str(old), "--no-progress", env=cli_env(api_url))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "reuse: 8 of 12 simulation values" in res.stderr
    assert _ledger_counts(tmp_path / "cli.zarr") == {"theory": {"reused": 8, "computed": 4},
                                                     "simulation": {"reused": 8, "computed": 4}}


@pytest.mark.parametrize("what, expect", [
    ("missing", "--reuse: store="),
    ("self", "another cube than the one this run writes"),
])
def test_cli_reuse_bad_source_is_one_line(tmp_path, what, expect):
    spec = write_spec(tmp_path / "bad.toml", store=tmp_path / "bad.zarr", seeds=2, grid=_grid("[16]"))
    src = tmp_path / "nothing.zarr" if what == "missing" else tmp_path / "bad.zarr"
    res = run_cli("plan", str(spec), "--reuse", str(src))
    assert res.returncode == 2 and expect in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "Traceback" not in res.stderr
