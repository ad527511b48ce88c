"""Shared core of the models: power-law spectra, random projections, the eigenbasis reduction.

All three models are linear regression on Gaussian features with covariance
``D = diag(j^(-2 alpha))`` and target power ``lambda_j b_j^2 = j^(-2(alpha+beta))``
(CONVENTIONS.md), seen through a random projection. Only the normalisation of the
projection differs between the papers; each model module documents its own.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

__all__ = [
    "powerlaw_eigenvalues",
    "powerlaw_target",
    "power_sum",
    "ProjectedProblem",
    "project",
]


def powerlaw_eigenvalues(alpha: float, v: int) -> np.ndarray:
    r"""Covariance spectrum :math:`\lambda_j = j^{-2\alpha}`, j = 1..v. Shape ``(v,)``."""
    return np.arange(1, v + 1, dtype=np.float64) ** (-2.0 * alpha)


def powerlaw_target(beta: float, v: int) -> np.ndarray:
    r"""Target coefficients :math:`b_j = j^{-\beta}`, j = 1..v. Shape ``(v,)``."""
    return np.arange(1, v + 1, dtype=np.float64) ** (-float(beta))


@functools.lru_cache(maxsize=4096)
def power_sum(exponent: float, v: int) -> float:
    r""":math:`\sum_{j=1}^{v} j^{-s}` for ``s = exponent`` (exact sum, float64).

    Cached: spec validation evaluates it for every grid point (v up to 10^6 costs ~10 ms).
    """
    return float(np.sum(np.arange(1, int(v) + 1, dtype=np.float64) ** (-float(exponent))))


@dataclass(frozen=True)
class ProjectedProblem:
    r"""A linear-regression problem after projection, in the eigenbasis of :math:`K = W^T D W`.

    For Gaussian x, the pair (x̃ = Wᵀx, y = <x, b>) is jointly Gaussian, so
    :math:`y = \langle \tilde x, \theta^*\rangle + \varepsilon` with
    :math:`\varepsilon \sim N(0, \mathcal P^*)` independent of x̃ (plrf.md §2).

    Attributes
    ----------
    lam : ndarray, shape (N,)
        Eigenvalues :math:`\lambda_k` of K (ascending).
    theta_star : ndarray, shape (N,)
        :math:`u_k^T \theta^*`, the best projected predictor in K's eigenbasis.
    floor : float
        :math:`\mathcal P^* = \sum_j j^{-2\alpha-2\beta} - c^T K^{-1} c`, the best loss
        reachable in the span of W (the approximation floor given W).
    total : float
        :math:`\mathcal P(0) = \sum_j \lambda_j b_j^2`, the loss at theta = 0.
    """

    lam: np.ndarray
    theta_star: np.ndarray
    floor: float
    total: float

    @property
    def mode_power(self) -> np.ndarray:
        r""":math:`w_k = \lambda_k (u_k^T\theta^*)^2`, the target power per eigenmode."""
        return self.lam * self.theta_star**2


def project(W: np.ndarray, lam_x: np.ndarray, b: np.ndarray) -> ProjectedProblem:
    r"""Reduce (D, b, W) to the eigenbasis of :math:`K = W^T D W`.

    Cost O(v N^2 + N^3). ``W`` has shape ``(v, N)``, ``lam_x`` and ``b`` shape ``(v,)``.
    """
    sqrt_d = np.sqrt(lam_x)
    A = W * sqrt_d[:, None]  # D^{1/2} W, (v, N)
    K = A.T @ A
    c = A.T @ (sqrt_d * b)  # W^T D b
    lam, U = np.linalg.eigh(K)
    lam = np.maximum(lam, np.finfo(np.float64).tiny)
    proj_c = U.T @ c
    theta_star = proj_c / lam
    total = float(np.sum(lam_x * b**2))
    explained = float(np.sum(proj_c**2 / lam))
    floor = max(total - explained, 0.0)
    return ProjectedProblem(lam=lam, theta_star=theta_star, floor=floor, total=total)
