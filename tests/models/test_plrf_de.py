"""PLRF sampling-free tiers: the deterministic equivalent ("de") and the asymptotic terms.

Checks, in order: the O(log v) sums; the contour quadrature (self-checks, convergence, m(z)
against brute-force sums); the block Volterra integrator against the direct O(r^2) recursion;
``de`` against the exact tier averaged over K draws of W (with the Monte-Carlo SE); the floor
against many draws; closed-form exponents measured on ``de`` curves (time and size laws, and the
compute-optimal exponents of plrf.md §5 by Chinchilla approach 1); the asymptotic tier's layout.
"""
from __future__ import annotations

import numpy as np
import pytest

from scalinglab.analysis.phases import exponents, phase
from scalinglab.errors import DomainError, SpecError
from scalinglab.models import _plrf_de as de
from scalinglab.models import plrf
from scalinglab.models.base import Point


def _numpy_openblas():
    """(get, set) of the thread count of numpy's bundled OpenBLAS, or None if not found."""
    import ctypes
    import glob
    import os

    root = os.path.dirname(os.path.dirname(np.__file__))
    for path in glob.glob(os.path.join(root, "numpy.libs", "*openblas*.so*")):
        lib = ctypes.CDLL(path)
        for suffix in ("64_", "_64_", ""):
            get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
            put = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                return get, put
    return None


@pytest.fixture(scope="module", autouse=True)
def _one_blas_thread():
    """Pin numpy's OpenBLAS to one thread for this module, then restore it.

    The exact tier here is hundreds of small projections (v x N = 512 x 128 ... 4096 x 1024); with
    OpenBLAS threads oversubscribing the 2 shared cores they took 5x longer (measured 115 s vs
    23 s wall for this module and test_phases at load ~5).
    """
    fns = _numpy_openblas()
    if fns is None:
        yield
        return
    get, put = fns
    old = int(get())
    put(1)
    yield
    put(old)


