"""The paper examples (examples/*.toml), each on a reduced grid through the real flow (sweep on
local Ray, then the analyze flow), and their measured exponents against the closed forms.

Tolerances are measured, not tuned: each check's tolerance is 3 times the exponent's fit-window
sensitivity (how far it moves when the fit keeps only the lower, upper or middle two thirds of
its window; ``scalinglab.report.frontier_window_spread`` / ``loglog_slope``), plus the
finite-size bias the model's theory notes document for these sizes (cited at each check).
Every docstring says by how much a 10% error in the closed form would miss.
"""
from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

import storage
from storage.analysis import read_cell
from scalinglab import report as rp
from tests.conftest import write_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _reduced(name: str, d: Path, grid: str, *, methods: tuple[str, ...] | None = None, seeds: int | None = None,
             params: dict | None = None) -> Path:
    """The example's spec with a smaller grid (its model, methods and params kept unless given)."""
    spec = tomllib.loads((EXAMPLES / f"{name}.toml").read_text())
    p = {**spec.get("params", {}), **(params or {})}
    text = "\n".join(f"{k} = {json.dumps(v)}" for k, v in p.items())
    return write_spec(d / f"{name}.toml", store=d / f"{name}.zarr", model=spec["model"],
                      methods=tuple(methods or spec["methods"]), seeds=seeds or spec.get("seeds", 1), grid=grid,
                      params=text)


def _sweep(path: Path, analyze: bool = True) -> str:
    from flows.analyze import run_analysis
    from flows.sweep import run_sweep
    from scalinglab.analysis.cell import AnalysisSettings
    from scalinglab.spec import load_spec

    spec = load_spec(path)
    storage.create_cube(spec, spec.store_path)
    res = run_sweep(spec.store_path, [b.id for b in spec.blocks()])
    assert res["failed"] == 0 and res["done"] == len(spec.blocks())
    if analyze:
        summary = run_analysis(spec.store_path, settings=AnalysisSettings(n_bootstrap_fit=5), figures=False)
        assert not summary["errors"], summary["errors"]
    return spec.store_path


def test_every_example_spec_loads():
    """Every example validates (model, domain, params) and names its store under results/."""
    from scalinglab.spec import load_spec

    names = sorted(p.stem for p in EXAMPLES.glob("*.toml"))
    assert {"quickstart", "plrf_phases", "plrf_sim", "bap_compute", "bap_gd", "bap_data", "bap_model_size",
            "lin_risk"} <= set(names)
    for n in names:
        spec = load_spec(EXAMPLES / f"{n}.toml")
        assert spec.store_path == f"results/{n}.zarr", (n, spec.store_path)


@pytest.fixture(scope="module")
def plrf_cube(tmp_path_factory, prefect_api, ray_local):
    d = tmp_path_factory.mktemp("plrf")
    return _sweep(_reduced("plrf_phases", d, 'alpha = [1.0]\nbeta = [0.35, 0.7, 1.5]\n'
                                               'N = {geomspace = [64, 100000], num = 12}\nP = ["inf"]\n'
                                               't = {geomspace = [1, 1e9], num = 80}'))


