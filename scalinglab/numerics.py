r"""Numerics shared by the models, each written once and tested once (``tests/test_numerics.py``).

* :func:`power_sum` and :func:`sum_nodes`: :math:`\sum_{j\le v} j^{-s}` and quadrature nodes for
  smooth sums over j ≤ v (PLRF's learning rate, the deterministic equivalents).
* :func:`solve_df`: the effective regularisation κ with :math:`\mathrm{df}(\kappa) = n`
  (PLRF's τ = 1/κ, BAP's late-time κ, LIN's ridge equivalent), vectorised with
  :func:`scipy.optimize.elementwise.find_root`.
* :func:`geometric_block_sums`: the closed-form sums that advance a linear recursion with a
  piecewise-linear forcing by h steps at once (PLRF's exact tier and its deterministic
  equivalent).
* :func:`least_squares_floor` and :class:`StreamingQR`: the best loss reachable in the span of a
  projection, as the *sum of the tail* of :math:`Q^\top u` (Householder QR), never as a
  difference of two nearly equal totals (issue 10.7; ``docs/theory/CONVENTIONS.md``).

numpy/scipy only.
"""
from __future__ import annotations

import functools
import math

import numpy as np

# scipy is imported where used (scipy.optimize alone is ~0.4 s of every CLI start otherwise)

__all__ = [
    "power_sum", "sum_nodes", "solve_df", "projection_error", "root_in_log", "geometric_block_sums", "least_squares_floor", "StreamingQR",
    "EXACT_SUM_MAX",
]

#: :func:`power_sum` sums exactly up to this v and uses :func:`sum_nodes` above.
EXACT_SUM_MAX = 2**20


