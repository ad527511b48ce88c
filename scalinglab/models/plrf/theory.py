r"""PLRF theory tier ``exact_given_draw``: the exact expected SGD loss given a drawn projection W.

Per-mode recursion of ``docs/theory/plrf.md`` §3, advanced on a geometric time grid
(:func:`scalinglab.numerics.geometric_block_sums`). See :mod:`scalinglab.models.plrf`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from scalinglab.errors import SpecError
from scalinglab.numerics import geometric_block_sums

from ..base import Curves, Point, geometric_steps
from ..spectra import ProjectedProblem, powerlaw_eigenvalues, powerlaw_target, project
from .params import TIERS, Params, ambient_dim, canonical_tier, learning_rate

__all__ = ["draw_problem", "kernel_norm", "loss_floor", "exact_loss", "theory", "paired_theory"]

def draw_problem(rng: np.random.Generator, alpha: float, beta: float, N: int, params: Params) -> ProjectedProblem:
    """Draw W (v×N, iid N(0, 1/N)) from ``rng`` and reduce to K's eigenbasis."""
    v = ambient_dim(N, params)
    W = rng.standard_normal((v, int(N))) / np.sqrt(N)
    return project(W, powerlaw_eigenvalues(alpha, v), powerlaw_target(beta, v))


def _g(lam: np.ndarray, gamma: float, B: int) -> np.ndarray:
    r""":math:`g(\lambda) = 1 - 2\gamma B\lambda + \gamma^2 B(B+1)\lambda^2` (always > 0)."""
    return 1.0 - 2.0 * gamma * B * lam + gamma**2 * B * (B + 1) * lam**2


def kernel_norm(lam: np.ndarray, gamma: float, B: int) -> float:
    r""":math:`\|\mathcal K\|_1 = \sum_r \mathcal K(r) = \sum_k \gamma\lambda_k/(2-\gamma(B+1)\lambda_k)`."""
    return float(np.sum(gamma * lam / (2.0 - gamma * (B + 1) * lam)))


def loss_floor(problem: ProjectedProblem, gamma: float, B: int) -> float:
    r"""Limit of the expected loss: :math:`\mathcal P(\infty) = \mathcal P^*/(1-\|\mathcal K\|_1)`."""
    return problem.floor / (1.0 - kernel_norm(problem.lam, gamma, B))


def exact_loss(problem: ProjectedProblem, gamma: float, B: int, t: np.ndarray,
               rel_step: float = 0.005, exact_until: int = 512) -> np.ndarray:
    r"""Expected SGD loss :math:`\mathcal P(r)` given W, at checkpoints ``t``.

    Per-mode recursion (docs/theory/plrf.md §3):

    .. math::

        y_k(r+1) = g_k\, y_k(r) + \gamma^2 B \lambda_k \mathcal P(r),\qquad
        \mathcal P(r) = \mathcal P^* + \sum_k \lambda_k y_k(r),\quad y_k(0) = (u_k^T\theta^*)^2.

    It is advanced exactly (h = 1) up to ``exact_until``, then by blocks of h ≈ rel_step·r
    steps with :math:`\mathcal P` linear across the block, which gives closed-form geometric
    sums and a scalar implicit equation for the new :math:`\mathcal P`:

    .. math::

        y_k(r+h) = g_k^h y_k + \gamma^2 B\lambda_k\big[P_0 S_0 + (P_1 - P_0) S_1/h\big],\quad
        S_0 = \tfrac{1-g^h}{1-g},\ S_1 = \tfrac{h-S_0}{1-g}.

    Cost O(N) per block, O(N (exact_until + log(t_max)/rel_step)) per curve.

    Returns
    -------
    ndarray, shape (n_t,)
    """
    t = np.asarray(t, dtype=np.int64)
    lam = problem.lam
    q = 2.0 * gamma * B * lam - gamma**2 * B * (B + 1) * lam**2  # 1 - g, in (0, 1]
    log_g = np.log1p(-q)
    coef = gamma**2 * B * lam
    y = problem.theta_star**2
    P_star = problem.floor
    P = problem.total
    out = np.empty(t.shape, dtype=np.float64)
    want = {int(r): i for i, r in enumerate(t)}
    if 0 in want:
        out[[i for i, r in enumerate(t) if r == 0]] = P
    r = 0
    cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for h in geometric_steps(t, rel_step=rel_step, exact_until=exact_until):
        h = int(h)
        if h not in cache:
            sums = geometric_block_sums(q, log_g, float(h))
            cache = {h: sums} if len(cache) > 64 else {**cache, h: sums}
        gh, S0, S1 = cache[h]
        base = gh * y + coef * P * (S0 - S1 / h)
        slope = coef * S1 / h
        P_new = (P_star + lam @ base) / (1.0 - lam @ slope)
        y = base + slope * P_new
        P = P_new
        r += h
        if r in want:
            out[t == r] = P
    return out