@pytest.mark.parametrize("ib,phase", [(0, "Ia"), (1, "II"), (2, "III")])
def test_plrf_phase_exponents(plrf_cube, ib, phase):
    """PLRF, deterministic equivalent, N to 1e5: one cell per proven phase, far from its boundaries.

    Tolerance: 3 x fit-window sensitivity + 0.013, the largest finite-size offset plrf.md §6 reports for
    N <= 1e5 away from boundaries (0.630 vs 0.643 at the II/III boundary). Measured here: the sensitivities
    are 0.001-0.005, so tol is ~0.015-0.03; a 10% error in the closed form (0.033-0.075 at these cells) fails.
    The analysis group's approach-1 value (what the report shows) must agree with the refit on its window.
    """
    from scalinglab.models.plrf import phases

    ds = storage.open_cube(plrf_cube)
    an = storage.open_analysis(plrf_cube).load()
    a, b = float(ds.alpha[0]), float(ds.beta[ib])
    assert phases.phase(a, b) == phase
    cell = read_cell(ds, 0, ib, 0)
    keep = cell["t"] > 0
    xi_w, eta_w, s_xi, s_eta = rp.frontier_window_spread(cell["N"], cell["t"][keep], cell["theory"][:, keep], 1.0,
                                                         (float(an.theory_C_lo[0, ib, 0]), float(an.theory_C_hi[0, ib, 0])))
    xi, eta = float(an.theory_xi[0, ib, 0]), float(an.theory_eta[0, ib, 0])
    assert abs(xi - xi_w) < 0.005 and abs(eta - eta_w) < 0.005  # same window; the stored fit's C grid differs slightly
    xi_p, eta_p = phases.exponents(a, b)
    for name, got, pred, s in (("xi", xi, xi_p, s_xi), ("eta", eta, eta_p, s_eta)):
        tol = 3 * s + 0.013
        assert abs(got - pred) <= tol, (phase, name, got, pred, tol)
        assert abs(got - 1.1 * pred) > tol, (phase, name, "a 10% error would pass", got, pred, tol)