# --------------------------------------------------------------------------------------------
# Sums over j <= v
# --------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=512)
def sum_nodes(v: int, J0: int = 48, panel: float = 0.5, order: int = 8) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes x and weights w with :math:`\sum_{j=1}^{v} f(j) \approx \sum_i w_i f(x_i)` for smooth f.

    Exact terms j ≤ J0; the tail by the midpoint Euler–Maclaurin formula
    :math:`\sum_{j=a}^{b} f(j) = \int_{a-1/2}^{b+1/2} f - \tfrac1{24}[f']_{a-1/2}^{b+1/2} + \dots`,
    with the integral by composite Gauss–Legendre in log x (``order`` nodes per panel of width
    ``panel``) and f' by a one-step difference (folded into the weights of x = J0, J0+1, v, v+1).
    O(log v) nodes; relative error ~1e-10 for power laws.
    """
    v = int(v)
    if v <= J0 + 16:
        x = np.arange(1, v + 1, dtype=np.float64)
        w = np.ones(v)
    else:
        gx, gw = np.polynomial.legendre.leggauss(order)
        lo, hi = np.log(J0 + 0.5), np.log(v + 0.5)
        n_pan = max(1, int(np.ceil((hi - lo) / panel)))
        edges = np.linspace(lo, hi, n_pan + 1)
        half = 0.5 * np.diff(edges)
        mid = 0.5 * (edges[1:] + edges[:-1])
        s = (mid[:, None] + half[:, None] * gx[None, :]).ravel()
        ws = (half[:, None] * gw[None, :]).ravel()
        xt = np.exp(s)
        x = np.concatenate([np.arange(1, J0 + 2, dtype=np.float64), xt, [float(v), float(v) + 1.0]])
        w = np.concatenate([np.ones(J0 + 1), ws * xt, [1.0 / 24.0, -1.0 / 24.0]])
        w[J0 - 1] -= 1.0 / 24.0  # x = J0
        w[J0] = 1.0 / 24.0       # x = J0 + 1 (only the derivative correction)
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


@functools.lru_cache(maxsize=4096)
def power_sum(exponent: float, v: int) -> float:
    r""":math:`\sum_{j=1}^{v} j^{-s}`, ``s = exponent``.

    Exact float64 summation for v ≤ :data:`EXACT_SUM_MAX` (2^20), the :func:`sum_nodes`
    quadrature above (relative error ≲ 1e-9, O(log v) work). Cached: spec validation evaluates
    it for every grid point.
    """
    v = int(v)
    if v <= EXACT_SUM_MAX:
        return float(np.sum(np.arange(1, v + 1, dtype=np.float64) ** (-float(exponent))))
    x, w = sum_nodes(v)
    return float(w @ x ** (-float(exponent)))


# --------------------------------------------------------------------------------------------
# df(kappa) = n
# --------------------------------------------------------------------------------------------

def solve_df(lam: np.ndarray, target, weights: np.ndarray | None = None) -> np.ndarray:
    r"""κ ≥ 0 with :math:`\mathrm{df}(\kappa) = \sum_k w_k \lambda_k/(\lambda_k + \kappa) = n`.

    df decreases from :math:`\sum_k w_k` (κ = 0) to 0, so the root is unique for
    0 < n < Σw; it is 0 where n ≥ Σw. Solved in log κ by Chandrupatla's method
    (:func:`scipy.optimize.elementwise.find_root`) for all targets at once, to ~1e-14 relative.

    Parameters
    ----------
    lam : ndarray, shape (K,)
        Positive eigenvalues λ_k.
    target : float or ndarray, shape (n,)
        Degrees of freedom n.
    weights : ndarray, shape (K,), optional
        Multiplicities (quadrature weights :func:`sum_nodes`); default 1.

    Returns
    -------
    ndarray of target's shape (a 0-d array for a scalar target).
    """
    lam = np.asarray(lam, dtype=np.float64)
    w = np.ones_like(lam) if weights is None else np.asarray(weights, dtype=np.float64)
    wl = w * lam
    n = np.asarray(target, dtype=np.float64)
    total = float(w.sum())
    out = np.zeros(n.shape)
    live = n < total
    if not np.any(live):
        return out
    nl = n[live]
    from scipy.optimize import elementwise as _elementwise

    def f(u: np.ndarray, nn: np.ndarray) -> np.ndarray:
        kap = np.exp(u)
        return (wl / (lam + kap[..., None])).sum(axis=-1) - nn

    hi = np.full(nl.shape, math.log(float(wl.sum()) / float(np.min(nl))) + 2.0)
    lo = np.full(nl.shape, math.log(float(lam.min())) - 40.0)
    while np.any(f(lo, nl) < 0):  # df(e^lo) must exceed n
        lo = np.where(f(lo, nl) < 0, lo - 100.0, lo)
    res = _elementwise.find_root(f, (lo, hi), args=(nl,), tolerances={"xatol": 1e-14, "xrtol": 1e-15, "fatol": 0.0,
                                                                        "frtol": 0.0})
    out[live] = np.exp(res.x)
    return out


def projection_error(lam: np.ndarray, power: np.ndarray, n: float, weights: np.ndarray | None = None,
                     kappa: float | None = None) -> float:
    r"""The deterministic-equivalent error of the best rank-n fit: :math:`\kappa\sum_k w_k p_k/(\lambda_k+\kappa)`.

    κ solves :math:`\mathrm{df}(\kappa) = n` (:func:`solve_df`; pass ``kappa`` if known), ``power`` is the
    target power per mode :math:`p_k = \lambda_k w^{*2}_k`. The same number is PLRF's floor F0
    (:math:`\sum_j \lambda_j b_j^2/(1+\tau\lambda_j)`, τ = 1/κ), BAP's late-time projection error and LIN's
    ridge-equivalent E Approx (:math:`\kappa T_1`). Exact 0 when n ≥ Σw (κ = 0).
    """
    lam = np.asarray(lam, dtype=np.float64)
    w = np.ones_like(lam) if weights is None else np.asarray(weights, dtype=np.float64)
    k = float(solve_df(lam, float(n), weights=w)) if kappa is None else float(kappa)
    return float(k * np.sum(w * np.asarray(power, dtype=np.float64) / (lam + k)))


def root_in_log(fun, lo, hi, args: tuple = ()) -> np.ndarray:
    r"""Roots x in (lo, hi) of a monotone ``fun`` (elementwise over arrays), found in log x.

    :func:`scipy.optimize.elementwise.find_root` (Chandrupatla) on u = log x, to ~1e-14
    relative; ``fun(lo, *args)`` and ``fun(hi, *args)`` must have opposite signs elementwise.
    ``args`` are arrays broadcastable with lo (find_root passes ``fun`` only the unconverged
    elements, with the matching elements of ``args``).
    """
    from scipy.optimize import elementwise as _elementwise

    llo = np.log(np.asarray(lo, dtype=np.float64))
    lhi = np.log(np.asarray(hi, dtype=np.float64))
    llo, lhi, *args = np.broadcast_arrays(llo, lhi, *args)
    res = _elementwise.find_root(lambda u, *a: fun(np.exp(u), *a), (llo, lhi), args=tuple(args),
                                 tolerances={"xatol": 1e-14, "xrtol": 1e-15, "fatol": 0.0, "frtol": 0.0})
    return np.exp(res.x)


# --------------------------------------------------------------------------------------------
# Time integration
# --------------------------------------------------------------------------------------------

def geometric_block_sums(q: np.ndarray, log_g: np.ndarray, h, small: float = 1e-3):
    r"""The sums that advance :math:`y(r+1) = g\,y(r) + c\,P(r)` by h steps with P linear across the block.

    With :math:`g = 1 - q`,

    .. math::

        y(r+h) = g^h y(r) + c\,[P_0 S_0 + (P_1 - P_0) S_1/h],\qquad
        S_0 = \sum_{i<h} g^i = \frac{1-g^h}{1-g},\quad S_1 = \sum_{i<h} i\,g^{h-1-i} = \frac{h - S_0}{1-g},

    and :math:`S_1 \approx \tfrac12 h(h-1)(1 - q(h-2)/3)` where :math:`|q|h` < ``small`` (no
    cancellation). Real or complex q; ``log_g`` = log(1 − q) computed accurately by the caller.

    Returns
    -------
    (g^h, S0, S1), arrays of the broadcast shape of q and h.
    """
    hl = h * log_g
    gh = np.exp(hl)
    S0 = -np.expm1(hl) / q
    tiny = np.abs(q) * h < small
    S1 = np.where(tiny, 0.5 * h * (h - 1.0) * (1.0 - q * (h - 2.0) / 3.0), (h - S0) / np.where(tiny, 1.0, q))
    return gh, S0, S1


# --------------------------------------------------------------------------------------------
# Least-squares floors without cancellation
# --------------------------------------------------------------------------------------------

def _qr_apply(A: np.ndarray, Y: np.ndarray, overwrite_a: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Householder QR of A (m×n, m ≥ n) and Qᵀ Y (m×k); returns (R, QᵀY)."""
    from scipy.linalg import lapack as _lapack

    qr, tau, _, info = _lapack.dgeqrf(np.asfortranarray(A), lwork=max(1, A.shape[1]) * 64,  # blocked
                                      overwrite_a=int(overwrite_a))
    if info != 0:
        raise np.linalg.LinAlgError(f"dgeqrf info={info}")
    lwork = max(1, Y.shape[1]) * 64 + 64
    QtY, _, info = _lapack.dormqr(b"L", b"T", qr, tau, np.asfortranarray(Y), lwork)
    if info != 0:
        raise np.linalg.LinAlgError(f"dormqr info={info}")
    return np.triu(qr[: A.shape[1]]), QtY


