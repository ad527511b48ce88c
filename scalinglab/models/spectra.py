"""Shared core of the models: power-law spectra, random projections, the eigenbasis reduction.

All three models are linear regression on Gaussian features with covariance
``D = diag(j^(-2 alpha))`` and target power ``lambda_j b_j^2 = j^(-2(alpha+beta))``
(docs/theory/CONVENTIONS.md), seen through a random projection. Only the normalisation of the
projection differs between the papers; each model module documents its own.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scalinglab.numerics import least_squares_floor, power_sum

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


@dataclass(frozen=True)
class ProjectedProblem:
    r"""A linear-regression problem after projection, in the eigenbasis of :math:`K = W^T D W`.

    For Gaussian x, the pair (x̃ = Wᵀx, y = <x, b>) is jointly Gaussian, so
    :math:`y = \langle \tilde x, \theta^*\rangle + \varepsilon` with
    :math:`\varepsilon \sim N(0, \mathcal P^*)` independent of x̃ (docs/theory/plrf.md §2).

    Attributes
    ----------
    lam : ndarray, shape (N,)
        Eigenvalues :math:`\lambda_k` of K (ascending).
    theta_star : ndarray, shape (N,)
        :math:`u_k^T \theta^*`, the best projected predictor in K's eigenbasis.
    floor : float
        :math:`\mathcal P^* = \min_\theta E_x(\langle W^Tx,\theta\rangle - y)^2
        = \sum_j j^{-2\alpha-2\beta} - c^T K^{-1} c`, the best loss reachable in the span of W
        (the approximation floor given W), computed as a sum of squares (never as the difference).
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
    r"""Reduce (D, b, W) to the eigenbasis of :math:`K = W^T D W`, without forming K.

    With :math:`A = D^{1/2} W = Q R` (Householder) and :math:`R = U_R \Sigma V^T`, the
    eigenvalues of K are :math:`\sigma^2` and :math:`u_k^T\theta^* = (U_R^T z)_k/\sigma_k`,
    :math:`z = (Q^T D^{1/2} b)_{\le N}`; the floor is the sum of the tail of :math:`Q^T D^{1/2}b`
    (:func:`scalinglab.numerics.least_squares_floor`), accurate to ~1e-9 relative where
    ``total − explained`` (the Gram route) is off by 7.6% (α = 3, N = 256; issue 10.7).
    The SVD of R keeps the small eigenvalues of K to relative accuracy (the Gram route squares
    the condition number). Cost O(v N^2 + N^3). ``W`` has shape ``(v, N)``, ``lam_x`` and ``b``
    shape ``(v,)``.
    """
    sqrt_d = np.sqrt(lam_x)
    A = np.multiply(W, sqrt_d[:, None], order="F")  # D^{1/2} W, (v, N), Fortran order for LAPACK
    floor, R, z = least_squares_floor(A, sqrt_d * b, overwrite_a=True)
    U_R, sigma, _ = np.linalg.svd(R)
    sigma, U_R = sigma[::-1], U_R[:, ::-1]  # ascending eigenvalues of K
    lam = np.maximum(sigma**2, np.finfo(np.float64).tiny)
    theta_star = (U_R.T @ z) / np.sqrt(lam)
    total = float(np.sum(lam_x * b**2))
    return ProjectedProblem(lam=lam, theta_star=theta_star, floor=floor, total=total)
