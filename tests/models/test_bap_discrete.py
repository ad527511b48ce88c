"""BAP theory of the discrete GD the simulation runs (issue 10.9): tier ``dmft`` against simulation from t = 1.

The tier integrates the DMFT kernel against the step factor (1 + 2 lr s)^t on closed contours
(docs/theory/bap_discrete_time.md); the old gradient-flow tier is ``dmft_flow``.

Tolerance (stated once, used by every comparison below): for each cell, variable (test, train loss)
and checkpoint, z = (mean_K(sim) - theory) / (sd_K(sim) / sqrt K), the seed standard error from the
K seeds. Under "theory = E[sim]" each z is Student-t with K - 1 degrees of freedom; the check passes
when max |z| over all n comparisons stays below the two-sided Bonferroni quantile
t_{K-1}(1 - 0.01/(2n)) (family-wise false-alarm rate <= 1 %; conservative, since the z of one cell
are correlated across t). The seeds are fixed, so the test is deterministic. The same check applied to
the gradient-flow theory, or to the discrete theory times 1.1, must fail, and the test asserts that.
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from scalinglab.models import bap, get_model
from scalinglab.models.bap import discrete as Z
from scalinglab.models.bap import dmft as D
from scalinglab.models.base import Point
from scalinglab.spec import parse_spec

K = 32  # seeds per cell
M = 512  # features (>= 2 max(N, P) = 512)
T = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 50])  # t = 1..10 (circle contour) and two mapped-Talbot steps
#: (alpha, beta, N, P): model-limited (N < P), data-limited (P < N, and N = inf), P = inf; two (alpha, beta)
CELLS = {
    "a.625 N<P": (0.625, 0.125, 64, 256),
    "a.625 P<N": (0.625, 0.125, 256, 64),
    "a.625 P=inf": (0.625, 0.125, 128, math.inf),
    "a.625 N=inf": (0.625, 0.125, math.inf, 128),
    "a1 P<N": (1.0, 0.25, 256, 64),
    "a1 P=inf": (1.0, 0.25, 128, math.inf),
}


def _point(alpha, beta, N, P, t=T, **params) -> Point:
    """The cell as a spec would run it: lr (and anything else unset) resolved from the cell's grid."""
    p = bap.resolve_params(bap.Params(M=M, **params), alpha=np.array([alpha]), beta=np.array([beta]),
                           N=np.array([float(N)]), P=np.array([float(P)]), t=np.asarray(t))
    pt = Point(alpha, beta, float(P), np.array([float(N)]), np.asarray(t), p)
    bap.check_domain(alpha, beta, pt.N, pt.P, pt.t, p)
    return pt


def _rngs(key: int) -> list[list[np.random.Generator]]:
    return [[np.random.default_rng(s) for s in np.random.SeedSequence([2026, 109, key]).spawn(K)]]


@pytest.fixture(scope="module")
def runs() -> dict:
    """Per cell: the point, the simulation's seed mean and standard error, the dmft and dmft_flow theories."""
    out = {}
    for key, (name, (a, b, N, P)) in enumerate(CELLS.items()):
        pt = _point(a, b, N, P)
        sim = bap.simulate(pt, _rngs(key))
        names = ["loss"] + (["train_loss"] if math.isfinite(P) else [])
        th, fl = bap.theory(pt), bap.theory(pt, tier="dmft_flow")
        assert th.source == "dmft" and fl.source == "dmft_flow"
        out[name] = {
            "pt": pt,
            "mean": {v: sim.values[v][0].mean(0) for v in names},
            "se": {v: sim.values[v][0].std(0, ddof=1) / math.sqrt(K) for v in names},
            "dmft": {v: th.values[v][0] for v in names},
            "flag": {v: th.flags[v][0] for v in names},
            "flow": {v: fl.values[v][0] for v in names},
        }
    return out


def _z(runs: dict, theory: str, scale: float = 1.0) -> dict[tuple[str, str], np.ndarray]:
    return {(c, v): (r["mean"][v] - scale * r[theory][v]) / r["se"][v] for c, r in runs.items() for v in r["mean"]}


def _threshold(n: int) -> float:
    """Two-sided Bonferroni quantile of Student-t with K - 1 dof at family-wise level 1 %."""
    return float(stats.t.ppf(1.0 - 0.01 / (2 * n), K - 1))


def test_discrete_dmft_matches_simulation_from_t1(runs) -> None:
    """dmft vs the mean of K = 32 discrete-GD seeds at t = 1..10, 20, 50 in six cells: max |z| < t-quantile.

    Measured (this seed set): max |z| 2.2 over 120 comparisons against a threshold of 4.5. The DMFT is a
    deterministic equivalent: at t = 1 it drops the O(lr^2 lambda^3/N, /P) non-trace terms of E[L(1)]
    (test_t1_equals_the_trace_part_of_the_exact_mean), 0.2-0.8 % here, below the seeds' resolution.
    """
    z = _z(runs, "dmft")
    n = sum(x.size for x in z.values())
    thr = _threshold(n)
    for r in runs.values():
        for v in r["flag"]:
            assert not r["flag"][v].any()
    worst = max(z, key=lambda k: np.abs(z[k]).max())
    assert np.abs(z[worst]).max() < thr, (worst, z[worst], thr)


