r"""BAP simulations: discrete full-batch GD, in closed form (``closed_form``) or step by step (``gd``).

See :mod:`scalinglab.models.bap` and ``docs/theory/bap.md`` §1.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from scalinglab.errors import SpecError

from ..base import Curves, Point
from . import dmft as _dmft
from .params import ALIASES, SIM_METHODS, _DRAW_BLOCK, _resolved, _where

__all__ = ["simulate"]


class _Draw:
    """One realisation: data Ψ (P x M, Gaussian) and E projections A (N x M), shared by both methods.

    Draw order (the random stream): for each column block of ``_DRAW_BLOCK`` features,
    Z (P x block) if P is finite, then A_e (N x block) for e = 1..E if N is finite.
    Stored: ``A`` (E, N, M); ``Phi`` (E, P, D) with Φ = ΨAᵀ/√N (or Ψ if N = inf);
    ``y = Ψ w*`` (P,).
    """

    def __init__(self, rng: np.random.Generator, lam: np.ndarray, ws: np.ndarray, N: float, P: float, E: int):
        M = lam.size
        finN, finP = math.isfinite(N), math.isfinite(P)
        self.E = E if finN else 1  # without projection all members coincide
        n, pp = (int(N) if finN else 0), (int(P) if finP else 0)
        sq = np.sqrt(lam)
        self.A = np.empty((self.E, n, M)) if finN else None
        D = n if finN else M
        self.Phi = np.zeros((self.E, pp, D)) if finP else None
        self.y = np.zeros(pp) if finP else None
        for b0 in range(0, M, _DRAW_BLOCK):
            sl = slice(b0, min(M, b0 + _DRAW_BLOCK))
            Psi_b = None
            if finP:
                Psi_b = rng.standard_normal((pp, sl.stop - b0)) * sq[sl]
                self.y += Psi_b @ ws[sl]
                if not finN:
                    self.Phi[0][:, sl] = Psi_b
            if finN:
                for e in range(self.E):
                    A_b = rng.standard_normal((n, sl.stop - b0))
                    self.A[e][:, sl] = A_b
                    if finP:
                        self.Phi[e] += Psi_b @ A_b.T
        if finN and finP:
            self.Phi /= math.sqrt(n)


def _one_minus_pow(q: np.ndarray, t: np.ndarray) -> np.ndarray:
    """1 - q^t for q (r,) and integer t (n_t,), accurate when q is close to 1. Shape (r, n_t)."""
    tt = t.astype(np.float64)[None, :]
    qq = q[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        stable = -np.expm1(tt * np.log1p(qq - 1.0))
    return np.where(qq > 0, stable, 1.0 - np.power(qq, tt))


def _sim_eigen(d: _Draw, lam: np.ndarray, ws: np.ndarray, N: float, P: float, lr: float, t: np.ndarray):
    """Closed-form discrete GD at all checkpoints via the eigendecomposition of the smaller Gram matrix.

    GD is w <- w - 2 lr Xᵀ(Xw - y') with X = Φ/√P, y' = y/√P (finite P) or
    X = Λ^{1/2}Aᵀ/√N, y' = Λ^{1/2} w* (P = inf), X of shape (rows, D). With e the
    eigenvalues of XᵀX (equivalently of XXᵀ), q = 1 - 2 lr e and g_t(e) = (1 - q^t)/e
    (-> 2 lr t as e -> 0):

    * rows >= D: XᵀX = V diag(e) Vᵀ, w_t = V g_t(e) Vᵀ Xᵀy', residual y' - X w_t;
    * rows < D:  XXᵀ = U diag(e) Uᵀ, w_t = Xᵀ U g_t(e) Uᵀy', residual
      (I - UUᵀ)y' + U q^t Uᵀy'.
    """
    finN, finP = math.isfinite(N), math.isfinite(P)
    sq = np.sqrt(lam)
    M, nt = lam.size, t.size
    tt = t.astype(np.float64)[None, :]
    v_mean = np.zeros((M, nt))
    r_mean = np.zeros((int(P), nt)) if finP else None
    for e_idx in range(d.E):
        if finP:
            X = d.Phi[e_idx] / math.sqrt(P)
            yp = d.y / math.sqrt(P)
        else:
            X = (d.A[e_idx] * sq).T / math.sqrt(N)
            yp = sq * ws
        rows, D = X.shape
        dual = rows < D
        ev, Q = np.linalg.eigh(X @ X.T if dual else X.T @ X)
        ev = np.maximum(ev, 0.0)
        q = 1.0 - 2.0 * lr * ev
        om = _one_minus_pow(q, t)  # (r, n_t)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(ev[:, None] > 0, om / ev[:, None], 2.0 * lr * tt)
        if dual:
            z = Q.T @ yp
            W = X.T @ (Q @ (g * z[:, None]))  # (D, n_t)
            res = (yp - Q @ z)[:, None] + Q @ (z[:, None] * np.power(q[:, None], tt)) if finP else None
        else:
            W = Q @ (g * (Q.T @ (X.T @ yp))[:, None])
            res = yp[:, None] - X @ W if finP else None
        v_mean += (ws[:, None] - (d.A[e_idx].T @ W) / math.sqrt(N)) if finN else (ws[:, None] - W)
        if finP:
            r_mean += res
    v_mean /= d.E
    loss = np.einsum("k,kt->t", lam, v_mean**2)
    if finP:
        r_mean /= d.E
        train = np.sum(r_mean**2, axis=0)
    else:
        train = np.full(nt, np.nan)
    return loss, train


def _sim_gd(d: _Draw, lam: np.ndarray, ws: np.ndarray, N: float, P: float, lr: float, t: np.ndarray):
    """The reference: plain step-by-step GD, w <- w - lr (2/P) Φᵀ(Φw - y), for each member.

    P = inf: w <- w - 2 lr A Λ (Aᵀw/√N - w*)/√N (population gradient).
    """
    finN, finP = math.isfinite(N), math.isfinite(P)
    M, nt = lam.size, t.size
    t_max = int(t.max()) if nt else 0
    pos = {int(tt): np.nonzero(t == tt)[0] for tt in np.unique(t)}
    Ws = []
    for e in range(d.E):
        D = int(N) if finN else M
        w = np.zeros(D)
        W = np.zeros((D, nt))  # columns for t = 0 stay 0
        if finP:
            Phi, y = d.Phi[e], d.y
            for step in range(1, t_max + 1):
                w = w - lr * (2.0 / P) * (Phi.T @ (Phi @ w - y))
                if step in pos:
                    W[:, pos[step]] = w[:, None]
        else:
            A = d.A[e]
            sN = math.sqrt(N)
            for step in range(1, t_max + 1):
                w = w - 2.0 * lr * (A @ (lam * (A.T @ w / sN - ws))) / sN
                if step in pos:
                    W[:, pos[step]] = w[:, None]
        Ws.append(W)
    if finN:
        fx = sum(d.A[e].T @ Ws[e] for e in range(d.E)) / (d.E * math.sqrt(N))
    else:
        fx = sum(Ws) / d.E
    v = ws[:, None] - fx
    loss = np.einsum("k,kt->t", lam, v**2)
    if finP:
        res = d.y[:, None] - sum(d.Phi[e] @ Ws[e] for e in range(d.E)) / d.E
        train = np.sum(res**2, axis=0) / P
    else:
        train = np.full(nt, np.nan)
    return loss, train


def simulate(point: Point, rngs: Sequence[Sequence[np.random.Generator]], *, method: str | None = None) -> Curves:
    r"""Discrete full-batch GD on P Gaussian samples through random projections; shape ``(n_N, n_seed, n_t)``.

    The simulation is the discrete-step algorithm exactly (GD step t, learning rate lr);
    the theory is gradient flow at τ = 2·lr·t. They agree after about 10 steps.

    Parameters
    ----------
    point : Point
        Grid cell; ``params.M`` features (None: :func:`resolve_M`), ``params.ensemble`` members.
    rngs : sequence of sequences of numpy.random.Generator
        ``rngs[i][s]`` draws the data Ψ and the projections A for N index i, seed s.
    method : {"closed_form", "gd"}, optional (default: the params' method)
        ``"closed_form"`` (old name ``"eigen"``): all checkpoints at once from the eigendecomposition of the smaller
        Gram matrix of the design (the factor :math:`(1-2\,\mathrm{lr}\,e)^t` per eigenvalue
        e of ΦᵀΦ/P), cost O(E(P M N + P N min(P,N) + M N n_t)). ``"gd"``: the step-by-step loop, cost
        O(E P N t_max); the reference. Same rngs give the same numbers (to round-off).

    Returns
    -------
    Curves
        ``loss`` (test, :math:`v^T\Lambda v`) and ``train_loss`` (:math:`\|y-\Phi w\|^2/P`;
        NaN for P = inf). For E > 1 the members' predictors are averaged.
    """
    method = method or getattr(point.params, "simulation", "closed_form")
    method = ALIASES.get(method, method)
    if method not in SIM_METHODS:
        raise SpecError(_where("simulate"), "method", method, f"one of {tuple(SIM_METHODS)}")
    Ns, P, t = point.N, float(point.P), point.t
    p = _resolved(point.params, Ns, P, t, point.alpha)
    lam, ws = _dmft.spectrum(point.alpha, point.beta, int(p.M))
    n_seed = len(rngs[0]) if len(rngs) else 0
    loss = np.empty((Ns.size, n_seed, t.size))
    train = np.empty_like(loss)
    fn = _sim_eigen if method == "closed_form" else _sim_gd
    for i, n in enumerate(Ns):
        for s in range(n_seed):
            if math.isinf(n) and math.isinf(P):
                # no randomness: v_k(t) = w*_k (1 - 2 lr lam_k)^t exactly
                v = ws[:, None] * np.power(1.0 - 2.0 * p.lr * lam[:, None], t.astype(np.float64)[None, :])
                loss[i, s], train[i, s] = lam @ v**2, np.nan
                continue
            d = _Draw(rngs[i][s], lam, ws, float(n), P, p.ensemble)
            loss[i, s], train[i, s] = fn(d, lam, ws, float(n), P, p.lr, t)
    return Curves(values={"loss": loss, "train_loss": train}, source=method)
