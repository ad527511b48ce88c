"""The analyze flow on real cubes: a PLRF deterministic-equivalent cube swept through the
normal flow lands every cell in its phase; a cube made from known surfaces gives back its
exponents within the stated coverage; the analysis group is idempotent; the CLI query
commands and figures work."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import storage
from flows.cli import app
from tests.conftest import write_spec

DE_GRID = ('alpha = [0.75, 1.0]\nbeta = [0.25, 0.6, 2.0]\nN = {geomspace = [64, 131072], num = 45}\nP = ["inf"]\n'
           't = {geomspace = [1, 1e9], num = 120}')


@pytest.fixture(scope="module")
def de_cube(tmp_path_factory, prefect_api, ray_local):
    """PLRF `de` tier, N up to 1.3e5, t up to 1e9, through the sweep flow on local Ray."""
    from flows.sweep import run_sweep
    from scalinglab.spec import load_spec

    d = tmp_path_factory.mktemp("de")
    store = d / "cube.zarr"
    spec = load_spec(write_spec(d / "spec.toml", store=store, methods=("theory",), grid=DE_GRID,
                                params='theory = "de"'))
    storage.create_cube(spec, str(store))
    res = run_sweep(str(store), [b.id for b in spec.blocks()])
    assert res["done"] == len(spec.blocks()) == 6 and res["failed"] == 0
    return store


def test_phase_map_lands_each_cell_in_its_phase(de_cube, tmp_path):
    from flows.analyze import run_analysis
    from scalinglab.analysis import phases
    from scalinglab.analysis.cell import AnalysisSettings

    ds = storage.open_cube(str(de_cube))
    assert ds.theory_loss.attrs["source"] == "deterministic_equivalent" and not ds.theory_loss.isnull().any()  # old name in the spec
    summary = run_analysis(str(de_cube), out_dir=tmp_path / "fig", settings=AnalysisSettings(n_bootstrap_fit=5))
    assert summary["cells_analyzed"] == 6 and not summary["errors"]
    an = storage.open_analysis(str(de_cube)).load()
    for a in an.alpha.values:
        for b in an.beta.values:
            cell = an.sel(alpha=a, beta=b).isel(P=0)
            xi_pred, eta_pred = phases.exponents(a, b)
            assert phases.phase(a, b) in ("Ia", "II", "III")
            assert abs(float(cell.theory_xi) - xi_pred) <= 0.03, (a, b, float(cell.theory_xi), xi_pred)
            assert abs(float(cell.theory_eta) - eta_pred) <= 0.03, (a, b, float(cell.theory_eta), eta_pred)
            assert float(cell.theory_edge_hit) == 0
    # the phase map (and the other figures) are drawn
    names = {p.split("/")[-1] for p in summary["figures"]}
    assert {"curves.png", "frontier.png", "phase_map_xi.png", "phase_map_eta.png"} <= names
    assert all((tmp_path / "fig" / n).stat().st_size > 10_000 for n in names)
    # idempotent: a second analysis rewrites the same numbers
    first = an.drop_attrs()
    run_analysis(str(de_cube), settings=AnalysisSettings(n_bootstrap_fit=5), figures=False)
    import xarray as xr

    xr.testing.assert_identical(first, storage.open_analysis(str(de_cube)).load().drop_attrs())
    assert json.loads(an.attrs["settings"])["n_bootstrap_fit"] == 5


def test_cli_fit_frontier_plot_phase_map(de_cube, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["frontier", str(de_cube), "--sel", "alpha=1.0", "--sel", "beta=2.0", "--json"])
    assert res.exit_code == 0, res.stderr
    row = json.loads(res.stdout)[0]
    assert abs(row["xi"] - 0.5) < 0.03 and row["xi_lo"] <= row["xi"] <= row["xi_hi"]
    res = runner.invoke(app, ["fit", str(de_cube), "--sel", "alpha=0.75", "--sel", "beta=0.25", "--n-bootstrap", "5"])
    assert res.exit_code == 0 and "r_t [ ]" in res.stdout and "window range, not a CI" in " ".join(res.stdout.split()), res.stdout + res.stderr
    for kind in ("curves", "frontier", "surface"):
        out = tmp_path / f"{kind}.png"
        res = runner.invoke(app, ["plot", str(de_cube), "--kind", kind, "--out", str(out), "--sel", "alpha=1.0"])
        assert res.exit_code == 0 and out.stat().st_size > 10_000, res.stderr
    out = tmp_path / "map.png"
    res = runner.invoke(app, ["phase-map", str(de_cube), "--out", str(out)])
    assert res.exit_code == 0 and out.stat().st_size > 10_000, res.stderr
    res = runner.invoke(app, ["plot", str(de_cube), "--kind", "residuals", "--out", str(out)])
    assert res.exit_code == 2 and "both theory and simulation" in res.stderr


def test_known_surfaces_recovered_within_intervals(tmp_path, prefect_api, ray_local):
    """A cube whose simulation values are exact power laws in t, N and P times log-normal seed
    noise: the analyze flow's 90% bootstrap intervals (over seeds) cover the true t and N
    exponents in at least 75% of cells, the estimates are unbiased to 0.03, and the data-term
    surface over P recovers r_P."""
    from flows.analyze import run_analysis
    from scalinglab.analysis.cell import AnalysisSettings
    from scalinglab.compute import BlockResult
    from scalinglab.spec import load_spec

    store = tmp_path / "cube.zarr"
    spec = load_spec(write_spec(tmp_path / "spec.toml", store=store, model="bap", methods=("simulation",), seeds=8,
                                params="lr = 0.25",
                                grid='alpha = [0.7, 1.1]\nbeta = [0.4, 0.8, 1.2]\nN = [32, 64, 128, 256, 512, 1024]\n'
                                     'P = [100, 300, 1000, 3000]\nt = {geomspace = [10, 1e6], num = 25}'))
    storage.create_cube(spec, str(store))
    rng = np.random.default_rng(5)
    N, t = spec.N[:, None, None], spec.t[None, None, :].astype(float)
    truth, r_P = {}, 0.6
    for block in spec.blocks():
        (ia, ib, ip), = block.cells()
        r_t, r_N = 0.3 + 0.4 * spec.alpha[ia] - 0.1, 0.5 * spec.beta[ib] + 0.3
        truth[(ia, ib, ip)] = (r_t, r_N)
        clean = 0.01 + 2.0 * t ** (-r_t) + 5.0 * N ** (-r_N) + 3.0 * spec.P[ip] ** (-r_P)
        noisy = clean * np.exp(0.05 * rng.standard_normal((spec.N.size, spec.seeds, spec.t.size)))
        arrays = {"sim_loss": noisy[None, None, :, None], "sim_train_loss": noisy[None, None, :, None] * 0.5}
        storage.write_block(str(store), block, BlockResult(arrays=arrays, wall_time=np.ones(block.shape)))
    summary = run_analysis(str(store), settings=AnalysisSettings(n_bootstrap_fit=40, t_min=0), figures=False)
    assert summary["cells_analyzed"] == 24 and summary["data_surfaces"] == 6 and not summary["errors"]
    an = storage.open_analysis(str(store)).load()
    covered, errors = [], []
    for (ia, ib, ip), (r_t, r_N) in truth.items():
        cell = an.isel(alpha=ia, beta=ib, P=ip)
        for est, lo, hi, true in ((cell.sim_r_t, cell.sim_r_t_lo, cell.sim_r_t_hi, r_t),
                                  (cell.sim_r_N, cell.sim_r_N_lo, cell.sim_r_N_hi, r_N)):
            covered.append(float(lo) <= true <= float(hi))
            errors.append(float(est) - true)
    assert np.mean(covered) >= 0.75, np.mean(covered)
    assert abs(np.mean(errors)) < 0.03 and np.max(np.abs(errors)) < 0.15
    # the data term, fitted over P per (alpha, beta)
    rp = an.sim_data_r_P.values
    assert rp.shape == (2, 3) and np.all(np.abs(rp - r_P) < 0.1), rp
    assert np.mean((an.sim_data_r_P_lo.values <= r_P) & (r_P <= an.sim_data_r_P_hi.values)) >= 0.5
