"""PLRF ``replicas``: R SGD runs per drawn W, each on its own data stream; a seed stores their mean.

One-pass SGD losses are right-skewed and power-law tailed over data streams (docs/theory/plrf.md
§7.9), so the paired t statistic over a few seeds has heavier tails than Student-t. Averaging R
runs on the same W estimates the same E[loss | W_s] the paired theory gives, with the spread
over data divided by R.
"""
from __future__ import annotations

import numpy as np
import pytest

from scalinglab.models import plrf
from scalinglab.models.base import Point
from scalinglab.models.plrf.simulation import simulate_runs
from scalinglab.spec import parse_spec

T = np.array([0, 1, 3, 10, 30, 100, 300, 1000])


def _rngs(n_N: int, seeds: int, base: int) -> list[list[np.random.Generator]]:
    return [[np.random.default_rng(np.random.SeedSequence([base, i, s])) for s in range(seeds)] for i in range(n_N)]


@pytest.mark.parametrize("method", ["eigen", "ambient"])
def test_a_seed_stores_the_mean_of_its_runs_and_replica_0_is_the_single_run(method):
    p1, p3 = plrf.Params(v_ratio=4, lr_scale=0.3), plrf.Params(v_ratio=4, lr_scale=0.3, replicas=3)
    pt1, pt3 = (Point(1.0, 0.6, np.inf, np.array([8, 16]), T, p) for p in (p1, p3))
    one = plrf.simulate(pt1, _rngs(2, 2, 1), method=method).values["loss"]
    runs = simulate_runs(pt3, _rngs(2, 2, 1), method=method)
    assert runs.shape == (2, 2, 3, T.size)
    np.testing.assert_array_equal(runs[:, :, 0], one)  # replica 0 continues the seed's own stream
    np.testing.assert_array_equal(plrf.simulate(pt3, _rngs(2, 2, 1), method=method).values["loss"], runs.mean(2))
    # same W (the loss at t = 0 is fixed by W alone), other data streams
    np.testing.assert_array_equal(runs[..., 0], np.repeat(runs[:, :, :1, 0], 3, axis=2))
    assert np.all(runs[:, :, 1:, -1] != runs[:, :, :1, -1])


def test_replica_mean_estimates_the_paired_theory_with_the_spread_divided_by_R():
    """Over 48 seeds at lr_scale 0.15 (light tails): the paired difference theory_s - mean_r L_sr has
    mean 0 within 3 SE, and its variance with R = 8 is the R = 1 variance / 8. The ratio's sampling
    spread with 48 seeds is a factor exp(3 * sqrt(2/47 + 2/47)) = 2.4 at 3 sigma, so [8/2.5, 8*2.5];
    replicas that shared one data stream (ratio 1) or that each drew a new W (ratio < 1: the
    projection's spread would enter) fail."""
    K, R, alpha, beta, N = 48, 8, 1.0, 0.6, 32
    t = np.array([30, 100, 300, 1000])
    p = plrf.Params(v_ratio=4, lr_scale=0.15, replicas=R)
    pt = Point(alpha, beta, np.inf, np.array([N]), t, p)
    runs = simulate_runs(pt, _rngs(1, K, 11))[0]  # (K, R, n_t)
    th = plrf.paired_theory(pt, _rngs(1, K, 11)).values["loss"][0]  # (K, n_t)
    d1, dR = th - runs[:, 0], th - runs.mean(1)
    assert np.all(np.abs(dR.mean(0)) <= 3 * dR.std(0, ddof=1) / np.sqrt(K)), dR.mean(0) / dR.std(0, ddof=1)
    ratio = d1.var(0, ddof=1) / dR.var(0, ddof=1)
    assert np.all((ratio > R / 2.5) & (ratio < R * 2.5)), ratio


def test_replicas_enter_the_simulation_key_not_the_theory_key_nor_old_spec_hashes():
    raw = {"model": "plrf", "methods": ["theory", "simulation"], "seeds": 2,
           "grid": {"alpha": [1.0], "beta": [0.6], "N": [16], "P": ["inf"], "t": [1, 10]},
           "params": {"v_ratio": 4}, "store": {"path": "unused.zarr"}}
    base = parse_spec(raw)
    rep = parse_spec({**raw, "params": {"v_ratio": 4, "replicas": 4}})
    m = plrf.MODEL
    assert "replicas" not in m.unit_params(rep.params, "theory")
    assert m.unit_params(rep.params, "simulation")["replicas"] == 4
    assert "replicas" not in base.params.model_dump(mode="json")  # at its default: old spec hashes stay
    assert base.hash != rep.hash
    with pytest.raises(Exception, match="replicas"):
        parse_spec({**raw, "params": {"replicas": 0}})
