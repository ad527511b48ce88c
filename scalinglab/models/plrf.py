r"""PLRF: power-law random features trained by one-pass SGD.

Paquette, Paquette, Xiao, Pennington, "4+3 Phases of Compute-Optimal Neural Scaling Laws",
arXiv:2405.15074 (NeurIPS 2024). Notes: ``shared/theory/plrf.md``.

.. math::

    x_j = j^{-\alpha} z_j,\quad y = \langle x, b\rangle,\ b_j = j^{-\beta},\quad
    W \in \mathbb R^{v\times N},\ W_{ij}\sim N(0, 1/N),

    \theta_{r+1} = \theta_r - \gamma \sum_{i=1}^{B} W^T x_i(\langle W^T x_i,\theta_r\rangle - y_i),
    \qquad \mathcal P(\theta) = E_x(\langle W^T x,\theta\rangle - y)^2 \ (\text{no } 1/2).

Symbols: project ``N`` is the paper's d, ``t`` its r; ``v = v_ratio * N``;
:math:`\gamma = \text{lr\_scale} / \sum_{j\le v} j^{-2\alpha}`; ``C = N t B``.

Methods
-------
theory, tier ``"exact"``
    The exact expected loss given a drawn W: the per-mode recursion of plrf.md §3
    (with the Gaussian fourth-moment factor B(B+1)), advanced on a geometric time grid,
    averaged over ``draws`` projections.
theory, tiers ``"de"`` and ``"asymptotic"``
    Sampling-free deterministic equivalent and the asymptotic terms (plrf.md §3–§4),
    in :mod:`scalinglab.models._plrf_de`.
simulate, method ``"eigen"``
    SGD run in the eigenbasis of K = WᵀDW, exact in law (plrf.md §2), O(N) per sample.
simulate, method ``"ambient"``
    The faithful simulation with x in R^v, O(vN) per sample: the reference.
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from scalinglab.errors import DomainError, SpecError

from .base import Curves, Point, geometric_steps
from .spectra import ProjectedProblem, power_sum, powerlaw_eigenvalues, powerlaw_target, project

__all__ = [
    "NAME", "Params", "check_domain", "theory_variables", "sim_variables", "theory", "simulate",
    "cost", "learning_rate", "ambient_dim", "draw_problem", "exact_loss", "loss_floor",
    "kernel_norm", "max_lr_scale",
]

NAME = "plrf"
TIERS = ("exact", "de", "asymptotic")
METHODS = ("eigen", "ambient")


class Params(BaseModel):
    """PLRF parameters (the spec's ``[params]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v_ratio: float = Field(10.0, gt=1.0, description="ambient dimension v = round(v_ratio * N); v > N (plrf.md §7.2)")
    lr_scale: float = Field(0.5, gt=0.0, description="gamma = lr_scale / sum_{j<=v} j^(-2 alpha)")
    batch: int = Field(1, ge=1, le=4096, description="SGD batch size B (the gradient is a sum over the batch)")
    draws: int = Field(1, ge=1, le=1024, description="projections W averaged by the exact theory tier")
    theory: Literal["exact", "de", "asymptotic"] = Field("exact", description="theory tier")
    simulation: Literal["eigen", "ambient"] = Field("eigen", description="simulation method")


def ambient_dim(N: float, params: Params) -> int:
    """v = round(v_ratio * N)."""
    return int(round(params.v_ratio * float(N)))


def learning_rate(alpha: float, N: float, params: Params) -> float:
    r""":math:`\gamma = \text{lr\_scale}/\sum_{j=1}^{v} j^{-2\alpha}` (the authors' choice, plrf.md §1)."""
    return params.lr_scale / power_sum(2.0 * alpha, ambient_dim(N, params))


def max_lr_scale(alpha: float, N: float, params: Params) -> float:
    r"""Largest stable ``lr_scale`` (estimate used at spec validation).

    With :math:`\operatorname{tr} K \approx \operatorname{tr} D` and the (generous)
    edge estimate :math:`\lambda_{max}(K) \lesssim (1 + \sqrt{\operatorname{tr} D / N})^2`, the kernel norm
    :math:`\|\mathcal K\|_1 = \sum_k \gamma\lambda_k/(2-\gamma(B+1)\lambda_k)` is below 1 when
    :math:`c < 2/(1 + (B+1)\lambda_{max}/\operatorname{tr}D)` (plrf.md §1, §7.4). The exact
    check, with the drawn spectrum, is :func:`kernel_norm`.
    """
    tr = power_sum(2.0 * alpha, ambient_dim(N, params))
    lam_max = (1.0 + np.sqrt(tr / float(N))) ** 2
    return 2.0 / (1.0 + (params.batch + 1) * lam_max / tr)


def check_domain(alpha: float, beta: float, N: float, P: float, t: int, params: Params) -> None:
    """Raise :class:`DomainError` when a grid point lies outside PLRF's domain."""
    if not 2.0 * (alpha + beta) > 1.0:
        raise DomainError("spec.grid", "(alpha, beta)", (alpha, beta), "2(alpha+beta) > 1 (finite target norm)")
    if not alpha > 0:
        raise DomainError("spec.grid", "alpha", alpha, "a float in (0, inf)")
    if not np.isinf(P):
        raise DomainError("spec.grid", "P", P, "inf (PLRF is one-pass SGD)", "Use P = [\"inf\"]")
    if not np.isfinite(N) or N < 1:
        raise DomainError("spec.grid", "N", N, "a finite integer >= 1")
    if ambient_dim(N, params) <= N:
        raise SpecError("spec.params", "v_ratio", params.v_ratio, "v = v_ratio*N > N")
    bound = max_lr_scale(alpha, N, params)
    if params.lr_scale >= bound:
        raise SpecError(
            "spec.params", "lr_scale", params.lr_scale,
            f"a float in (0, {bound:.3g}) at alpha={alpha:g}, N={N:g}, batch={params.batch} "
            "(stability: kernel norm < 1, plrf.md §1)", "Lower lr_scale or batch",
        )


def theory_variables(params: Params) -> tuple[str, ...]:
    if params.theory == "asymptotic":
        from ._plrf_de import ASYMPTOTIC_TERMS

        return ("loss", *ASYMPTOTIC_TERMS)
    return ("loss",)


def sim_variables(params: Params) -> tuple[str, ...]:
    return ("loss",)


# --------------------------------------------------------------------------------------------
# The exact expected loss given W (plrf.md §3)
# --------------------------------------------------------------------------------------------

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

    Per-mode recursion (plrf.md §3):

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
            gh = np.exp(h * log_g)
            S0 = -np.expm1(h * log_g) / q
            small = q * h < 1e-3
            S1 = np.where(small, 0.5 * h * (h - 1) * (1.0 - q * (h - 2) / 3.0),
                          (h - S0) / np.where(small, 1.0, q))
            cache = {h: (gh, S0, S1)} if len(cache) > 64 else {**cache, h: (gh, S0, S1)}
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
    return Curves({"loss": loss}, source="exact")


def theory(point: Point, *, tier: str | None = None, rngs: Sequence[np.random.Generator] | None = None) -> Curves:
    """Expected loss curves, shape ``(n_N, n_t)``, from the chosen tier (default: the params' tier)."""
    tier = tier or point.params.theory
    if tier == "exact":
        if rngs is None:
            raise ValueError("the exact tier draws W: pass one numpy Generator per N in `rngs`")
        return _theory_exact(point, rngs)
    if tier in ("de", "asymptotic"):
        from . import _plrf_de

        return _plrf_de.theory(point, tier=tier)
    raise SpecError("spec.params", "theory", tier, f"one of {TIERS}")


# --------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------

def _record(t: np.ndarray) -> tuple[int, dict[int, list[int]]]:
    where: dict[int, list[int]] = {}
    for i, r in enumerate(np.asarray(t, dtype=np.int64)):
        where.setdefault(int(r), []).append(i)
    return int(np.max(t)), where


def _simulate_eigen(point: Point, rngs: Sequence[Sequence[np.random.Generator]], chunk: int = 512) -> np.ndarray:
    """All (N, seed) runs of one point in one padded batch; returns loss (n_N, n_seed, n_t)."""
    p: Params = point.params
    B = p.batch
    n_N, n_seed = point.N.size, len(rngs[0])
    n_max = int(point.N.max())
    runs = n_N * n_seed
    sqrt_lam = np.zeros((runs, n_max))
    lam = np.zeros((runs, n_max))
    err = np.zeros((runs, n_max))  # e = theta - theta*, in K's eigenbasis
    noise_sd = np.zeros(runs)
    floor = np.zeros(runs)
    gamma = np.zeros(runs)
    sizes = np.zeros(runs, dtype=np.int64)
    for i, N in enumerate(point.N):
        for s in range(n_seed):
            k = i * n_seed + s
            prob = draw_problem(rngs[i][s], point.alpha, point.beta, int(N), p)
            n = int(N)
            lam[k, :n], sqrt_lam[k, :n] = prob.lam, np.sqrt(prob.lam)
            err[k, :n] = -prob.theta_star
            noise_sd[k], floor[k] = np.sqrt(prob.floor), prob.floor
            gamma[k] = learning_rate(point.alpha, N, p)
            sizes[k] = n
    t_max, where = _record(point.t)
    out = np.empty((runs, point.t.size))
    if 0 in where:
        out[:, where[0]] = (floor + np.sum(lam * err**2, axis=1))[:, None]
    r = 0
    xi = np.zeros((chunk, runs, B, n_max))  # padded modes stay 0 (and have lambda = 0)
    eps = np.empty((chunk, runs, B))
    step = gamma[:, None]
    while r < t_max:
        m = min(chunk, t_max - r)
        # Draw each run's stream from its own generator: W first (above), then (xi, eps) per step.
        for k in range(runs):
            g = rngs[k // n_seed][k % n_seed]
            xi[:m, k, :, : sizes[k]] = g.standard_normal((m, B, sizes[k]))
            eps[:m, k, :] = g.standard_normal((m, B))
        x_all = xi[:m] * sqrt_lam[None, :, None, :]
        e_all = eps[:m] * noise_sd[None, :, None]
        if B == 1:
            x1, e1 = x_all[:, :, 0, :], e_all[:, :, 0]
            for j in range(m):
                x = x1[j]
                resid = np.einsum("kn,kn->k", x, err) - e1[j]
                err -= (step * resid[:, None]) * x
                r += 1
                if r in where:
                    out[:, where[r]] = (floor + np.einsum("kn,kn->k", lam, err * err))[:, None]
        else:
            for j in range(m):
                x = x_all[j]  # (runs, B, n_max)
                resid = np.einsum("kbn,kn->kb", x, err) - e_all[j]
                err -= step * np.einsum("kb,kbn->kn", resid, x)
                r += 1
                if r in where:
                    out[:, where[r]] = (floor + np.einsum("kn,kn->k", lam, err * err))[:, None]
    return out.reshape(n_N, n_seed, point.t.size)


def draw_ambient(rng: np.random.Generator, alpha: float, beta: float, N: int,
                 params: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw W (v×N, iid N(0, 1/N)) exactly as :func:`draw_problem` does; return
    (W, K = WᵀDW, c = WᵀDb) for the closed-form loss θᵀKθ − 2cᵀθ + Σ_j λ_j b_j²."""
    v = ambient_dim(N, params)
    W = rng.standard_normal((v, int(N))) / np.sqrt(N)
    lam_x, b = powerlaw_eigenvalues(alpha, v), powerlaw_target(beta, v)
    A = W * np.sqrt(lam_x)[:, None]
    return W, A.T @ A, W.T @ (lam_x * b)


def _simulate_ambient(point: Point, rngs: Sequence[Sequence[np.random.Generator]], chunk: int = 256) -> np.ndarray:
    """The faithful simulation, x in R^v; loss in closed form; O(vN) per sample."""
    p: Params = point.params
    B = p.batch
    n_seed = len(rngs[0])
    out = np.empty((point.N.size, n_seed, point.t.size))
    t_max, where = _record(point.t)
    for i, N in enumerate(point.N):
        n, v = int(N), ambient_dim(N, p)
        lam_x, b = powerlaw_eigenvalues(point.alpha, v), powerlaw_target(point.beta, v)
        sd_x = np.sqrt(lam_x)
        gamma = learning_rate(point.alpha, N, p)
        drawn = [draw_ambient(rngs[i][s], point.alpha, point.beta, n, p) for s in range(n_seed)]
        Ws, Ks, cs = (np.stack([d[k] for d in drawn]) for k in range(3))  # (S, v, n), (S, n, n), (S, n)
        total = float(np.sum(lam_x * b**2))
        theta = np.zeros((n_seed, n))

        def loss() -> np.ndarray:
            return np.einsum("sn,snm,sm->s", theta, Ks, theta) - 2 * np.einsum("sn,sn->s", cs, theta) + total

        if 0 in where:
            out[i][:, where[0]] = loss()[:, None]
        r = 0
        while r < t_max:
            m = min(chunk, t_max - r)
            z = np.stack([rngs[i][s].standard_normal((m, B, v)) for s in range(n_seed)], axis=1)  # (m, S, B, v)
            x = z * sd_x
            y = x @ b  # (m, S, B)
            feats = np.einsum("msbv,svn->msbn", x, Ws)
            for j in range(m):
                f = feats[j]
                resid = np.einsum("sbn,sn->sb", f, theta) - y[j]
                theta -= gamma * np.einsum("sb,sbn->sn", resid, f)
                r += 1
                if r in where:
                    out[i][:, where[r]] = loss()[:, None]
    return out


def simulate(point: Point, rngs: Sequence[Sequence[np.random.Generator]], *, method: str | None = None) -> Curves:
    """SGD loss curves, shape ``(n_N, n_seed, n_t)``; ``rngs[i][s]`` draws W, then the data stream."""
    method = method or point.params.simulation
    if method == "eigen":
        return Curves({"loss": _simulate_eigen(point, rngs)}, source="eigen")
    if method == "ambient":
        return Curves({"loss": _simulate_ambient(point, rngs)}, source="ambient")
    raise SpecError("spec.params", "simulation", method, f"one of {METHODS}")


def cost(point: Point, method: str) -> float:
    """Rough wall-time (s) of one point on one core: projections O(vN^2) plus the time loop."""
    p: Params = point.params
    N = point.N.astype(float)
    setup = float(np.sum(p.v_ratio * N**3)) * 2e-10
    t_max = float(point.t.max())
    if method == "theory":
        if p.theory == "exact":
            steps = 512 + np.log(max(t_max, 512) / 512) / 0.005
            return p.draws * (setup + float(np.sum(steps * (N * 2e-8 + 2e-5))))
        return 0.01 * N.size
    per_step = 8e-6 + 2e-9 * float(np.sum(N)) * p.batch
    if p.simulation == "ambient":
        per_step += 2e-9 * float(np.sum(p.v_ratio * N**2)) * p.batch
    return setup + t_max * per_step
