"""Theory against simulation for one (alpha, beta, P) cell: relative and standardised differences.

With ``K`` seeds ``L_s(N, t)`` (shape ``(n_N, K, n_t)``) and a theory curve ``T(N, t)`` (shape
``(n_N, n_t)``):

.. math::

    \\bar L = \\frac1K \\sum_s L_s, \\qquad
    \\mathrm{SE} = \\frac{\\operatorname{sd}_s(L_s)}{\\sqrt K}\\ (\\text{ddof} = 1),

    \\text{relative difference} = \\frac{T - \\bar L}{\\bar L}, \\qquad
    z = \\frac{T - \\bar L}{\\mathrm{SE}}.

Under "theory is the mean of the simulation" each ``z`` is approximately Student-t with
``K - 1`` degrees of freedom; :func:`max_standardized_deviation` is the statistic the model
tests bound (STYLE.md §5).
"""
from __future__ import annotations

import numpy as np

from scalinglab.errors import SpecError

__all__ = [
    "seed_mean_se",
    "relative_difference",
    "standardized_deviation",
    "max_standardized_deviation",
    "max_relative_difference",
]


def _check(theory: np.ndarray, sim: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    theory = np.asarray(theory, dtype=np.float64)
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 3:
        raise SpecError(where, "sim.shape", sim.shape, "(n_N, n_seed, n_t)")
    if theory.shape != (sim.shape[0], sim.shape[2]):
        raise SpecError(where, "theory.shape", theory.shape, f"{(sim.shape[0], sim.shape[2])} to match sim {sim.shape}")
    if not (np.all(np.isfinite(theory)) and np.all(np.isfinite(sim))):
        raise SpecError(where, "values", "non-finite", "finite theory and simulation values")
    return theory, sim


def seed_mean_se(sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seed mean and standard error ``sd(ddof=1)/sqrt(K)`` of ``sim`` (shape (n_N, K, n_t)).

    Returns
    -------
    mean, se : ndarray, shape (n_N, n_t)
    """
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 3 or sim.shape[1] < 2:
        raise SpecError("seed_mean_se", "sim.shape", sim.shape, "(n_N, n_seed, n_t) with n_seed >= 2")
    K = sim.shape[1]
    return sim.mean(axis=1), sim.std(axis=1, ddof=1) / np.sqrt(K)


def relative_difference(theory: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """``(theory - sim_mean) / sim_mean`` over (N, t).

    Parameters
    ----------
    theory : ndarray, shape (n_N, n_t)
    sim : ndarray, shape (n_N, n_seed, n_t)

    Returns
    -------
    ndarray, shape (n_N, n_t)
    """
    theory, sim = _check(theory, sim, "relative_difference")
    mean = sim.mean(axis=1)
    if np.any(mean == 0):
        raise SpecError("relative_difference", "sim_mean", "zero entries", "non-zero seed means")
    return (theory - mean) / mean


def max_relative_difference(theory: np.ndarray, sim: np.ndarray) -> float:
    """``max_(N, t) |theory - sim_mean| / sim_mean``."""
    return float(np.max(np.abs(relative_difference(theory, sim))))


def standardized_deviation(theory: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """``(theory - sim_mean) / SE`` over (N, t), SE the seed standard error.

    Where SE = 0 the entry is 0 if theory equals the mean exactly and ``±inf`` otherwise.

    Parameters
    ----------
    theory : ndarray, shape (n_N, n_t)
    sim : ndarray, shape (n_N, n_seed, n_t), n_seed >= 2

    Returns
    -------
    ndarray, shape (n_N, n_t)
    """
    theory, sim = _check(theory, sim, "standardized_deviation")
    mean, se = seed_mean_se(sim)
    diff = theory - mean
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / se
    return np.where(se > 0, z, np.where(diff == 0, 0.0, np.copysign(np.inf, diff)))


def max_standardized_deviation(theory: np.ndarray, sim: np.ndarray) -> float:
    """``max_(N, t) |theory - sim_mean| / SE`` (SE from the seeds, ddof = 1)."""
    return float(np.max(np.abs(standardized_deviation(theory, sim))))
