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

__all__ = ["simulate", "simulate_runs", "draw_ambient", "data_streams"]

def _record(t: np.ndarray) -> tuple[int, dict[int, list[int]]]:
    where: dict[int, list[int]] = {}
    for i, r in enumerate(np.asarray(t, dtype=np.int64)):
        where.setdefault(int(r), []).append(i)
    return int(np.max(t)), where


def data_streams(rng: np.random.Generator, replicas: int) -> list[np.random.Generator]:
    """The data streams of one seed's ``replicas`` SGD runs, given its generator after W was drawn.

    Replica 0 continues ``rng`` itself (so ``replicas = 1`` is the single run of earlier versions,
    bit for bit); replicas 1.. are ``rng.spawn(replicas - 1)``, independent children of the seed's
    seed sequence (they depend on the seed's key, not on how much of ``rng`` was consumed).
    """
    return [rng, *rng.spawn(replicas - 1)] if replicas > 1 else [rng]


def _simulate_eigen(point: Point, rngs: Sequence[Sequence[np.random.Generator]], chunk: int = 512) -> np.ndarray:
    """All (N, seed, replica) runs of one point in one padded batch; loss (n_N, n_seed, replicas, n_t)."""
    p: Params = point.params
    B, R = p.batch, p.replicas
    n_N, n_seed = point.N.size, len(rngs[0])
    n_max = int(point.N.max())
    runs = n_N * n_seed * R  # run k = (i * n_seed + s) * R + r
    sqrt_lam = np.zeros((runs, n_max))
    lam = np.zeros((runs, n_max))
    err = np.zeros((runs, n_max))  # e = theta - theta*, in K's eigenbasis
    noise_sd = np.zeros(runs)
    floor = np.zeros(runs)
    gamma = np.zeros(runs)
    sizes = np.zeros(runs, dtype=np.int64)
    gens: list[np.random.Generator] = []
    for i, N in enumerate(point.N):
        for s in range(n_seed):
            prob = draw_problem(rngs[i][s], point.alpha, point.beta, int(N), p)
            gens.extend(data_streams(rngs[i][s], R))
            n = int(N)
            k = slice((i * n_seed + s) * R, (i * n_seed + s + 1) * R)
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
    # runs-major buffers: each run's chunk is written in one contiguous block (its padded modes stay 0)
    x_all = np.zeros((runs, chunk, B, n_max))
    e_all = np.empty((runs, chunk, B))
    step = gamma[:, None]
    while r < t_max:
        m = min(chunk, t_max - r)
        # Draw each run's stream from its own generator: W first (above), then (xi, eps) per chunk of
        # `chunk` steps. Always whole chunks, so the numbers at a checkpoint do not depend on t_max.
        for k, g in enumerate(gens):
            n = sizes[k]
            x_all[k, :, :, :n] = g.standard_normal((chunk, B, n)) * sqrt_lam[k, :n]
            e_all[k] = g.standard_normal((chunk, B)) * noise_sd[k]
        if B == 1:
            for j in range(m):
                x = x_all[:, j, 0, :]
                resid = np.einsum("kn,kn->k", x, err) - e_all[:, j, 0]
                err -= (step * resid[:, None]) * x
                r += 1
                if r in where:
                    out[:, where[r]] = (floor + np.einsum("kn,kn->k", lam, err * err))[:, None]
        else:
            for j in range(m):
                x = x_all[:, j]  # (runs, B, n_max)
                resid = np.einsum("kbn,kn->kb", x, err) - e_all[:, j]
                err -= step * np.einsum("kb,kbn->kn", resid, x)
                r += 1
                if r in where:
                    out[:, where[r]] = (floor + np.einsum("kn,kn->k", lam, err * err))[:, None]
    return out.reshape(n_N, n_seed, R, point.t.size)


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
    """The faithful simulation, x in R^v; loss in closed form; O(vN) per sample.
    Loss (n_N, n_seed, replicas, n_t)."""
    p: Params = point.params
    B, R = p.batch, p.replicas
    n_seed = len(rngs[0])
    out = np.empty((point.N.size, n_seed, R, point.t.size))
    t_max, where = _record(point.t)
    for i, N in enumerate(point.N):
        n, v = int(N), ambient_dim(N, p)
        lam_x, b = powerlaw_eigenvalues(point.alpha, v), powerlaw_target(point.beta, v)
        sd_x = np.sqrt(lam_x)
        gamma = learning_rate(point.alpha, N, p)
        drawn = [draw_ambient(rngs[i][s], point.alpha, point.beta, n, p) for s in range(n_seed)]
        gens = [data_streams(rngs[i][s], R) for s in range(n_seed)]
        Ws, Ks, cs = (np.stack([d[k] for d in drawn]) for k in range(3))  # (S, v, n), (S, n, n), (S, n)
        total = float(np.sum(lam_x * b**2))
        theta = np.zeros((n_seed, R, n))

        def loss() -> np.ndarray:
            return np.einsum("srn,snm,srm->sr", theta, Ks, theta) - 2 * np.einsum("sn,srn->sr", cs, theta) + total

        if 0 in where:
            out[i][..., where[0]] = loss()[..., None]
        r = 0
        while r < t_max:
            m = min(chunk, t_max - r)
            z = np.stack([np.stack([g.standard_normal((m, B, v)) for g in gens[s]], axis=1)
                          for s in range(n_seed)], axis=1)  # (m, S, R, B, v)
            x = z * sd_x
            y = x @ b  # (m, S, R, B)
            feats = np.einsum("msrbv,svn->msrbn", x, Ws)
            for j in range(m):
                f = feats[j]
                resid = np.einsum("srbn,srn->srb", f, theta) - y[j]
                theta -= gamma * np.einsum("srb,srbn->srn", resid, f)
                r += 1
                if r in where:
                    out[i][..., where[r]] = loss()[..., None]
    return out


def simulate_runs(point: Point, rngs: Sequence[Sequence[np.random.Generator]], *, method: str | None = None
                  ) -> np.ndarray:
    """Every SGD run's loss, shape ``(n_N, n_seed, replicas, n_t)``; ``rngs[i][s]`` draws W, then the
    data stream of replica 0 (:func:`data_streams` for the others)."""
    method = method or point.params.simulation
    if method == "eigen":
        return _simulate_eigen(point, rngs)
    if method == "ambient":
        return _simulate_ambient(point, rngs)
    raise SpecError("spec.params", "simulation", method, f"one of {METHODS}")


def simulate(point: Point, rngs: Sequence[Sequence[np.random.Generator]], *, method: str | None = None) -> Curves:
    """SGD loss curves, shape ``(n_N, n_seed, n_t)``: seed s's loss is the mean of its ``replicas`` runs
    on W_s (:func:`simulate_runs`); with ``replicas = R > 1`` also ``loss_se``, that mean's standard
    error over the data streams given W_s, :math:`\operatorname{sd}_r(L_{s,r})/\sqrt R` (ddof 1, R - 1 dof).
    The residual map's paired z uses it (:func:`scalinglab.analysis.residuals.residual_map`)."""
    method = method or point.params.simulation
    runs = simulate_runs(point, rngs, method=method)
    values = {"loss": runs.mean(axis=2)}
    if runs.shape[2] > 1:
        values["loss_se"] = runs.std(axis=2, ddof=1) / np.sqrt(runs.shape[2])
    return Curves(values, source=method)