def test_plrf_sim_theory_and_simulation_agree_per_phase(tmp_path, prefect_api, ray_local):
    """plrf_sim.toml on a reduced grid (N = 32..128, t <= 1000, its params: lr_scale, 4 replicas per seed's W):
    one point in each of Ib, IVa, Ia, II, III. The exact tier given each seed's W against SGD on that W, read
    from the analysis group (what the report shows): the paired z with the replica SE.

    Tolerances from 8 root seeds of exactly these cells (``compute_block``): the fraction of |z| > 3 pooled over
    the 5 cells was 0-0.036 (mean 0.013; Student-t with 24 dof expects 0.006), per cell at most 0.154; with the
    theory 10% high, pooled 0.80-0.88 and per cell >= 0.54. Allowed: pooled <= expected + 0.05, each cell <=
    expected + 0.2; the 10%-high theory must give pooled > 0.5.
    """
    from scalinglab.analysis.residuals import residual_map
    from scalinglab.models.plrf import phases

    store = _sweep(_reduced("plrf_sim", tmp_path, 'alpha = [0.35, 0.7]\nbeta = [0.3, 0.6, 0.8]\nN = [32, 64, 128]\n'
                                                  'P = ["inf"]\nt = {geomspace = [1, 1000], num = 20}'))
    ds = storage.open_cube(store)
    an = storage.open_analysis(store).load()
    cells = [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    assert [phases.phase(float(ds.alpha[i]), float(ds.beta[j])) for i, j in cells] == ["Ib", "IVa", "Ia", "II", "III"]
    assert an.attrs.get("settings") and "sim_loss_se" in ds
    frac = np.array([float(an.resid_frac_z3[i, j, 0]) for i, j in cells])
    expected = float(an.resid_frac_z3_expected[0, 0, 0])
    assert math.isclose(float(an.resid_dof[0, 0, 0]), 8 * 3)  # K (R - 1): paired, replica SE
    assert frac.mean() <= expected + 0.05 and np.all(frac <= expected + 0.2), (frac, expected)
    off = []
    for i, j in cells:
        c = read_cell(ds, i, j, 0)
        rm = residual_map(1.1 * c["theory"], c["sim"], t=c["t"], t_min=10, sim_se=c["sim_se"], sim_se_dof=c["sim_se_dof"])
        assert rm.kind == "paired+replicas"
        off.append(rm.fraction_above(3.0))
    assert np.mean(off) > 0.5, off


@pytest.fixture(scope="module")
def bap_cube(tmp_path_factory, prefect_api, ray_local):
    d = tmp_path_factory.mktemp("bap")
    return _sweep(_reduced("bap_compute", d, 'alpha = [0.625]\nbeta = [0.125]\nN = {geomspace = [16, 2048], num = 10}\n'
                                             'P = ["inf"]\nt = {geomspace = [1, 1e6], num = 40}'))


def test_bap_compute_optimal_rule(bap_cube):
    """BAP, DMFT at (a, b) = (1.5, 1.25), P = inf: N* ∝ C^(1/(1+b)) = C^0.444, L* ∝ C^-(a-1)/(1+b) = C^-0.222,
    t* ∝ C^(b/(1+b)) = C^0.556 (t* = C/N*), read from the analysis group.

    Tolerance: 3 x fit-window sensitivity + 0.008, the finite-size offset bap.md §3 reports for the full
    theory frontier at N <= 4096 (N* slope 0.436 vs 0.444). Measured: ξ 0.439, η 0.232 with tolerances ~0.02.
    A 10% error in ξ or t* (0.044, 0.056) fails; η = 0.222 is small, so its tolerance (~9% of it) resolves a
    20% error (0.044), not a 10% one: the check asserts what it can resolve.
    """
    ds = storage.open_cube(bap_cube)
    an = storage.open_analysis(bap_cube).load()
    cell = read_cell(ds, 0, 0, 0)
    keep = cell["t"] > 0
    _, _, s_xi, s_eta = rp.frontier_window_spread(cell["N"], cell["t"][keep], cell["theory"][:, keep], 1.0,
                                                  (float(an.theory_C_lo[0, 0, 0]), float(an.theory_C_hi[0, 0, 0])))
    cf = rp.closed_forms("bap", 0.625, 0.125)
    xi, eta = float(an.theory_xi[0, 0, 0]), float(an.theory_eta[0, 0, 0])
    for name, got, pred, s, err in (("xi", xi, cf["xi"][0], s_xi, 0.1), ("t*", 1 - xi, cf["t_star"][0], s_xi, 0.1),
                                    ("eta", eta, cf["eta"][0], s_eta, 0.2)):
        tol = 3 * s + 0.008
        assert abs(got - pred) <= tol, (name, got, pred, tol)
        assert abs(got - (1 + err) * pred) > tol, (name, f"a {err:.0%} error would pass", got, pred, tol)
    assert math.isclose(cf["xi"][0], 1 / 2.25) and math.isclose(cf["eta"][0], 0.5 / 2.25)


def test_bap_model_size_exponent_is_min_a_minus_1_b(tmp_path, prefect_api, ray_local):
    """BAP at (a, b) = (3, 1.5), where the paper's min(a-1, 2b) = 2 and ours min(a-1, b) = 1.5: the late-time
    loss against N, from the DMFT theory and from the closed-form GD simulation (4 seeds), has slope -1.5.

    Tolerance: 3 x fit-window sensitivity of the log-log slope + 0.05 (bap.md §3: simulated slope -1.53 at
    this point). Measured: theory -1.468 [-1.517, -1.420], tol 0.195. The paper's value is 0.53 away; a 20%
    error in ours (1.8) is outside the tolerance, a 10% one (1.65, 0.18 away) is not resolved at 5 N values.
    """
    store = _sweep(_reduced("bap_model_size", tmp_path, 'alpha = [0.75]\nbeta = [0.75]\nN = [16, 32, 64, 128, 256]\n'
                                                         'P = ["inf"]\nt = [1000000, 10000000]', seeds=4), analyze=False)
    ds = storage.open_cube(store)
    cell = read_cell(ds, 0, 0, 0)
    for source, late in (("theory", cell["theory"][:, -1]), ("simulation", cell["sim"][:, :, -1].mean(axis=1))):
        s = rp.loglog_slope(cell["N"], late)
        tol = 3 * s.spread + 0.05
        assert abs(-s.value - 1.5) <= tol, (source, s, tol)
        assert abs(-s.value - 2.0) > tol, (source, "the paper's min(a-1, 2b) is not excluded", s, tol)
        if source == "theory":  # the seed noise of 4 simulations widens its window too much to resolve 20%
            assert abs(-s.value - 1.8) > tol, (source, "a 20% error would pass", s, tol)


def test_bap_late_time_peak_at_N_equals_P(tmp_path, prefect_api, ray_local):
    """BAP, DMFT at (a, b) = (1.5, 1.25), P = 64: the late-time loss against N peaks at N = P (and only there),
    and the data bottleneck holds: at N = 4P the loss is above its P = inf value at the same N."""
    store = _sweep(_reduced("bap_data", tmp_path, 'alpha = [0.625]\nbeta = [0.125]\nN = [16, 32, 48, 64, 96, 128, 256]\n'
                                                   'P = [64, "inf"]\nt = [10000, 1000000]', methods=("theory",)),
                   analyze=False)
    ds = storage.open_cube(store)
    late = ds.theory_loss.isel(alpha=0, beta=0, t=-1).transpose("N", "P").values
    N = ds.N.values
    assert N[np.argmax(late[:, 0])] == 64, late[:, 0]
    assert late[3, 0] > 2 * max(late[2, 0], late[4, 0])  # a peak, not a plateau
    assert late[-1, 0] > 1.5 * late[-1, 1]  # N = 256 = 4P: data-limited


@pytest.fixture(scope="module")
def lin_cube(tmp_path_factory, prefect_api, ray_local):
    d = tmp_path_factory.mktemp("lin")
    return _sweep(_reduced("lin_risk", d, 'alpha = [1.0]\nbeta = [0.0]\nN = [16, 64, 256, 512]\nP = ["inf"]\n'
                                          't = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]',
                           ), analyze=False)


def test_lin_slopes(lin_cube):
    """LIN at a = 2 (isotropic prior): the approximation error falls as M^-(a-1) = M^-1, the risk at the largest
    M as N_eff^-(a-1)/a = N_eff^-0.5 (N_eff = t/ceil(log2 t)), and the variance stays flat in M beyond k*.

    Tolerance: 3 x fit-window sensitivity + 0.02 (lin.md §2: slopes -1.007 and -0.494 from the exact theory at
    M <= 1024; the N_eff slope is taken at M = 512, where the M-term is ~3% of the risk). Measured: -0.485
    [-0.492, -0.480] against N_eff, tol 0.038; a 10% error (0.1 in the M slope, 0.05 in the N_eff slope) fails.
    """
    ds = storage.open_cube(lin_cube)
    cf = rp.closed_forms("lin", 1.0, 0.0)
    # the exact tier is paired with the seeds (one sketch and w* per seed): the curve is the mean over them
    approx, risk, var = (ds[f"theory_{v}"].isel(alpha=0, beta=0, P=0).mean("seed").transpose("N", "t").values
                         for v in ("approx", "loss", "var"))
    N, t = ds.N.values.astype(float), ds.t.values.astype(float)
    sM = rp.loglog_slope(N, approx[:, -1])
    sN = rp.loglog_slope(rp.lin_effective_samples(t), risk[-1])
    for name, s, pred in (("M", sM, cf["r_M"][0]), ("N_eff", sN, cf["r_Neff"][0])):
        tol = 3 * s.spread + 0.02
        assert abs(-s.value - pred) <= tol, (name, s, pred, tol)
        assert abs(-s.value - 1.1 * pred) > tol, (name, "a 10% error would pass", s, pred, tol)
    # the variance is flat once M exceeds the k* = (N_eff γ)^(1/a) directions SGD resolves (below, it grows with M)
    kstar = (0.1 * rp.lin_effective_samples(t)[-1]) ** 0.5
    flat = var[N >= 2 * kstar, -1]
    assert flat.size >= 3 and flat.max() / flat.min() < 1.5, var[:, -1]
    assert var[0, -1] < var[-1, -1] / 1.5  # and it does grow below k*: the check can see a non-flat variance
