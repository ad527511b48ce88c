"""ScalingSurface: Epoch AI's Chinchilla replication, exact recovery, bootstrap coverage."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from scalinglab.analysis.fit import ScalingSurface, grid_points, huber
from scalinglab.errors import SpecError

CHINCHILLA = Path(__file__).resolve().parents[1] / "data" / "chinchilla_fig4_points.csv"  # copy of shared/data
# Besiroglu et al. (arXiv 2404.10102), Approach 3 replication: estimate, standard error.
EPOCH = {"E": (1.8172, 0.03), "A": (482.01, 124.58), "B": (2085.43, 1293.23), "a": (0.3478, 0.02), "b": (0.3658, 0.02)}


def _chinchilla() -> tuple[np.ndarray, np.ndarray]:
    """(X = [N, D], loss) for the 240 runs Epoch kept (the 5 highest losses dropped), D = C/(6N)."""
    with CHINCHILLA.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    N = np.array([float(r["Model Size"]) for r in rows])
    C = np.array([float(r["Training FLOP"]) for r in rows])
    L = np.array([float(r["loss"]) for r in rows])
    assert len(L) == 245
    keep = np.argsort(L, kind="stable")[:-5]
    return np.stack([N[keep], C[keep] / (6.0 * N[keep])], axis=1), L[keep]


def _as_epoch(s: ScalingSurface) -> dict[str, float]:
    return {"E": s.L0_, "A": s.coefficients_["N"], "B": s.coefficients_["D"], "a": s.exponents_["N"], "b": s.exponents_["D"]}


@pytest.mark.parametrize(
    "init, grids, optimizer",
    [
        ("varpro", {}, "BFGS"),
        # Epoch's own start grid: a, b in 0..2; log A, log B in 0..25; log E in -1..1 (step 0.5 / 5).
        ("grid", {"exponent_grid": np.arange(0, 2.5, 0.5), "amplitude_grid": np.arange(0, 30, 5),
                  "L0_grid": np.arange(-1, 1.5, 0.5)}, "L-BFGS-B"),
    ],
)
def test_chinchilla_matches_epoch_within_one_standard_error(init, grids, optimizer):
    X, y = _chinchilla()
    s = ScalingSurface(("N", "D"), delta=1e-3, init=init, n_starts=8, optimizer=optimizer, **grids).fit(X, y)
    got = _as_epoch(s)
    for name, (ref, se) in EPOCH.items():
        assert abs(got[name] - ref) <= se, (name, got[name], ref, se)
    # The optimum is at least as good as Epoch's published (rounded) point under the same objective.
    E, A, B, a, b = (EPOCH[k][0] for k in "EABab")
    pred = np.log(E + A * X[:, 0] ** -a + B * X[:, 1] ** -b)
    assert s.loss_ <= huber(pred - np.log(y), 1e-3).sum() + 1e-12


def test_chinchilla_bootstrap_errors_agree_with_epoch():
    """100 point-bootstrap refits; each SE within a factor 2 of Epoch's (4,000 resamples)."""
    X, y = _chinchilla()
    s = ScalingSurface(("N", "D"), n_bootstrap=100, n_starts_bootstrap=1, random_state=0).fit(X, y)
    ses = {"E": s.L0_se_, "A": s.coefficients_se_["N"], "B": s.coefficients_se_["D"],
           "a": s.exponents_se_["N"], "b": s.exponents_se_["D"]}
    for name, (_, se) in EPOCH.items():
        assert 0.5 <= ses[name] / se <= 2.0, (name, ses[name], se)
    lo, hi = s.exponents_ci_["N"]
    assert lo < s.exponents_["N"] < hi


def _surface(X: np.ndarray, L0: float, amps: dict, exps: dict, names: tuple) -> np.ndarray:
    return L0 + sum(amps[v] * X[:, j] ** -exps[v] for j, v in enumerate(names))


@pytest.mark.parametrize(
    "irreducible, names, init",
    [(True, ("t", "N"), "varpro"), (False, ("t", "N"), "varpro"), (True, ("t", "N", "P"), "varpro"),
     (True, ("t", "N"), "grid")],
)
def test_exact_surface_is_recovered(irreducible, names, init):
    """Noise-free data: exponents to 1e-4 and amplitudes to 1e-3 relative, L0 to 1e-5."""
    axes = {"t": np.geomspace(10, 1e5, 9), "N": np.geomspace(8, 1024, 6), "P": np.geomspace(64, 1e5, 4)}
    amps = {"t": 2.0, "N": 3.0, "P": 5.0}
    exps = {"t": 0.6, "N": 0.9, "P": 0.45}
    L0 = 0.05 if irreducible else 0.0
    X, _ = grid_points([axes[v] for v in names], np.zeros(tuple(len(axes[v]) for v in names)))
    y = _surface(X, L0, amps, exps, names)
    s = ScalingSurface(names, irreducible=irreducible, init=init).fit(X, y)
    for v in names:
        assert s.exponents_[v] == pytest.approx(exps[v], rel=1e-4)
        assert s.coefficients_[v] == pytest.approx(amps[v], rel=1e-3)
    assert s.L0_ == pytest.approx(L0, abs=1e-5)
    np.testing.assert_allclose(s.predict(X), y, rtol=1e-5)


