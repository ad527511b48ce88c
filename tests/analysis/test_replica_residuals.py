"""Paired residuals with replica standard errors (``residual_map(..., sim_se=, sim_se_dof=)``).

Seed s's value is the mean of R runs on its own draw; ``SE_s`` their standard error over data
streams. Under "theory_s = E[L | draw s]", ``z = mean_s(T_s - L_s) / (sqrt(sum_s SE_s^2) / K)`` with
``K (R - 1)`` dof (residuals.py).
"""
from __future__ import annotations

import numpy as np
import pytest

from scalinglab.analysis.residuals import residual_map
from scalinglab.errors import SpecError

T = np.geomspace(1, 1e4, 30).round()


def _replica_data(rng, n_N=6, K=8, R=4, shape=20.0):
    """Gamma-distributed (skewed) runs with a per-seed, per-N mean that varies over draws."""
    mean = rng.lognormal(0.0, 0.5, size=(n_N, K, 1)) * (1 + T) ** -0.5  # T_s: differs per draw
    runs = rng.gamma(shape, mean[:, :, None, :] / shape, size=(n_N, K, R, T.size))
    return mean.repeat(T.size, axis=2) if mean.shape[2] == 1 else mean, runs


def test_z_is_the_paired_mean_over_the_replica_standard_error():
    rng = np.random.default_rng(0)
    th, runs = _replica_data(rng)
    K, R = runs.shape[1], runs.shape[2]
    sim, se = runs.mean(2), runs.std(2, ddof=1) / np.sqrt(R)
    rm = residual_map(th, sim, t=T, t_min=10, sim_se=se, sim_se_dof=R - 1)
    assert rm.kind == "paired+replicas" and rm.dof == K * (R - 1)
    keep = T >= 10
    expect = (th - sim).mean(1) / (np.sqrt((se**2).sum(1)) / K)
    np.testing.assert_allclose(rm.z[:, keep], expect[:, keep], rtol=1e-12)
    assert np.all(np.isnan(rm.z[:, ~keep]))


def test_calibrated_on_noise_and_detects_a_10_percent_error():
    """40 data sets of gamma(20) runs (per-run CV 0.22, skewness 0.45; K = 8 seeds x R = 4): the mean
    fraction of |z| > 3 was 0.0093 (0-0.038 per set) against P(|t_24| > 3) = 0.0062; allowed: + 0.01.
    A theory 10% high (2.5 SE of a seed mean of 32 runs) gave 0.25-0.33 per set, mean 0.33; required
    > 0.2. (gamma(2), skewness 1.4, gives 0.017: the skew the replicas are there to average down.)"""
    rng = np.random.default_rng(1)
    fr, off = [], []
    for _ in range(40):
        th, runs = _replica_data(rng)
        R = runs.shape[2]
        sim, se = runs.mean(2), runs.std(2, ddof=1) / np.sqrt(R)
        rm = residual_map(th, sim, t=T, t_min=10, sim_se=se, sim_se_dof=R - 1)
        fr.append(rm.fraction_above(3.0))
        off.append(residual_map(1.1 * th, sim, t=T, t_min=10, sim_se=se, sim_se_dof=R - 1).fraction_above(3.0))
    assert np.mean(fr) <= rm.expected_fraction(3.0) + 0.01, (np.mean(fr), rm.expected_fraction(3.0))
    assert np.mean(off) > 0.2, np.mean(off)


def test_unpaired_ignores_replica_errors_and_bad_shapes_are_refused():
    rng = np.random.default_rng(2)
    th, runs = _replica_data(rng)
    sim, se = runs.mean(2), runs.std(2, ddof=1) / 2
    rm = residual_map(th.mean(1), sim, t=T, sim_se=se, sim_se_dof=3)  # deterministic theory: the seed SE
    assert rm.kind == "seed"
    with pytest.raises(SpecError, match="sim_se.shape"):
        residual_map(th, sim, t=T, sim_se=se[:, :4], sim_se_dof=3)
    with pytest.raises(SpecError, match="sim_se_dof"):
        residual_map(th, sim, t=T, sim_se=se, sim_se_dof=0)