def _approach1(N: np.ndarray, t: np.ndarray, loss: np.ndarray, B: int, C: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chinchilla approach 1: at each compute C = N t B, min over N of the loss.

    The loss at t = C/(N B) is read off each curve by linear interpolation of log L in log t;
    the minimum over the N grid is refined by a parabola through the three nearest points in
    (log N, log L). Returns log N*(C), log L*(C) (nan where N* sits at the edge of the grid).
    """
    lN, lt, lL = np.log(N), np.log(t.astype(np.float64)), np.log(loss)
    out_n, out_l = [], []
    for c in C:
        x = np.log(c / (N * B))
        L = np.array([np.interp(x[i], lt, lL[i], left=np.nan, right=np.nan) for i in range(N.size)])
        k = int(np.nanargmin(L))
        if k in (0, N.size - 1) or not np.all(np.isfinite(L[k - 1:k + 2])):
            out_n.append(np.nan)
            out_l.append(np.nan)
            continue
        A = np.polyfit(lN[k - 1:k + 2], L[k - 1:k + 2], 2)
        xm = -A[1] / (2 * A[0])
        out_n.append(xm)
        out_l.append(np.polyval(A, xm))
    return np.array(out_n), np.array(out_l)


# ----------------------------------------------------------------------------------------------
# Numerics
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("v", [50, 1000, 40000])
@pytest.mark.parametrize("s", [0.4, 1.0, 2.6])
def test_power_sum_against_brute_force(v, s):
    exact = float(np.sum(np.arange(1, v + 1, dtype=np.float64) ** -s))
    assert de.power_sum(s, v) == pytest.approx(exact, rel=1e-9)


@pytest.mark.parametrize("alpha", [0.3, 1.0])
def test_same_gamma_and_v_as_plrf(alpha):
    p = plrf.Params(v_ratio=7.3, lr_scale=0.4, batch=3)
    for N in (100, 2500):
        v, gamma, B = de._setup(alpha, 0.9, N, p)
        assert v == plrf.ambient_dim(N, p)
        assert B == 3
        assert gamma == pytest.approx(plrf.learning_rate(alpha, N, p), rel=1e-9)


def test_resonant_sums_against_brute_force():
    """The compressed j-sum of 1/(m - z j^(2 alpha)) near the spectrum, v = 40000: rel. error < 1e-7."""
    v = 40000
    j = np.arange(1, v + 1, dtype=np.float64)
    x, w = de._jnodes(v)
    for alpha in (0.3, 1.0, 2.0):
        for z, m in [(1e-4 * np.exp(0.6j), 0.3 - 0.2j), (1e-6 * np.exp(0.1j), 0.01 - 0.02j),
                     (0.3 * np.exp(0.05j), 0.9 - 0.01j)]:
            f = lambda y: 1.0 / (m - z * y ** (2 * alpha))  # noqa: E731
            exact = np.sum(f(j))
            assert abs(w @ f(x) - exact) < 1e-7 * abs(exact)


@pytest.mark.parametrize("alpha,beta", [(0.75, 0.25), (1.0, 0.6), (0.3, 0.8), (2.0, 1.5)])
def test_contour_self_checks(alpha, beta):
    """The contour reproduces the forcing mass and tr K^2 (1e-7), m(z) solves the full-sum equation (1e-7),
    and doubling the nodes changes the forcing by < 1e-5; the enclosed edge is below N^(-2 alpha) at v/N = 4."""
    p = plrf.Params(v_ratio=4)
    N = 1000
    v, gamma, B = de._setup(alpha, beta, N, p)
    s = de.de_spectrum(alpha, beta, N, v, gamma=gamma, B=B)
    assert s.forcing_mass == pytest.approx(s.total - s.F0, rel=1e-7)
    assert s.kernel_mass == pytest.approx(s.trK2, rel=1e-7)
    lam = np.arange(1, v + 1, dtype=np.float64) ** (-2 * alpha)
    resid = s.m + s.m / N * ((1.0 / (lam[None, :] * s.m[:, None] - s.z[:, None])) @ lam) - 1.0
    assert np.max(np.abs(resid)) < 1e-7
    s2 = de.de_spectrum(alpha, beta, N, v, gamma=gamma, B=B, n_nodes=2 * s.z.size)
    g = lambda sp, r: 1.0 - de._one_minus_g(sp.z, gamma, B)  # noqa: E731
    for r in (10, 10**4, 10**7):
        f1 = np.sum(s.a * g(s, r) ** r).imag
        f2 = np.sum(s2.a * g(s2, r) ** r).imag
        assert f1 == pytest.approx(f2, rel=1e-5, abs=1e-12 * s.total)
    assert de.kernel_norm_de(s, gamma, B) == pytest.approx(de.kernel_norm_de(s2, gamma, B), rel=1e-7)
    if alpha > 0.5:
        assert s.lam_min < N ** (-2 * alpha)


def test_block_integrator_against_direct_recursion():
    """The blocked solve of the Volterra equation vs P(r) = F(r) + sum_s K(r-1-s) P(s), r <= 2000."""
    alpha, beta, N = 1.0, 0.6, 256
    p = plrf.Params(v_ratio=4, batch=2, lr_scale=0.4)
    v, gamma, B = de._setup(alpha, beta, N, p)
    s = de.de_spectrum(alpha, beta, N, v, gamma=gamma, B=B)
    g = 1.0 - de._one_minus_g(s.z, gamma, B)
    R = 2001
    G = np.cumprod(np.vstack([np.ones_like(g)] + [g] * (R - 1)), axis=0)
    F = s.F0 + (G @ s.a).imag
    K = gamma**2 * B * (G @ s.b).imag
    P = np.empty(R)
    for r in range(R):
        P[r] = F[r] + (K[:r][::-1] @ P[:r] if r else 0.0)
    t = np.unique(np.geomspace(1, 2000, 40).astype(np.int64))
    L = de.de_loss(alpha, beta, [N], t, p)[0]
    assert np.max(np.abs(L / P[t] - 1)) < 2e-4


# ----------------------------------------------------------------------------------------------
# de against the exact tier (plrf.exact_loss averaged over draws of W)
# ----------------------------------------------------------------------------------------------

# (alpha, beta, N, K draws, batch, lr_scale, t_max). v_ratio = 4 (not the authors' 10) keeps the
# O(v N^2) projection of the exact tier affordable; the exact tier runs with rel_step=0.03,
# exact_until=64 (its blocked recursion; ~1e-4 from the default 0.005/512 on these curves).
DE_VS_EXACT = [
    (0.75, 0.25, 256, 32, 1, 0.5, 10**6),   # Ia
    (1.0, 0.6, 256, 32, 1, 0.5, 10**6),     # II
    (1.0, 2.0, 256, 32, 1, 0.5, 10**6),     # III
    (0.3, 0.8, 256, 32, 1, 0.5, 10**6),     # 2 alpha < 1 (IVa)
    (1.0, 0.6, 256, 16, 8, 0.1, 10**6),     # II, batch 8: the B(B+1) fourth-moment factor
    (1.0, 0.6, 1024, 8, 1, 0.5, 10**7),     # II, larger N
]


@pytest.mark.parametrize("alpha,beta,N,K,B,lr,t_max", DE_VS_EXACT)
def test_de_matches_exact_over_draws(alpha, beta, N, K, B, lr, t_max):
    """Along the whole curve: |de - mean_K(exact)| <= 2% of the mean + 3 SE (SE over the K draws).

    The per-draw spread of the loss is 5-18% where the floor dominates (plrf: the floor depends
    on how the top target directions project on W), so 3 SE adds 3-6% at K = 32 and up to ~10%
    at K = 8; the sharper test of the floor is the next one.
    """
    p = plrf.Params(v_ratio=4, batch=B, lr_scale=lr)
    t = np.unique(np.geomspace(1, t_max, 40).astype(np.int64))
    gamma = plrf.learning_rate(alpha, N, p)
    rng = np.random.default_rng(1000 + N + int(100 * alpha) + int(10 * beta) + B)
    ex = np.array([plrf.exact_loss(plrf.draw_problem(rng, alpha, beta, N, p), gamma, B, t, rel_step=0.03,
                                   exact_until=64) for _ in range(K)])
    mean = ex.mean(axis=0)
    se = ex.std(axis=0, ddof=1) / np.sqrt(K)
    loss = plrf.theory(Point(alpha, beta, np.inf, np.array([N]), t, p), tier="deterministic_equivalent").values["loss"][0]
    dev = np.abs(loss - mean)
    print(f"\n(alpha, beta, N, K, B)=({alpha}, {beta}, {N}, {K}, {B}): max |rel| {np.max(dev / mean):.4f}, "
          f"max |dev|/SE {np.max(dev / se):.2f}, max SE/mean {np.max(se / mean):.4f}")
    assert np.all(dev <= 0.02 * mean + 3.0 * se)


@pytest.mark.parametrize("alpha,beta", [(0.75, 0.25), (1.0, 2.0), (0.3, 0.8)])
def test_de_floor_matches_many_draws(alpha, beta):
    """The limit P(inf) = F0/(1-||K||) and ||K|| under the DE vs K = 160 draws at N = 128 (3 SE, ~1-2%)."""
    N, K = 128, 160
    p = plrf.Params(v_ratio=4)
    v, gamma, B = de._setup(alpha, beta, N, p)
    s = de.de_spectrum(alpha, beta, N, v, gamma=gamma, B=B)
    rng = np.random.default_rng(77)
    lim, kn = np.empty(K), np.empty(K)
    for k in range(K):
        pr = plrf.draw_problem(rng, alpha, beta, N, p)
        kn[k] = plrf.kernel_norm(pr.lam, gamma, B)
        lim[k] = pr.floor / (1.0 - kn[k])
    assert abs(de.loss_floor_de(s, gamma, B) - lim.mean()) <= 3.0 * lim.std(ddof=1) / np.sqrt(K)
    assert abs(de.kernel_norm_de(s, gamma, B) - kn.mean()) <= 3.0 * kn.std(ddof=1) / np.sqrt(K) + 1e-3


# ----------------------------------------------------------------------------------------------
# Exponents measured on de curves against closed forms
# ----------------------------------------------------------------------------------------------

def test_de_size_law_of_the_floor():
    """F0 ~ N^(-2 alpha + max(0, 1 - 2 beta)) (plrf.md §4), fitted over N = 1e3..1e5: within 0.03."""
    p = plrf.Params(v_ratio=10)
    N = np.geomspace(1e3, 1e5, 9)
    for alpha, beta in [(1.0, 1.5), (0.75, 0.25), (0.4, 1.0)]:
        F0 = [de.de_spectrum(alpha, beta, n, plrf.ambient_dim(n, p)).F0 for n in N]
        slope = np.polyfit(np.log(N), np.log(F0), 1)[0]
        assert slope == pytest.approx(-2 * alpha + max(0.0, 1 - 2 * beta), abs=0.03)


def test_de_time_law_in_pure_point_phase():
    """Phase Ia, N = 1e5: P(t) - P(inf) ~ t^(-(2 alpha + 2 beta - 1)/(2 alpha)) for t in [1e2, 1e5]: within 0.03."""
    alpha, beta, N = 0.75, 0.25, 100000
    p = plrf.Params(v_ratio=10)
    t = np.unique(np.geomspace(100, 1e5, 30).astype(np.int64))
    L = de.de_loss(alpha, beta, [N], np.append(t, 10**13), p)[0]
    slope = np.polyfit(np.log(t), np.log(L[:-1] - L[-1]), 1)[0]
    assert slope == pytest.approx(-(2 * alpha + 2 * beta - 1) / (2 * alpha), abs=0.03)


_N_GRID = np.unique(np.round(2 ** np.arange(6, 17.51, 0.25)))
_T_GRID = np.unique(np.geomspace(1, 1e11, 331).astype(np.int64))
_WINDOW = np.geomspace(1e7, 1e10, 16)  # compute window C = N t B (B = 1)


def _measured_exponents(alpha: float, beta: float) -> tuple[float, float]:
    p = plrf.Params(v_ratio=10, lr_scale=0.5)
    L = de.de_loss(alpha, beta, _N_GRID, _T_GRID, p)
    lN, lL = _approach1(_N_GRID, _T_GRID, L, 1, _WINDOW)
    assert np.all(np.isfinite(lN)), "N* left the N grid inside the window"
    lC = np.log(_WINDOW)
    return float(np.polyfit(lC, lN, 1)[0]), float(-np.polyfit(lC, lL, 1)[0])


@pytest.mark.parametrize("alpha,beta,name", [(0.75, 0.25, "Ia"), (1.0, 0.6, "II"), (1.0, 2.0, "III")])
def test_compute_optimal_exponents_from_de(alpha, beta, name):
    """Approach 1 on de curves, N = 64..185k, C in [1e7, 1e10]: (xi, eta) within 0.03 of plrf.md §5."""
    assert phase(alpha, beta) == name
    xi, eta = _measured_exponents(alpha, beta)
    xi0, eta0 = exponents(alpha, beta)
    print(f"\n{name} ({alpha}, {beta}): measured xi={xi:.4f} eta={eta:.4f}; table xi={xi0:.4f} eta={eta0:.4f}")
    assert xi == pytest.approx(xi0, abs=0.03)
    assert eta == pytest.approx(eta0, abs=0.03)


def test_compute_optimal_at_phase_II_III_boundary():
    """(0.7, 0.7): eta = 1 - 1/(4 alpha) = 0.643 (paper: 0.648 measured) within 0.02; xi = 0.5 within 0.02."""
    xi, eta = _measured_exponents(0.7, 0.7)
    print(f"\n(0.7, 0.7): measured xi={xi:.4f} eta={eta:.4f}")
    assert eta == pytest.approx(1 - 1 / (4 * 0.7), abs=0.02)
    assert xi == pytest.approx(0.5, abs=0.02)


# ----------------------------------------------------------------------------------------------
# Tier plumbing
# ----------------------------------------------------------------------------------------------

def test_asymptotic_tier_layout_and_sum():
    p = plrf.Params(theory="asymptotic")
    assert plrf.theory_variables(p) == ("loss", *de.ASYMPTOTIC_TERMS)
    t = np.array([0, 1, 10, 1000, 10**6])
    pt = Point(1.0, 2.0, np.inf, np.array([100.0, 1000.0]), t, p)
    c = plrf.theory(pt, tier="asymptotic")
    assert c.source == "asymptotic"
    assert set(c.values) == {"loss", *de.ASYMPTOTIC_TERMS}
    for v in c.values.values():
        assert v.shape == (2, t.size) and np.all(np.isfinite(v)) and np.all(v >= 0)
    total = sum(c.values[k] for k in de.ASYMPTOTIC_TERMS)
    np.testing.assert_allclose(c.values["loss"], total, rtol=1e-12)
    assert np.all(c.values["Fac"][:, 1:] > 0)          # 2 alpha > 1 and 2 beta > 1
    assert c.flags["loss"][:, 0].all()                 # t = 0 is not asymptotic
    # the initial loss at t = 0 equals the de tier's (sum_j lambda_j b_j^2)
    d = plrf.theory(pt, tier="deterministic_equivalent")
    np.testing.assert_allclose(c.values["loss"][:, 0], d.values["loss"][:, 0], rtol=1e-7)
    # F0 of the asymptotic tier is the de floor (same tau)
    s = de.de_spectrum(1.0, 2.0, 1000, plrf.ambient_dim(1000, p))
    assert c.values["F0"][1, 3] == pytest.approx(s.F0, rel=1e-12)
    # Phase Ic-like alpha <= 1/4: the noise term is set to 0 and flagged
    c2 = plrf.theory(Point(0.2, 1.0, np.inf, np.array([100.0]), t, p), tier="asymptotic")
    assert np.all(c2.values["Kpp"] == 0) and c2.flags["Kpp"].all()


def test_de_tier_layout_and_monotone():
    p = plrf.Params(theory="deterministic_equivalent", v_ratio=4)
    t = np.unique(np.geomspace(1, 1e8, 50).astype(np.int64))
    t = np.concatenate([[0], t])
    c = plrf.theory(Point(0.9, 0.45, np.inf, np.array([64.0, 512.0, 4096.0]), t, p))
    L = c.values["loss"]
    assert c.source == "deterministic_equivalent" and L.shape == (3, t.size)
    assert np.all(np.diff(L, axis=1) <= 1e-12 * L[:, :-1])   # expected SGD loss decreases (gamma small)
    assert np.all(np.diff(L[:, -1]) < 0)                     # and the floor falls with N


def test_errors():
    p = plrf.Params()
    with pytest.raises(DomainError, match="2\\(alpha\\+beta\\) > 1"):
        de.de_loss(0.3, 0.1, [100], np.array([1, 10]), p)
    with pytest.raises(SpecError, match="theory"):
        de.theory(Point(1.0, 0.5, np.inf, np.array([100.0]), np.array([1]), p), tier="exact")
    with pytest.raises(DomainError, match="lambda_max < 2"):
        de.de_loss(1.0, 0.5, [100], np.array([1, 10]), plrf.Params(lr_scale=1.9))


@pytest.mark.parametrize("alpha,beta", [(0.75, 0.25), (1.0, 0.6), (1.0, 2.0), (0.3, 0.8)])  # Ia, II, III, 2α < 1
def test_de_within_two_percent_of_exact_over_256_draws(alpha, beta):
    """The issue's 2% claim, with enough draws that the average's own SE (0.5-1.2%) is below it:
    |de / mean_256(exact) - 1| < 0.02 along the whole curve, t = 1..1e6, N = 256, v = 4N.

    Measured (seeds 5 and 11): max relative deviation 0.6-0.8% (Ia), 1.7-1.9% (II),
    1.9-2.0% (III), 0.4-1.0% (2α < 1); the II/III deviations are 2.4-3.9 SE, i.e. a real
    finite-N correction of the deterministic equivalent of about 2% at N = 256.
    """
    N, K = 256, 256
    p = plrf.Params(v_ratio=4)
    t = np.unique(np.geomspace(1, 1e6, 40).astype(np.int64))
    gamma = plrf.learning_rate(alpha, N, p)
    rng = np.random.default_rng(5)
    ex = np.array([plrf.exact_loss(plrf.draw_problem(rng, alpha, beta, N, p), gamma, 1, t, rel_step=0.03,
                                   exact_until=64) for _ in range(K)])
    mean = ex.mean(axis=0)
    assert np.max(ex.std(axis=0, ddof=1) / np.sqrt(K) / mean) < 0.012  # the test resolves 2%
    loss = plrf.theory(Point(alpha, beta, np.inf, np.array([N]), t, p), tier="deterministic_equivalent").values["loss"][0]
    assert np.max(np.abs(loss / mean - 1)) < 0.02
