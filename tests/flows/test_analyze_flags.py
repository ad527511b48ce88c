"""Flags respected (issue 10.4) and one computation, one number (10.8), on small cubes written
in-process (no Ray, no model compute): synthetic power-law curves, with injected theory flags and
non-finite simulation values.

How each test can fail: counting flags at t < t_min, fitting a flagged or NaN value (the fits
then see a 1e3-times-too-large loss or crash on NaN), or a figure/CLI that refits with its own
defaults (its ξ then differs from the stored one: 0.446 against 0.415 on the quickstart before).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import storage
from flows.cli import app
from tests.conftest import write_spec

GRID = ('alpha = [1.0]\nbeta = [0.5, 0.8]\nN = [32, 64, 128, 256]\nP = ["inf"]\n'
        't = {geomspace = [1, 100000], num = 26}')
K = 4


def _write(tmp_path, inject: bool):
    from scalinglab.compute import BlockResult
    from scalinglab.spec import load_spec

    store = tmp_path / "cube.zarr"
    # a deterministic tier: the synthetic theory is one curve per (N, t) (a paired tier would carry the seed axis)
    spec = load_spec(write_spec(tmp_path / "spec.toml", store=store, seeds=K, grid=GRID,
                                params='theory = "deterministic_equivalent"'))
    storage.create_cube(spec, str(store))
    rng = np.random.default_rng(1)
    N, t = spec.N[:, None], spec.t[None, :].astype(float)
    expected = {}
    for block in spec.blocks():
        (ia, ib, ip), = block.cells()
        clean = 0.01 + 2.0 * t ** -(0.4 + 0.2 * ib) + 5.0 * N ** -0.8  # (n_N, n_t)
        sim = clean[:, None, :] * (1 + 0.02 * rng.standard_normal((spec.N.size, K, spec.t.size)))
        theory, flag = clean.copy(), np.zeros(clean.shape, np.int8)
        if inject and ib == 0:
            flag[1, :8] = 1  # N=64, t < 30: three of them at t >= t_min = 10
            theory[1, :8] = 1e3  # garbage where flagged: a fit that used it would be far off
            sim[2, 1, 10:12] = np.nan  # N=128, two checkpoints, one seed
            used = spec.t >= 10
            expected[(ia, ib, ip)] = {"theory": int((flag.astype(bool) & used).sum()), "simulation": 2,
                                      "resid": int((flag.astype(bool) & used).sum()) + 2,
                                      "n": int(spec.N.size * used.sum())}
        if inject and ib == 1:
            flag[:3, :] = 1  # only N=256 left: too few values for any fit
            theory[:3, :] = np.nan
            expected[(ia, ib, ip)] = {"theory": int(3 * (spec.t >= 10).sum())}
        arrays = {"theory_loss": theory[None, None, :, None], "theory_flag": flag[None, None, :, None],
                  "sim_loss": sim[None, None, :, None]}
        storage.write_block(str(store), block, BlockResult(arrays=arrays, wall_time=np.ones(block.shape)))
    return spec, store, expected


def _analyse(spec, store):
    """The analyze flow's task and writer, in-process (the flow fans exactly these out over Ray)."""
    from scalinglab.analysis.cell import AnalysisSettings
    from storage.analysis import write_analysis
    from tasks.analyze import analyze_cells

    settings = AnalysisSettings(n_bootstrap_fit=0, n_bootstrap_frontier=20)
    cells = [(0, ib, 0) for ib in range(spec.beta.size)]
    items = analyze_cells.fn(str(store), cells, json.dumps(settings.to_dict()), 1.0)
    results = {tuple(i["cell"]): i["result"] for i in items}
    write_analysis(str(store), spec, results, settings.to_dict())
    return results


@pytest.fixture(scope="module")
def flagged(tmp_path_factory):
    spec, store, expected = _write(tmp_path_factory.mktemp("flags"), inject=True)
    return spec, store, expected, _analyse(spec, store)