def test_the_check_fails_for_the_flow_theory_and_for_a_10pct_error(runs) -> None:
    """The same check must be able to fail: the gradient-flow tier (dmft_flow) fails it in every cell (at
    t = 1 it is 8-25 seed SEs away), and the discrete theory scaled by 1.1 fails it too."""
    thr = _threshold(sum(x.size for x in _z(runs, "dmft").values()))
    zf = _z(runs, "flow")
    for cell in runs:
        assert max(np.abs(zf[(cell, v)]).max() for v in runs[cell]["mean"]) > thr, cell
    z10 = _z(runs, "dmft", scale=1.1)
    assert max(np.abs(x).max() for x in z10.values()) > thr
    # and the flow's misfit is a small-t effect: by t = 50 it is within the band in most cells
    late = [np.abs(zf[k][-1]) < thr for k in zf]
    assert sum(late) >= len(late) // 2


def test_t1_equals_the_trace_part_of_the_exact_mean() -> None:
    r"""At t = 1 the loss is quadratic in K, so E[L(1)] has a closed form (Gaussian A, Psi):

    E L(1) = L0 - 4 lr sum lam^2 w^2 + 4 lr^2 [(1 + f/P) sum lam^2 w^2 y + tr X/P * L0],
    y = lam (1 + f/N) + tr Lam/N, tr X = (1 + f/N) sum lam^2 + (tr Lam)^2/N,

    with f = 1. The deterministic equivalent keeps the trace terms only (f = 0); the discrete dmft
    reproduces that to 1e-12 (the step factor is right: the flow differs at O(1)), and the f = 1 terms
    it drops are < 1 % here (bap_discrete_time.md §5).
    """
    lam, ws = D.spectrum(0.625, 0.125, M)
    w2, trL = ws**2, float(lam.sum())
    L0 = float(np.sum(lam * w2))
    for lr in (0.2, 0.35):
        for N, P in ((64, 256), (256, 64), (128, math.inf), (math.inf, 128), (100, 100)):
            iN, iP = (0.0 if math.isinf(N) else 1.0 / N), (0.0 if math.isinf(P) else 1.0 / P)

            def mean_L1(f: float) -> float:
                y = lam * (1 + f * iN) + trL * iN
                trX = (1 + f * iN) * np.sum(lam**2) + trL**2 * iN
                return float(L0 - 4 * lr * np.sum(lam**2 * w2)
                             + 4 * lr**2 * ((1 + f * iP) * np.sum(lam**2 * w2 * y) + trX * iP * L0))

            got = Z.discrete_losses(lam, ws, N, P, np.array([1]), lr)["loss"][0]
            assert got == pytest.approx(mean_L1(0.0), rel=1e-12)
            assert abs(got / mean_L1(1.0) - 1) < 0.01
            flow = D.dmft_losses(lam, ws, N, P, np.array([2 * lr]))["loss"][0]
            assert abs(flow / got - 1) > 0.02


@pytest.mark.parametrize("lr", [0.2, 0.45, 0.7])
def test_contours_exact_at_N_P_inf(lr: float) -> None:
    """N = P = inf through the contour code (kappa = s) equals sum lam w^2 (1 - 2 lr lam)^(2t): the circle to
    1e-13 at t <= 30, the mapped Talbot to 1e-7 from t = 12 (z_min = 1 - 2 lr < 0 at lr = 0.7: there the
    chooser keeps the circle while |z_min|^t > 1e-12)."""
    lam, ws = D.spectrum(0.625, 0.125, M)
    t = np.array([1, 2, 5, 12, 30])
    exact = Z.exact_losses_infinite(lam, ws, lr, t)
    circ = Z.discrete_losses(lam, ws, math.inf, math.inf, t, lr, contour_kind="circle")
    np.testing.assert_allclose(circ["loss"], exact, rtol=1e-13)
    tal = Z.discrete_losses(lam, ws, math.inf, math.inf, t[3:], lr, contour_kind="talbot")
    if lr < 0.5:
        np.testing.assert_allclose(tal["loss"], exact[3:], rtol=1e-7)
    auto = Z.discrete_losses(lam, ws, math.inf, math.inf, t, lr)
    np.testing.assert_allclose(auto["loss"], exact, rtol=1e-7)
    assert not auto["flag_loss"].any()


