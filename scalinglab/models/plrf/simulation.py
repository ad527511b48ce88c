r"""PLRF simulations: one-pass SGD in K's eigenbasis (``eigen``, exact in law) or with x in R^v (``ambient``).

See :mod:`scalinglab.models.plrf` and ``docs/theory/plrf.md`` §2.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from scalinglab.errors import SpecError

from ..base import Curves, Point
from ..spectra import powerlaw_eigenvalues, powerlaw_target
from .params import METHODS, Params, ambient_dim, learning_rate
from .theory import draw_problem

__all__ = ["simulate", "draw_ambient"]

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
        # Draw each run's stream from its own generator: W first (above), then (xi, eps) per chunk of
        # `chunk` steps. Always whole chunks, so the numbers at a checkpoint do not depend on t_max.
        for k in range(runs):
            g = rngs[k // n_seed][k % n_seed]
            xi[:, k, :, : sizes[k]] = g.standard_normal((chunk, B, sizes[k]))
            eps[:, k, :] = g.standard_normal((chunk, B))
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

