"""Honest residuals on a paired PLRF cell (issue 10.3): the theory of seed s is the exact
expected loss given seed s's own projection W, the one seed s's simulation trains on.

The paired arrays are built here from the model's own functions (`get_model("plrf").simulate`
draws W first from the seed's generator; `draw_problem` on a fresh generator of the same seed
redraws that W), so the test does not depend on the cube carrying the paired theory yet.

Margin, measured over 16 root seeds of exactly this cell (3 N x 13 checkpoints at t >= 10,
K = 8 seeds, batch 8): the fraction of |z| > 3 was 0.000-0.128 (mean 0.045; Student-t with
7 dof expects 0.020: the t statistic of a skewed SGD loss has heavier tails), and with the theory
off by 10% it was 0.231-0.538. The test allows expected + 0.15 = 0.170 and needs > 0.17 for
the 10%-off theory: it fails if the pairing is broken (the theory of other draws has the
projection's spread, which the paired SE does not contain), if t_min is ignored, or if the
standard error is wrong.
"""
from __future__ import annotations

import numpy as np
import pytest

from scalinglab.analysis.cell import AnalysisSettings, analyze_cell
from scalinglab.analysis.residuals import residual_map

K = 8
MARGIN = 0.15
FAST = AnalysisSettings(n_bootstrap_fit=0, n_bootstrap_frontier=0)
N = np.array([16.0, 32.0, 64.0])
T = np.unique(np.geomspace(1, 1000, 20).astype(int))


@pytest.fixture(scope="module")
def paired_plrf():
    from scalinglab.models import get_model
    from scalinglab.models.base import Point
    from scalinglab.models.plrf import draw_problem, exact_loss, learning_rate

    model = get_model("plrf")
    params = model.Params(v_ratio=4.0, batch=8, lr_scale=0.15)
    alpha, beta, root = 1.0, 0.6, 0

    def streams(role, iN, seed=0):
        return np.random.default_rng([root, iN, seed])

    point = Point(alpha, beta, np.inf, N, T, params)
    sim = model.simulate(point, streams, K).values["loss"]
    theory = np.empty_like(sim)
    for i, n in enumerate(N):
        gamma = learning_rate(alpha, n, params)
        for s in range(K):
            prob = draw_problem(streams("simulation", i, s), alpha, beta, int(n), params)
            theory[i, s] = exact_loss(prob, gamma, params.batch, T)
    return theory, sim


def test_paired_z_is_consistent_with_noise_and_detects_a_10_percent_error(paired_plrf):
    theory, sim = paired_plrf
    res = analyze_cell(N, T, theory=theory, sim=sim, settings=FAST)["residuals"]
    assert res["resid_dof"] == K - 1 and res["resid_frac_z3_expected"] == pytest.approx(0.0200, abs=5e-4)
    assert res["resid_n"] == 3 * int((T >= 10).sum())  # t >= t_min only
    assert res["resid_frac_z3"] <= res["resid_frac_z3_expected"] + MARGIN, res
    off = residual_map(1.1 * theory, sim, t=T, t_min=FAST.t_min).summary()  # what analyze_cell reports
    assert off["resid_frac_z3"] > res["resid_frac_z3_expected"] + MARGIN, off


def test_the_se_kind_follows_the_pairing(paired_plrf):
    """Paired where the theory carries the seed axis; the theory's own spread where it is a
    set of draws not paired with the simulation; the seed SE alone for one theory curve."""
    theory, sim = paired_plrf
    paired = residual_map(theory, sim, t=T, t_min=10)
    unpaired = residual_map(theory, sim, t=T, t_min=10, paired=False)
    mean_only = residual_map(theory.mean(axis=1), sim, t=T, t_min=10)
    assert (paired.kind, unpaired.kind, mean_only.kind) == ("paired", "theory+seed", "seed")
    # the theory's own spread widens the SE: |z| never grows when it is included
    used = np.isfinite(mean_only.z)
    assert np.all(np.abs(unpaired.z[used]) <= np.abs(mean_only.z[used]) + 1e-12)
    assert not np.isfinite(paired.z[:, T < 10]).any()