def least_squares_floor(A: np.ndarray, u: np.ndarray, overwrite_a: bool = False) -> tuple[float, np.ndarray, np.ndarray]:
    r"""The residual :math:`\min_\theta\|u - A\theta\|^2` as the sum of the tail of :math:`Q^\top u`.

    .. math::

        A = Q\binom{R}{0},\qquad \min_\theta\|u - A\theta\|^2 = \sum_{k>n} (Q^\top u)_k^2 .

    Householder QR is row-wise backward stable on row-graded matrices with rows in decreasing
    norm (power-law features, j = 1, 2, …), so the floor keeps its relative accuracy even when
    it is 10^-15 of ‖u‖² (``total − explained`` loses it all: 7.6% off at α = 3, N = 256).

    Parameters
    ----------
    A : ndarray, shape (m, n), m ≥ n
    u : ndarray, shape (m,)
    overwrite_a : bool
        Let LAPACK work in A's memory (pass a Fortran-ordered array you no longer need).

    Returns
    -------
    floor : float
    R : ndarray, shape (n, n)
        Upper triangular, :math:`A^\top A = R^\top R`.
    z : ndarray, shape (n,)
        The head :math:`(Q^\top u)_{k\le n}`, so :math:`A^\top u = R^\top z`.
    """
    m, n = A.shape
    if m < n:
        raise ValueError(f"least_squares_floor: A has {m} rows < {n} columns")
    R, QtY = _qr_apply(A, np.asarray(u, dtype=np.float64).reshape(m, 1), overwrite_a)
    tail = QtY[n:, 0]
    return float(tail @ tail), R, QtY[:n, 0].copy()


class StreamingQR:
    r"""Householder QR of a tall matrix given as row blocks, with right-hand sides.

    Keeps :math:`R` (n×n), the head :math:`Z = (Q^\top Y)_{k\le n}` (n×k) and the residual sum of
    squares of every right-hand-side column, accumulated as sums of tails (each block:
    QR of :math:`\binom{R}{A_b}` applied to :math:`\binom{Z}{Y_b}`). Memory O(n² + block);
    cost O(rows · n · (n + k)). Used where the matrix is too large to hold (LIN's d×N sketch).
    """

    def __init__(self, n: int, k: int) -> None:
        self.n, self.k = int(n), int(k)
        self.R = np.zeros((self.n, self.n))
        self.Z = np.zeros((self.n, self.k))
        self.rss = np.zeros(self.k)

    def add(self, A_b: np.ndarray, Y_b: np.ndarray) -> None:
        """Append rows ``A_b`` (m×n) with right-hand sides ``Y_b`` (m×k)."""
        stacked = np.vstack([self.R, A_b])
        rhs = np.vstack([self.Z, np.asarray(Y_b, dtype=np.float64).reshape(A_b.shape[0], self.k)])
        R, QtY = _qr_apply(np.asfortranarray(stacked), rhs, overwrite_a=True)
        self.R, self.Z = R, QtY[: self.n].copy()
        tail = QtY[self.n:]
        self.rss += np.einsum("ik,ik->k", tail, tail)
