"""Theory-vs-simulation residual maps on synthetic data with known mean and spread."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from scalinglab.analysis.residuals import (
    max_relative_difference,
    max_standardized_deviation,
    relative_difference,
    seed_mean_se,
    standardized_deviation,
)
from scalinglab.errors import SpecError

K = 16  # seeds
SIGMA = 0.05  # multiplicative per-seed noise


def _cell(seed: int = 0):
    N = np.geomspace(16, 1024, 5)
    t = np.geomspace(1, 1e4, 30)
    theory = 0.01 + t[None, :] ** -0.5 + N[:, None] ** -0.8
    noise = np.random.default_rng(seed).standard_normal((len(N), K, len(t)))
    sim = theory[:, None, :] * (1 + SIGMA * noise)  # mean exactly theory in law
    return theory, sim


def test_relative_difference_of_a_known_offset():
    theory, sim = _cell()
    mean = sim.mean(axis=1)
    np.testing.assert_allclose(relative_difference(1.1 * mean, sim), 0.1, rtol=1e-12)
    assert max_relative_difference(1.1 * mean, sim) == pytest.approx(0.1, rel=1e-12)


def test_standardized_deviation_is_student_t_under_the_null():
    """Theory = true mean: z is t-distributed with K - 1 dof (150 cells).

    max|z| must stay below the 0.999 two-sided quantile after a Bonferroni correction over
    the cells, and the spread of z must match the t distribution's (sd within 20%).
    """
    theory, sim = _cell(seed=3)
    z = standardized_deviation(theory, sim)
    n = z.size
    bound = stats.t.ppf(1 - 0.001 / (2 * n), K - 1)
    assert max_standardized_deviation(theory, sim) < bound
    assert np.std(z) == pytest.approx(np.sqrt((K - 1) / (K - 3)), rel=0.2)


def test_a_biased_theory_is_detected():
    """A 5% bias is 5% / (5% / sqrt(16)) = 4 SE per cell: max |z| must exceed 4 with 150 cells."""
    theory, sim = _cell(seed=4)
    assert max_standardized_deviation(1.05 * theory, sim) > 4.0
    assert np.median(standardized_deviation(1.05 * theory, sim)) > 2.5


def test_seed_mean_se_matches_numpy():
    _, sim = _cell(seed=5)
    mean, se = seed_mean_se(sim)
    np.testing.assert_allclose(se, sim.std(axis=1, ddof=1) / np.sqrt(K))
    np.testing.assert_allclose(mean, sim.mean(axis=1))


def test_zero_spread_cells():
    sim = np.ones((2, 3, 4))
    theory = np.ones((2, 4))
    theory[1, 2] = 2.0
    z = standardized_deviation(theory, sim)
    assert z[0, 0] == 0.0 and z[1, 2] == np.inf


@pytest.mark.parametrize(
    "theory, sim, field",
    [
        (np.ones((2, 4)), np.ones((2, 4)), "sim.shape"),
        (np.ones((3, 4)), np.ones((2, 5, 4)), "theory.shape"),
        (np.full((2, 4), np.nan), np.ones((2, 5, 4)), "values"),
    ],
)
def test_bad_inputs_raise_spec_error(theory, sim, field):
    with pytest.raises(SpecError, match=field):
        standardized_deviation(theory, sim)
    with pytest.raises(SpecError, match="sim.shape"):
        seed_mean_se(np.ones((2, 1, 4)))