def test_flagged_and_nan_values_are_excluded_and_counted(flagged):
    spec, store, expected, results = flagged
    exp, res = expected[(0, 0, 0)], results[(0, 0, 0)]
    assert res["theory"]["n_excluded"] == exp["theory"] == 3 and res["simulation"]["n_excluded"] == 2
    assert res["theory"]["n_values"] == exp["n"] == 4 * 21
    assert res["why"]["theory"]["excluded"] == "3 of 84 (N, t) values flagged or non-finite, excluded"
    assert res["residuals"]["resid_excluded"] == exp["resid"] == 5
    # the garbage behind the flags never reached the fits: the surface is the clean one
    assert res["theory"]["r_N"] == pytest.approx(0.8, abs=0.02) and res["theory"]["r_t"] == pytest.approx(0.4, abs=0.02)
    assert np.isfinite(res["simulation"]["xi"]) and res["residuals"]["resid_max_rel"] < 0.1
    an = storage.open_analysis(str(store)).load()
    assert float(an.theory_n_excluded.isel(alpha=0, beta=0, P=0)) == 3
    assert float(an.resid_excluded.isel(alpha=0, beta=0, P=0)) == 5


def test_a_cell_with_too_few_values_is_reported_not_crashed(flagged):
    spec, store, expected, results = flagged
    res = results[(0, 1, 0)]
    assert res["theory"]["n_excluded"] == expected[(0, 1, 0)]["theory"] == 63
    assert np.isnan(res["theory"]["r_t"]) and np.isnan(res["theory"]["xi"])
    assert "1 distinct N value(s) left" in res["why"]["theory"]["surface"]
    assert "frontier" in res["why"]["theory"]
    assert np.isfinite(res["simulation"]["xi"])  # the simulation of the same cell is analysed
    out = CliRunner().invoke(app, ["frontier", str(store), "--json"])
    assert out.exit_code == 0, out.stderr
    rows = json.loads(out.stdout)
    assert rows[1]["xi"] is None and "1 distinct N" in rows[1]["why"]["surface"]
    assert "note: cell alpha=1.0, beta=0.5, P=inf: 3 of 84 (N, t) values flagged or non-finite, excluded" in out.stderr


def test_implausible_fits_are_flagged_and_left_out():
    """Exponents/amplitudes outside the stated ranges, or an N axis with 2 values, are not results."""
    from scalinglab.analysis.cell import AnalysisSettings, analyze_cell

    t = np.geomspace(10, 1e5, 20)
    N2 = np.array([64.0, 128.0])
    th = 0.01 + t[None, :] ** -0.5 + 3.0 * N2[:, None] ** -1.2
    res = analyze_cell(N2, t, theory=th, settings=AnalysisSettings(n_bootstrap_fit=0))
    assert np.isnan(res["theory"]["r_N"]) and res["theory"]["surface_flag"] == 1
    assert "2 distinct N value(s)" in res["why"]["theory"]["surface"]
    N = np.array([16.0, 32.0, 64.0, 128.0])
    steep = 0.01 + t[None, :] ** -0.5 + 1e41 * N[:, None] ** -29.5  # r_N 29.5, a_N 1e41 (issue 10)
    res = analyze_cell(N, t, theory=steep, settings=AnalysisSettings(n_bootstrap_fit=0))
    assert np.isnan(res["theory"]["r_N"]) and np.isnan(res["theory"]["xi3"]) and res["theory"]["surface_flag"] == 1
    assert "outside the physical ranges" in res["why"]["theory"]["surface"]
    # the data-term surface over P is held to the same ranges
    from scalinglab.analysis.cell import analyze_data_surface

    P = np.array([100.0, 300.0, 1000.0, 3000.0])
    clean = 0.01 + t[None, None, :] ** -0.5 + 3.0 * N[:, None, None] ** -0.8
    ok = analyze_data_surface(N, P, t, clean + 3.0 * P[None, :, None] ** -0.6, settings=AnalysisSettings(n_bootstrap_fit=0))
    assert ok["data_flag"] == 0 and ok["r_P"] == pytest.approx(0.6, abs=0.02)
    bad = analyze_data_surface(N, P, t, clean + 1e41 * P[None, :, None] ** -15.0,
                               settings=AnalysisSettings(n_bootstrap_fit=0))
    assert bad["data_flag"] == 1 and np.isnan(bad["r_P"])