def _coverage(R: int, B: int, sigma: float, K: int | None, seed: int):
    t = np.geomspace(10, 1e4, 10)
    N = np.geomspace(16, 512, 6)
    X, _ = grid_points([t, N], np.zeros((10, 6)))
    true = {"t": 0.6, "N": 0.9}
    L = 0.05 + 2.0 * X[:, 0] ** -true["t"] + 3.0 * X[:, 1] ** -true["N"]
    rng = np.random.default_rng(seed)
    hits = {v: 0 for v in true}
    est = {v: [] for v in true}
    width = {v: [] for v in true}
    for r in range(R):
        shape = (len(L),) if K is None else (len(L), K)
        y = (L if K is None else L[:, None]) * np.exp(sigma * rng.standard_normal(shape))
        s = ScalingSurface(("t", "N"), n_bootstrap=B, n_starts=4, n_starts_bootstrap=1,
                           confidence=0.9, random_state=r).fit(X, y)
        for v in true:
            lo, hi = s.exponents_ci_[v]
            hits[v] += lo <= true[v] <= hi
            est[v].append(s.exponents_[v])
            width[v].append(hi - lo)
    return true, hits, est, width


@pytest.mark.parametrize(
    "R, B, sigma, K",
    [
        (30, 40, 0.02, None),  # point bootstrap: 60 points, multiplicative noise 2%
        (20, 30, 0.05, 6),  # seed bootstrap: 6 seeds of 5% noise
    ],
)
def test_bootstrap_interval_coverage(R, B, sigma, K):
    """90% percentile intervals cover the true exponent in >= 70% of R replicates.

    Measured while writing this test with other RNG streams: point bootstrap (R = 60, two
    streams) 83% / 87% for t and 93% / 90% for N; seed bootstrap (R = 40) 88% for both. With
    this test's stream: 29/30, 30/30 (points) and 18/20, 19/20 (seeds). The bound 0.7 leaves
    room for binomial noise at R = 20-30; the width check stops a huge interval from passing
    (measured mean width / (2 * 1.645 * replicate sd): 0.76-1.26).
    """
    true, hits, est, width = _coverage(R, B, sigma, K, seed=2024)
    for v in true:
        assert hits[v] / R >= 0.7, (v, hits[v], R)
        assert abs(np.mean(est[v]) - true[v]) < 0.02
        # Nominal width 2 * 1.645 * sd; the bootstrap width must match the replicate spread.
        ratio = np.mean(width[v]) / (2 * 1.645 * np.std(est[v], ddof=1))
        assert 0.6 <= ratio <= 1.7, (v, ratio)


def test_same_random_state_same_bootstrap():
    X, _ = grid_points([np.geomspace(10, 1e4, 8), np.geomspace(16, 512, 5)], np.zeros((8, 5)))
    y = (0.1 + X[:, 0] ** -0.5 + X[:, 1] ** -0.8) * np.exp(0.02 * np.random.default_rng(1).standard_normal(len(X)))
    a = ScalingSurface(n_bootstrap=5, random_state=3).fit(X, y)
    b = ScalingSurface(n_bootstrap=5, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.bootstrap_params_, b.bootstrap_params_)


def test_grid_points_with_seed_axis():
    N, t = np.array([1.0, 2.0]), np.array([10.0, 20.0, 30.0])
    loss = np.arange(2 * 4 * 3, dtype=float).reshape(2, 4, 3) + 1
    X, y = grid_points([N, t], loss, seed_axis=1)
    assert X.shape == (6, 2) and y.shape == (6, 4)
    np.testing.assert_array_equal(X[4], [2.0, 20.0])
    np.testing.assert_array_equal(y[4], loss[1, :, 1])


@pytest.mark.parametrize(
    "kwargs, X, y, field",
    [
        ({"delta": 0.0}, np.ones((10, 2)), np.ones(10), "delta"),
        ({"init": "random"}, np.ones((10, 2)), np.ones(10), "init"),
        ({"optimizer": "Nelder-Mead"}, np.ones((10, 2)), np.ones(10), "optimizer"),
        ({"confidence": 1.5}, np.ones((10, 2)), np.ones(10), "confidence"),
        ({}, np.ones((10, 3)), np.ones(10), "X.shape"),
        ({}, np.ones((10, 2)), -np.ones(10), "loss"),
        ({}, np.ones((4, 2)), np.ones(4), "n_points"),
    ],
)
def test_bad_inputs_raise_spec_error(kwargs, X, y, field):
    with pytest.raises(SpecError, match=field):
        ScalingSurface(("t", "N"), **kwargs).fit(X, y)
