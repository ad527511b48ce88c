"""LIN (Lin et al. 2024, arXiv 2406.08466): exact recursion against SGD simulations, eigen against
ambient, scaling exponents measured from the recursion, the bridge tier, and bad inputs."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from scalinglab.errors import DomainError, SpecError
from scalinglab.models import lin
from scalinglab.models.base import Point

INF = float("inf")


def _rngs(n_N: int, seeds: int, base: int) -> list[list[np.random.Generator]]:
    return [[np.random.default_rng([base, i, s]) for s in range(seeds)] for i in range(n_N)]


def _paired_theory(alpha, beta, Ns, seeds, base, params, t):
    """Exact theory (one sketch) from the same generator each simulation seed uses: same w*, S."""
    out = np.empty((len(Ns), seeds, t.size))
    for i, N in enumerate(Ns):
        pt = Point(alpha, beta, INF, [N], t, params.model_copy(update={"sketches": 1}))
        for s in range(seeds):
            out[i, s] = lin.theory(pt, rngs=[np.random.default_rng([base, i, s])]).values["loss"][0]
    return out


def _slope(x, y) -> float:
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


# ------------------------------------------------------------------------------------------
# the recursion itself
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", ["step-decay", "constant"])
def test_phasewise_recursion_equals_step_by_step_loop(schedule):
    """Closed-form phases (secular eigen-decomposition) == the O(N t) loop of lin.md §6, rtol 1e-9,
    one run per horizon for step decay."""
    from scalinglab.models._lin_core import draw_setup, recursion, spectrum, step_sizes

    spec = spectrum(1.5, 1.5, 768)
    st = draw_setup(np.random.default_rng(3), 12, spec, prior=True)
    mu, c0, s2 = st.mu, st.c0_prior, 1.0 + st.approx_prior + spec.tail
    t = np.array([0, 1, 2, 3, 7, 64, 333, 2048])
    bias, var, unstable = recursion(mu, c0, s2, 0.1, schedule, t)
    assert not unstable
    for k, T in enumerate(t):
        cb, cv = c0.copy(), np.zeros_like(c0)
        for g in step_sizes(int(T), 0.1, schedule):
            diag = 1 - 2 * g * mu + 2 * g * g * mu * mu
            cb = diag * cb + g * g * mu * (mu @ cb)
            cv = diag * cv + g * g * mu * (mu @ cv) + g * g * s2 * mu
        np.testing.assert_allclose([bias[k], var[k]], [mu @ cb, mu @ cv], rtol=1e-9, atol=1e-15)


def test_step_decay_schedule_phases():
    """ceil(log2 T) phases of T/ceil(log2 T) steps, step lr/2^l; T = 10: L = 4, lengths 2,3,2,3."""
    np.testing.assert_array_equal(lin.phase_lengths(10), [2, 3, 2, 3])
    assert [lin.n_phases(T) for T in (1, 2, 3, 4, 5, 1024, 1025)] == [1, 1, 2, 2, 3, 10, 11]
    g = lin.step_sizes(10, 0.1, "step-decay")
    np.testing.assert_allclose(g, 0.1 * np.array([1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.125]))


def test_decomposition_loss_is_approx_plus_bias_plus_var():
    """Stored split: loss = approx + bias + var exactly; bias carries no noise (same for
    sigma^2 = 0 and 1); var is linear in the effective noise sigma^2 + approx."""
    t = np.array([0, 16, 256, 4096])
    out = {}
    for s2 in (0.0, 1.0):
        pt = Point(0.75, 0.25, INF, [32], t, lin.Params(sigma2=s2))
        out[s2] = lin.theory(pt, rngs=[np.random.default_rng(11)]).values
    v = out[1.0]
    np.testing.assert_allclose(v["loss"], v["approx"] + v["bias"] + v["var"], rtol=1e-13)
    np.testing.assert_allclose(out[0.0]["bias"], v["bias"], rtol=1e-12)
    A = v["approx"][0, 0]
    np.testing.assert_allclose(v["var"][0, 1:], out[0.0]["var"][0, 1:] * (1.0 + A) / A, rtol=1e-10)
    assert v["var"][0, 0] == 0.0 and np.all(v["var"][0, 1:] > 0)


# ------------------------------------------------------------------------------------------
# theory against simulation
# ------------------------------------------------------------------------------------------
def test_one_step_second_moment_is_the_gaussian_fourth_moment():
    """One SGD step from a fixed error e (C = e e^T, not diagonal) at a large step (gamma mu_1 = 0.8,
    where the 2 G C G term matters): the recursion's mu . c after 1 and 2 steps equals the Monte
    Carlo mean over K = 200000 Gaussian draws within 3 SE, and the SE resolves the halved
    2 G C G term (the non-Gaussian answer) by more than 10 SE."""
    from scalinglab.models._lin_core import recursion

    rng = np.random.default_rng(61)
    mu = np.array([1.0, 0.5, 0.2, 0.05])
    e0 = np.array([0.7, -0.4, 1.1, 0.3])
    gam, s2, K = 0.8, 0.3, 200_000
    bias, var, _ = recursion(mu, e0**2, s2, gam, "constant", np.array([1, 2]))
    # the same recursion with 2 gamma^2 mu^2 -> gamma^2 mu^2 (what dropping Gaussianity would give)
    c, wrong = e0**2, []
    for _ in range(2):
        c = (1 - 2 * gam * mu + gam**2 * mu**2) * c + gam**2 * mu * (mu @ c) + gam**2 * s2 * mu
        wrong.append(mu @ c)
    e = np.tile(e0, (K, 1))
    for k in range(2):
        z = rng.standard_normal((K, 4)) * np.sqrt(mu)
        xi = rng.standard_normal(K) * np.sqrt(s2)
        e = e - gam * ((e * z).sum(1) - xi)[:, None] * z
        r = (e * e) @ mu
        m, se = r.mean(), r.std(ddof=1) / np.sqrt(K)
        assert abs(m - (bias[k] + var[k])) <= 3 * se, (k, m, bias[k] + var[k], se)
        assert abs(wrong[k] - (bias[k] + var[k])) > 10 * se


@pytest.mark.parametrize("alpha,beta,sigma2,target,lr", [
    (0.75, 0.0, 1.0, "prior", 0.1),   # a = 1.5, isotropic prior
    (1.0, 0.0, 0.0, "prior", 0.1),    # a = 2, no label noise
    (1.0, 0.25, 1.0, "fixed", 0.1),   # a = 2, b = 2.5, one drawn w*
    (0.75, 0.0, 0.0, "fixed", 0.12),  # a = 1.5, no noise, one drawn w*
])
def test_exact_recursion_matches_mean_of_simulations(alpha, beta, sigma2, target, lr):
    """Mean over K = 400 seeds of (eigen simulation - exact theory for the same w*, S) is within
    3 SE of 0 at every (N, t); N in {4, 16}, t in {8, 64, 512} (step decay, one run per horizon)."""
    K, Ns, t = 400, [4, 16], np.array([8, 64, 512])
    p = lin.Params(sigma2=sigma2, target=target, lr=lr)
    pt = Point(alpha, beta, INF, Ns, t, p)
    sim = lin.simulate(pt, _rngs(len(Ns), K, 5), method="eigen").values["loss"]
    th = _paired_theory(alpha, beta, Ns, K, 5, p, t)
    diff = sim - th
    mean, se = diff.mean(1), diff.std(1, ddof=1) / np.sqrt(K)
    assert np.all(np.abs(mean) <= 3 * se), mean / se
    # power: each comparison resolves a 15% error of the mean excess risk (the spread of
    # Approx(w*) over the prior dominates the SE where target = "prior", lin.md §6 pitfall 3)
    assert np.max(3 * se / th.mean(1)) < 0.15, 3 * se / th.mean(1)


@pytest.mark.parametrize("sigma2", [0.0, 1.0])
def test_exact_recursion_matches_simulation_constant_step(sigma2):
    """Constant step near the spec bound (lr = 0.18 <= 0.191, a = 1.5, N = 16, one trajectory read
    at t = 4..1024), fixed w*: paired check over K = 400 seeds within 3 SE. The losses are heavy
    tailed at this step (one seed reaches 17x the mean at t = 16), so the SE resolves a 20% error
    at every t (5-7% at most t); dropping the tr(GC) G term of the recursion moves the mean by
    5-7 SE here."""
    K, t = 400, np.array([4, 16, 128, 1024])
    p = lin.Params(schedule="constant", lr=0.18, target="fixed", sigma2=sigma2)
    pt = Point(0.75, 0.0, INF, [16], t, p)
    sim = lin.simulate(pt, _rngs(1, K, 9), method="eigen").values["loss"]
    th = _paired_theory(0.75, 0.0, [16], K, 9, p, t)
    diff = sim - th
    mean, se = diff.mean(1), diff.std(1, ddof=1) / np.sqrt(K)
    assert np.all(np.abs(mean) <= 3 * se), mean / se
    assert np.max(3 * se / th.mean(1)) < 0.20, 3 * se / th.mean(1)


def test_unstable_sketch_is_flagged():
    """lr = 0.2 passes the spec bound 1/(2 zeta(2)) = 0.304 at a = 2, but at N = 8 tr G
    fluctuates (sum_i lambda_i chi2_N / N): for the sketch of seed 136, sum_j lr mu_j/(1 - lr mu_j)
    = 2.54 > 2, the map expands, the exact tier still computes it and flags it; seed 135 is
    stable and not flagged."""
    from scalinglab.models._lin_core import draw_setup, spectrum

    t = np.array([40, 400])
    pt = Point(1.0, 0.0, INF, [8], t, lin.Params(schedule="constant", lr=0.2))
    spec = spectrum(2.0, 2.0, lin.resolve_d(1.0, 8))
    for s, expect in ((135, False), (136, True)):
        x = 0.2 * draw_setup(np.random.default_rng([9, 0, s]), 8, spec, prior=True).mu
        assert (np.sum(x / (1 - x)) >= 2) == expect
        c = lin.theory(pt, rngs=[np.random.default_rng([9, 0, s])])
        assert c.flags["loss"][0, 1] == expect
        growth = c.values["loss"][0, 1] / c.values["loss"][0, 0]
        assert (growth > 1e6) if expect else (growth < 1), growth


def _log_sd_se(x: np.ndarray) -> float:
    """Standard error of log(sample SD) from the sample kurtosis: sqrt((kurt - 1) / (4 K))."""
    z = x - x.mean()
    kurt = np.mean(z**4) / np.mean(z**2) ** 2
    return math.sqrt((kurt - 1.0) / (4.0 * x.size))


@pytest.mark.parametrize("alpha,N", [(1.0, 4), (0.75, 4)])
def test_eigen_and_ambient_simulations_agree_in_law(alpha, N):
    """Reduced (eigen) vs faithful (ambient) SGD, independent seeds, K = 300 each, d = the rule
    (64 at a = 2, 256 at a = 1.5): means within 3 SE; log SD ratio within 3 SE (SE of log SD
    from the sample kurtosis)."""
    K, t = 300, np.array([0, 16, 128, 1024])
    pt = Point(alpha, 0.0, INF, [N], t, lin.Params())
    e = lin.simulate(pt, _rngs(1, K, 21), method="eigen").values["loss"][0]
    a = lin.simulate(pt, _rngs(1, K, 22), method="ambient").values["loss"][0]
    for k in range(t.size):
        se = math.hypot(e[:, k].std(ddof=1), a[:, k].std(ddof=1)) / math.sqrt(K)
        assert abs(e[:, k].mean() - a[:, k].mean()) <= 3 * se, (k, e[:, k].mean(), a[:, k].mean(), se)
        lr = math.log(e[:, k].std(ddof=1) / a[:, k].std(ddof=1))
        assert abs(lr) <= 3 * math.hypot(_log_sd_se(e[:, k]), _log_sd_se(a[:, k])), (k, lr)


# ------------------------------------------------------------------------------------------
# exponents (Lin et al. main theorem) measured from the recursion
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha,Ns,tol", [(1.0, [8, 25, 80, 256, 800], 0.05), (0.75, [5, 16, 50, 160, 500], 0.10)])
def test_model_size_exponent_at_large_t(alpha, Ns, tol):
    """E R - sigma^2 against our N (Lin's M) at t = 2^30 over two decades of N (3 sketches): slope
    -(a-1) within 5% at a = 2 and 10% at a = 1.5 (lin.md §6 pitfall 4). (The finite-size curvature
    alone, from the DE approx at d = 2^17, gives -0.977 and -0.476 over these ranges.)"""
    a = 2 * alpha
    pt = Point(alpha, 0.0, INF, Ns, [2**30], lin.Params(sketches=3))
    loss = lin.theory(pt, rngs=[np.random.default_rng([41, i]) for i in range(len(Ns))]).values["loss"][:, 0]
    s = _slope(Ns, loss)
    assert abs(s + (a - 1)) <= tol * (a - 1), s


def test_time_exponent_at_large_N():
    """E R - sigma^2 against t_eff = t / ceil(log2 t), t = 2^8..2^16 (two decades of t_eff), at
    a = 2, N = 512 >> (t_eff lr)^(1/a): slope -(a-1)/a = -1/2 within 5%."""
    t = 2 ** np.arange(8, 17)
    pt = Point(1.0, 0.0, INF, [512], t, lin.Params())
    loss = lin.theory(pt, rngs=[np.random.default_rng(7)]).values["loss"][0]
    t_eff = t / np.array([lin.n_phases(x) for x in t])
    s = _slope(t_eff, loss)
    assert abs(s + 0.5) <= 0.05 * 0.5, s


@pytest.mark.parametrize("alpha,t", [(1.0, 2**12), (0.75, 2**10)])
def test_variance_does_not_grow_with_model_size(alpha, t):
    """At fixed t, Var over N = 16..256 (all above (t_eff lr)^(1/a)) stays flat: log-log slope
    below 0.1 and Var(256) <= 1.25 Var(16), where an N-parameter least-squares variance would
    grow 16-fold (slope 1). 2 sketches per N."""
    Ns = [16, 64, 256]
    pt = Point(alpha, 0.0, INF, Ns, [t], lin.Params(sketches=2))
    var = lin.theory(pt, rngs=[np.random.default_rng([43, i]) for i in range(3)]).values["var"][:, 0]
    assert _slope(Ns, var) < 0.1, var
    assert var[-1] <= 1.25 * var[0], var


@pytest.mark.parametrize("alpha,ref", [(1.0, 0.0478), (0.75, 0.4702)])
def test_reference_values_of_lin_md(alpha, ref):
    """Cross-check with lin.md §2's [N] table (one sketch, d = 16-32k): N = 64, t = 2^16, sigma^2 = 1,
    lr = 0.1, d = 2^15. The reference is one draw over sketches, so it must lie within
    3 sqrt(1 + 1/K) sketch SDs of our mean over K = 16 sketches."""
    K = 16
    pt = Point(alpha, 0.0, INF, [64], [2**16], lin.Params(d=2**15))
    vals = np.array([lin.theory(pt, rngs=[np.random.default_rng([47, k])]).values["loss"][0, 0] for k in range(K)])
    sd = vals.std(ddof=1)
    assert abs(vals.mean() - ref) <= 3 * sd * math.sqrt(1 + 1 / K), (vals.mean(), sd)
    assert sd / vals.mean() < 0.05  # the check is sharp (sketch spread < 5% of the value)


# ------------------------------------------------------------------------------------------
# the deterministic-equivalent tier (our bridge)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.75, 1.0])
def test_de_bridge_and_approx_against_exact(alpha):
    """DE approx (kappa_N T1) vs exact E Approx, and the bridge loss vs exact loss, at N = 64,
    t = 2^10, 2^14 (3 sketches): within 3% + 3 SE of the sketch mean (bridge fitted to 0.5-0.9%)."""
    t = np.array([2**10, 2**14])
    pt = Point(alpha, 0.0, INF, [64], t, lin.Params())
    ex = [lin.theory(pt, rngs=[np.random.default_rng([53, k])]).values for k in range(3)]
    de = lin.theory(pt, tier="ridge_bridge")
    assert de.source == "ridge_bridge" and not de.flags["loss"].any()
    for key in ("approx", "loss"):
        x = np.array([v[key][0] for v in ex])
        m, se = x.mean(0), x.std(0, ddof=1) / math.sqrt(3)
        assert np.all(np.abs(de.values[key][0] - m) <= 0.03 * m + 3 * se), (key, de.values[key][0], m, se)
    v = de.values
    np.testing.assert_allclose(v["loss"], v["approx"] + v["bias"] + v["var"], rtol=1e-12)
    # outside the fitted setting the tier flags every value
    off = lin.theory(Point(alpha, 0.0, INF, [64], t, lin.Params(sigma2=0.0)), tier="ridge_bridge")
    assert off.flags["loss"].all()


# ------------------------------------------------------------------------------------------
# contract and bad inputs
# ------------------------------------------------------------------------------------------
def test_contract_shapes_and_names():
    p = lin.Params()
    assert lin.NAME == "lin" and lin.theory_variables(p) == ("loss", "approx", "bias", "var")
    assert lin.sim_variables(p) == ("loss",) and "horizon" in lin.HORIZON_NOTE
    pt = Point(1.0, 0.0, INF, [4, 8], [0, 5, 50], p)
    th = lin.theory(pt, rngs=[np.random.default_rng(i) for i in range(2)])
    assert all(v.shape == (2, 3) for v in th.values.values())
    sim = lin.simulate(pt, _rngs(2, 3, 1), method="ambient")
    assert sim.values["loss"].shape == (2, 3, 3) and sim.source == "ambient"
    # t = 0: the initial risk w*^T H w* + tau; prior mean = sum_i i^-b = zeta(b) for every N
    assert np.allclose(th.values["loss"][:, 0], math.pi**2 / 6, rtol=1e-12)
    assert all(lin.cost(pt, m) > 0 for m in ("theory", "simulation", "ridge_bridge", "ambient"))


def test_same_generator_same_sketch_and_target():
    """theory, eigen and ambient draw w* then S identically: at t = 0 all three give the same
    w*^T H w* + tau for the same seed (fixed target), to 1e-10."""
    pt = Point(0.75, 0.25, INF, [6], [0, 3], lin.Params(target="fixed"))
    th = lin.theory(pt, rngs=[np.random.default_rng(5)]).values["loss"][0, 0]
    ei = lin.simulate(pt, [[np.random.default_rng(5)]], method="eigen").values["loss"][0, 0, 0]
    am = lin.simulate(pt, [[np.random.default_rng(5)]], method="ambient").values["loss"][0, 0, 0]
    other = lin.simulate(pt, [[np.random.default_rng(6)]], method="eigen").values["loss"][0, 0, 0]
    np.testing.assert_allclose([ei, am], th, rtol=1e-10)
    assert abs(other - th) > 1e-3


def test_d_resolution_rule():
    assert lin.resolve_d(0.75, 100) == 6400 and lin.resolve_d(1.0, 100) == 1600
    assert lin.resolve_d(0.6, 10) == 640 and lin.resolve_d(1.5, 10) == 160
    assert 1600 < lin.resolve_d(0.875, 100) < 6400  # a = 1.75: geometric interpolation -> 3200
    assert lin.resolve_d(0.875, 100) == 3200


def test_spec_resolves_d_and_rejects_bad_params(tmp_path):
    from scalinglab.spec import parse_spec

    base = {"model": "lin", "methods": ["theory"], "store": {"path": str(tmp_path / "c.zarr")},
            "grid": {"alpha": [0.75, 1.0], "beta": [0.0], "N": [16, 64], "P": ["inf"], "t": [1, 100]}}
    spec = parse_spec(base)
    assert spec.params.d == 64 * 64  # the rule at the smallest a (1.5), stored in the spec
    for bad in ({"lr": -0.1}, {"sigma2": -1.0}, {"schedule": "cosine"}, {"target": "x"}, {"sketches": 0},
                {"d": 0}, {"momentum": 0.9}, {"lr": 0.25}, {"d": 100}):
        with pytest.raises(SpecError):
            parse_spec({**base, "params": bad})
    with pytest.raises(SpecError, match="P"):
        parse_spec({**base, "grid": {**base["grid"], "P": [100]}})


@pytest.mark.parametrize("args,field,condition", [
    ((0.75, 0.0, 16, 100.0), "P", "inf"),
    ((0.5, 0.5, 16, INF), "alpha", "alpha > 1/2"),
    ((0.75, -0.3, 16, INF), "beta", "2(alpha+beta) > 1"),
    ((0.75, 0.0, INF, INF), "N", "finite"),
])
def test_domain_errors_name_the_condition(args, field, condition):
    alpha, beta, N, P = args
    with pytest.raises(DomainError, match=re.escape(condition)) as err:
        lin.check_domain(alpha, beta, N, P, 100, lin.Params())
    assert err.value.field == field and "\n" not in str(err.value)


def test_param_domain_errors():
    with pytest.raises(DomainError, match="zeta"):
        lin.check_domain(0.75, 0.0, 16, INF, 100, lin.Params(lr=0.2))  # 1/(2 zeta(1.5)) = 0.191
    lin.check_domain(0.75, 0.0, 16, INF, 100, lin.Params(lr=0.19))
    with pytest.raises(DomainError, match="d >= 1024"):
        lin.check_domain(0.75, 0.0, 16, INF, 100, lin.Params(d=1000))
    pt = Point(1.0, 0.0, INF, [8], [10], lin.Params())
    with pytest.raises(SpecError, match="rngs"):
        lin.theory(pt)
    with pytest.raises(SpecError, match="tier"):
        lin.theory(pt, tier="asymptotic")
    with pytest.raises(SpecError, match="method"):
        lin.simulate(pt, _rngs(1, 1, 0), method="gpu")
    with pytest.raises(SpecError, match="tier"):
        lin.theory(Point(1.0, 0.0, INF, [8], [10], lin.Params(schedule="constant")), tier="ridge_bridge")