def test_circle_and_mapped_talbot_agree_at_finite_N_P() -> None:
    """Both contours enclose the same spectrum: at t = 12..16 they agree to 1e-7 (test and train loss)."""
    lam, ws = D.spectrum(0.625, 0.125, M)
    t = np.arange(12, 17)
    for N, P in ((64, 256), (256, 64), (math.inf, 128), (128, math.inf)):
        a = Z.discrete_losses(lam, ws, N, P, t, 0.3, contour_kind="circle")
        b = Z.discrete_losses(lam, ws, N, P, t, 0.3, contour_kind="talbot")
        np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-7)
        if math.isfinite(P):
            np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-7)


def test_overshooting_modes_choose_the_circle_or_flag() -> None:
    """Modes with 2 lr e > 1 (z < 0) are outside the mapped Talbot contour: the circle is used while they
    weigh |z_min|^t > 1e-12 (up to t = 128), later values are flagged while the weight exceeds 1e-9."""
    assert Z.choose_contour(5, 0.5, 24) == "circle"
    assert Z.choose_contour(40, 0.5, 24) == "talbot"
    assert Z.choose_contour(40, -0.9, 24) == "circle"
    assert Z.choose_contour(500, -0.9, 24) == "talbot"
    lam, ws = D.spectrum(0.625, 0.125, M)
    r = Z.discrete_losses(lam, ws, math.inf, math.inf, np.array([100, 200, 1000]), 0.97)  # z_min = -0.94
    assert list(r["contour"]) == ["circle", "talbot", "talbot"]
    assert list(r["flag_loss"]) == [False, True, False]  # 0.94^200 = 4e-6 > 1e-9; 0.94^1000 = 1e-27
    assert Z.top_edge(lam, math.inf, math.inf) == 1.0
    # finite N: the deterministic-equivalent edge lies above lam_1 (bulk shift ~ tr Lam/N)
    assert 1.0 < Z.top_edge(lam, 64, math.inf) < 1.0 + 3 * float(lam.sum()) / 64 + 1.0


def test_tier_names_aliases_and_unit_keys() -> None:
    """dmft (discrete, the default) and dmft_flow are selectable from a spec; limit still means late_time with a
    DeprecationWarning; the dmft unit key differs from the flow's and from the pre-10.9 dmft (gradient flow)."""
    model = get_model("bap")
    assert set(model.theory_tiers) == {"dmft", "dmft_flow", "late_time"}
    base = {"model": "bap", "methods": ["theory"], "grid": {"alpha": [0.75], "beta": [0.5], "N": [16], "P": [64],
                                                             "t": [1, 10]}, "store": {"path": "x.zarr"}}
    keys = {}
    for tier in ("dmft", "dmft_flow", "late_time"):
        spec = parse_spec({**base, "params": {"M": 256, "theory": tier}})
        assert model.tier(spec.params) == tier
        keys[tier] = int(spec.unit_keys("theory").ravel()[0])
    assert len(set(keys.values())) == 3
    spec = parse_spec({**base, "params": {"M": 256}})
    assert model.tier(spec.params) == "dmft" and spec.unit_key_recipe("theory")["params"]["dmft_time"] == "discrete"
    assert "dmft_time" not in spec.unit_key_recipe("simulation")["params"]
    assert not model.depends_on_checkpoints(spec.params, "theory")
    with pytest.warns(DeprecationWarning, match="late_time"):
        p = bap.Params(theory="limit")
    assert model.tier(p) == "late_time"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bap.Params(theory="dmft_flow")


def test_a_checkpoint_does_not_depend_on_the_others() -> None:
    """Each t has its own contour: the value at t is bit-identical whatever the other checkpoints."""
    pt_a = _point(0.625, 0.125, 64, 256, t=np.array([1, 3, 30]))
    pt_b = _point(0.625, 0.125, 64, 256, t=np.array([2, 3, 7, 30, 400]))
    pt_b = Point(pt_b.alpha, pt_b.beta, pt_b.P, pt_b.N, pt_b.t, pt_a.params)
    a, b = bap.theory(pt_a), bap.theory(pt_b)
    for v in ("loss", "train_loss"):
        assert a.values[v][0, 1] == b.values[v][0, 1] and a.values[v][0, 2] == b.values[v][0, 3]


def test_cost_model_prices_the_discrete_tier() -> None:
    """cost(dmft) exceeds the flow's, grows with the circle's nodes at small t, and sits in the measured range
    (one core, M = 512, N = 64, P = 256: ~0.75 s for t = 1..10, ~0.45 s for t = 101..110)."""
    small = Point(0.625, 0.125, 256.0, np.array([64.0]), np.arange(1, 11), bap.Params(M=512, lr=0.3))
    large = Point(0.625, 0.125, 256.0, np.array([64.0]), np.arange(101, 111), bap.Params(M=512, lr=0.3))
    for pt in (small, large):
        c, f = bap.cost(pt, "dmft"), bap.cost(pt, "dmft_flow")
        assert 0 < f < c and 0.1 < c < 3.0
    assert bap.cost(small, "dmft") > bap.cost(large, "dmft")