def test_one_cell_one_xi(tmp_path):
    """ξ of a cell from `frontier` (no analysis yet, and after), from `analyze`'s table, from the
    frontier figure (PNG metadata, `plot` and analyze's frontier.png) and from the analysis group:
    one number. Deterministic theory: its interval is the window range, and says so."""
    from PIL import Image

    import flows.analyze

    spec, store, _ = _write(tmp_path, inject=False)
    runner = CliRunner()
    sel = ["--sel", "beta=0.5"]
    before = runner.invoke(app, ["frontier", str(store), *sel, "--json"])
    assert before.exit_code == 0 and "computed now" in before.stderr, before.stderr
    xi_now = json.loads(before.stdout)[0]["xi"]

    def in_process(store_, *, ray_address=None, out_dir=None, settings=None, figures=True):
        from storage.analysis import write_analysis
        from tasks.analyze import analyze_cells

        items = analyze_cells.fn(store_, [(0, 0, 0), (0, 1, 0)], json.dumps(settings.to_dict()), 1.0)
        write_analysis(store_, spec, {tuple(i["cell"]): i["result"] for i in items}, settings.to_dict())
        return {"store": store_, "cells": 2, "cells_analyzed": 2, "data_surfaces": 0, "errors": [], "seconds": 0.0,
                "figures": flows.analyze.render_figures(store_, out_dir, cell=(0, 0, 0))}

    mp = pytest.MonkeyPatch()
    mp.setattr(flows.analyze, "run_analysis", in_process)
    res = runner.invoke(app, ["analyze", str(store), "--out-dir", str(tmp_path / "fig"), "--n-bootstrap", "0", "--json"])
    mp.undo()
    assert res.exit_code == 0, res.stderr
    info = json.loads(res.stdout)
    table = next(c for c in info["cells"] if c["beta"] == 0.5 and c["method"] == "theory")
    assert info["intervals"]["theory"] == "window-range" and info["intervals"]["simulation"] == "seed-bootstrap"
    an = storage.open_analysis(str(store)).load()
    stored = float(an.theory_xi.isel(alpha=0, beta=0, P=0))
    assert "window sensitivity" in an.theory_xi_lo.attrs["interval"]
    after = runner.invoke(app, ["frontier", str(store), *sel, "--json"])
    assert after.exit_code == 0 and "computed now" not in after.stderr
    row = json.loads(after.stdout)[0]
    out = tmp_path / "frontier.png"
    assert runner.invoke(app, ["plot", str(store), "--kind", "frontier", "--out", str(out), *sel]).exit_code == 0
    drawn = json.loads(Image.open(out).text["Description"])
    figure = json.loads(Image.open(tmp_path / "fig" / "frontier.png").text["Description"])
    assert xi_now == table["xi"] == row["xi"] == stored == drawn["xi"] == figure["xi"], (
        xi_now, table["xi"], row["xi"], stored, drawn["xi"], figure["xi"])
    assert (row["xi_lo"], row["xi_hi"]) == (drawn["xi_lo"], drawn["xi_hi"]) == (table["xi_lo"], table["xi_hi"])
    assert drawn["interval"] == "window-range" and row["interval"]["frontier"] == "window-range"
    assert row["C_lo"] == drawn["C_lo"] and row["C_hi"] == drawn["C_hi"]
    # `status` summarises the stored residuals and names their standard error
    st = runner.invoke(app, ["status", str(store)])
    assert "theory vs simulation (t >= t_min, SE: seed): |z| > 3 in" in st.stdout, st.stdout