def _theory_exact(point: Point, rngs: Sequence[np.random.Generator]) -> Curves:
    p: Params = point.params
    loss = np.empty((point.N.size, point.t.size))
    for i, N in enumerate(point.N):
        gamma = learning_rate(point.alpha, N, p)
        curves = []
        for _ in range(p.draws):
            prob = draw_problem(rngs[i], point.alpha, point.beta, int(N), p)
            knorm = kernel_norm(prob.lam, gamma, p.batch)
            if not (knorm < 1 and gamma * (p.batch + 1) * prob.lam.max() < 2):
                raise ArithmeticError(f"the expected SGD loss diverges for this draw of W at N={N:g}: kernel norm "
                                      f"{knorm:.3f} >= 1 or gamma(B+1)lambda_max >= 2; lower lr_scale or batch")
            curves.append(exact_loss(prob, gamma, p.batch, point.t))
        loss[i] = np.mean(curves, axis=0)
    return Curves({"loss": loss}, source="exact_given_draw")


def theory(point: Point, *, tier: str | None = None, rngs: Sequence[np.random.Generator] | None = None) -> Curves:
    """Expected loss curves, shape ``(n_N, n_t)``, from the chosen tier (default: the params' tier)."""
    tier = canonical_tier(tier or point.params.theory)
    if tier == "exact_given_draw":
        if rngs is None:
            raise ValueError("the exact_given_draw tier draws W: pass one numpy Generator per N in `rngs`")
        return _theory_exact(point, rngs)
    if tier in ("deterministic_equivalent", "asymptotic"):
        from . import de

        return de.theory(point, tier=tier)
    raise SpecError("spec.params", "theory", tier, f"one of {tuple(TIERS)}")


def paired_theory(point: Point, rngs: Sequence[Sequence[np.random.Generator]], *, tier: str | None = None) -> Curves:
    """The ``exact_given_draw`` tier for exactly the W each simulation seed trains on (issue 10.2).

    ``rngs[i][s]`` is (a fresh copy of) the generator simulation seed s of N index i uses: it draws W
    first, so :func:`draw_problem` on it gives that seed's W. ``draws`` is ignored: the seeds are the
    draws, and the mean over seeds is the W-averaged theory. Shape ``(n_N, n_seed, n_t)``.
    """
    tier = canonical_tier(tier or "exact_given_draw")
    if tier != "exact_given_draw":
        raise SpecError("spec.params", "theory", tier, "'exact_given_draw' (the only PLRF tier that is random given W)")
    p: Params = point.params
    n_seed = len(rngs[0])
    loss = np.empty((point.N.size, n_seed, point.t.size))
    for i, N in enumerate(point.N):
        gamma = learning_rate(point.alpha, N, p)
        for s in range(n_seed):
            prob = draw_problem(rngs[i][s], point.alpha, point.beta, int(N), p)
            loss[i, s] = exact_loss(prob, gamma, p.batch, point.t)
    return Curves({"loss": loss}, source="exact_given_draw")
