"""One-pass SGD simulations of the LIN model, faithful ("ambient") and reduced ("eigen").

Both draw, from each seed's generator and in this order: w* (d normals), the sketch S
(see :func:`scalinglab.models.lin.core.draw_setup`), then the data in chunks of ``CHUNK``
steps. The excess risk is evaluated in closed form at each checkpoint (no test set).

Runs. Step decay: one run per checkpoint t_k (its horizon), all runs of a seed fed the same
sample stream (common random numbers); each checkpoint has exactly the law of an independent
run with that horizon. Constant step: one run read at every checkpoint.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from scalinglab.errors import SpecError

from ..base import Curves, Point
from .core import Spectrum, draw_setup, gamma_table
from .params import METHODS, canonical
from .theory import _prepare


#: SGD steps whose data are drawn per generator call.
CHUNK = 256
#: Memory budget (bytes) for the sketches held at once by the ambient simulation.
AMBIENT_BYTES = 256 * 2**20


def _runs(t: np.ndarray, schedule: str) -> tuple[np.ndarray, np.ndarray]:
    """(horizons of the runs, run index read at each checkpoint)."""
    if schedule == "constant":
        return np.array([int(t.max())], dtype=np.int64), np.zeros(t.size, dtype=np.int64)
    return t.copy(), np.arange(t.size)


def _gammas(s: np.ndarray, horizons: np.ndarray, lr: float, schedule: str) -> np.ndarray:
    if schedule == "constant":
        return np.where(s[:, None] <= horizons[None, :], float(lr), 0.0)
    return gamma_table(s, horizons, lr)


def _drive(
    n_seed: int,
    t: np.ndarray,
    schedule: str,
    lr: float,
    N: int,
    draw_chunk,
    risk,
) -> np.ndarray:
    """Shared SGD loop over steps for a batch of seeds; V has shape (n_seed, n_runs, N).

    ``draw_chunk(s0, B) -> (Z, Y)`` with Z (n_seed, B, N) features and Y (n_seed, B) the
    residual targets such that the step is ``V += gamma (Y - <V, z>) z``; ``risk(V, runs)``
    gives the excess risk of runs ``runs`` (n_seed, len(runs)).
    """
    horizons, read = _runs(t, schedule)
    R = horizons.size
    V = np.zeros((n_seed, R, N))
    out = np.empty((n_seed, t.size))
    zero = np.flatnonzero(t == 0)
    if zero.size:
        out[:, zero] = risk(V, read[zero])
    T = int(t.max()) if t.size else 0
    # checkpoints by step (constant schedule reads run 0 at each t_k)
    ck: dict[int, list[int]] = {}
    for k, tk in enumerate(t):
        if tk > 0:
            ck.setdefault(int(tk), []).append(k)
    s0 = 1
    while s0 <= T:
        B = min(CHUNK, T - s0 + 1)
        Z, Y = draw_chunk(s0, CHUNK)  # whole chunks: a checkpoint's value does not depend on T
        svec = np.arange(s0, s0 + B)
        gam = _gammas(svec, horizons, lr, schedule)  # (B, R)
        for j in range(B):
            s = s0 + j
            # runs still active: horizons >= s (horizons sorted ascending)
            r0 = int(np.searchsorted(horizons, s, side="left"))
            z = Z[:, j, :]
            Va = V[:, r0:, :]
            res = Y[:, j][:, None] - np.matmul(Va, z[:, :, None])[..., 0]  # (n_seed, R - r0)
            Va += (gam[j, r0:][None, :] * res)[:, :, None] * z[:, None, :]
            if s in ck:
                ks = ck[s]
                out[:, ks] = risk(V, read[ks])
        s0 += B
    return out


def simulate_eigen(
    spec: Spectrum, N: int, rngs: Sequence[np.random.Generator], t: np.ndarray,
    sigma2: float, lr: float, schedule: str,
) -> np.ndarray:
    """Reduced simulation in G's eigenbasis, exact in law given (S, w*) (lin.md §6).

    z~ = sqrt(mu) * g,  y - <v~*, z~> = sqrt(sigma^2 + Approx(w*) + tau) * xi; O(N) per step.
    Excess risk = Approx(w*) + tau + sum_j mu_j (v~_j - v~*_j)^2. Works on e = v~ - v~*.

    Returns
    -------
    ndarray, shape (n_seed, n_t)
    """
    K = len(rngs)
    setups = [draw_setup(r, N, spec, prior=False) for r in rngs]
    mu = np.stack([s.mu for s in setups])
    smu = np.sqrt(mu)
    vstar = np.stack([s.vstar for s in setups])
    apx = np.array([s.approx_w for s in setups]) + spec.tail
    sd = np.sqrt(sigma2 + apx)
    horizons, _ = _runs(t, schedule)

    def draw_chunk(s0: int, B: int):
        Z = np.empty((K, B, N))
        Y = np.empty((K, B))
        for k, r in enumerate(rngs):
            Z[k] = r.standard_normal((B, N)) * smu[k]
            Y[k] = r.standard_normal(B) * sd[k]
        Y += np.einsum("kbn,kn->kb", Z, vstar)  # y = <v~*, z~> + xi; V holds v~ (from 0)
        return Z, Y

    def risk(V: np.ndarray, runs: np.ndarray) -> np.ndarray:
        e = V[:, runs, :] - vstar[:, None, :]
        return apx[:, None] + np.einsum("krn,kn->kr", e * e, mu)

    return _drive(K, t, schedule, lr, N, draw_chunk, risk)


def simulate_ambient(
    spec: Spectrum, N: int, rngs: Sequence[np.random.Generator], t: np.ndarray,
    sigma2: float, lr: float, schedule: str,
) -> np.ndarray:
    """Faithful simulation: x = sqrt(lambda) * g in R^d, z = S x, y = <x, w*> + sqrt(sigma^2 + tau) xi.

    O(N d) per step (the features of a chunk are one batched GEMM). Excess risk
    sum_{i<=d} lambda_i (S^T v - w*)_i^2 + tau. Seeds are processed in groups whose sketches
    fit in ``AMBIENT_BYTES``.

    Returns
    -------
    ndarray, shape (n_seed, n_t)
    """
    K = len(rngs)
    d = spec.d
    out = np.empty((K, t.size))
    per = max(1, int(AMBIENT_BYTES // (8 * d * (N + CHUNK))))  # sketches + one chunk of x
    sl = np.sqrt(spec.lam)
    sd = np.sqrt(sigma2 + spec.tail)
    for g0 in range(0, K, per):
        grp = list(rngs[g0:g0 + per])
        G = len(grp)
        setups = [draw_setup(r, N, spec, prior=False, keep_S=True) for r in grp]
        S = np.stack([s.S for s in setups])  # (G, N, d)
        W = np.stack([s.w for s in setups])  # (G, d)
        for s in setups:
            s.S = None
        St = S.transpose(0, 2, 1)

        def draw_chunk(s0: int, B: int):
            X = np.empty((G, B, d))
            noise = np.empty((G, B))
            for k, r in enumerate(grp):
                X[k] = r.standard_normal((B, d)) * sl
                noise[k] = r.standard_normal(B) * sd
            Z = np.matmul(X, St)  # (G, B, N)
            Y = np.matmul(X, W[:, :, None])[..., 0] + noise
            return Z, Y

        def risk(V: np.ndarray, runs: np.ndarray) -> np.ndarray:
            diff = np.matmul(V[:, runs, :], S) - W[:, None, :]  # (G, r, d)
            return np.einsum("grd,d->gr", diff * diff, spec.lam) + spec.tail

        out[g0:g0 + G] = _drive(G, t, schedule, lr, N, draw_chunk, risk)
    return out


def simulate(point: Point, rngs: Sequence[Sequence[np.random.Generator]], *, method: str | None = None) -> Curves:
    """Excess risk R(v_t) - sigma^2 of simulated one-pass SGD, shape (n_N, n_seed, n_t).

    Parameters
    ----------
    point : Point
    rngs : rngs[i][s]
        Draws w*, S and the data for N index i, seed s (in that order).
    method : {"eigen", "ambient"}
        "eigen": the reduced simulation in G's eigenbasis (exact in law, O(N) per step).
        "ambient": the faithful simulation with x in R^d (O(N d) per step).

    Notes
    -----
    Step decay: one run per checkpoint horizon, the runs of one seed sharing its sample stream
    (each checkpoint has the law of an independent run). Constant step: one run.
    """
    params, Ns, t, spec = _prepare(point)
    method = canonical(method or params.simulation)
    if method not in METHODS:
        raise SpecError("lin.simulate", "method", method, f"one of {list(METHODS)}")
    if len(rngs) != Ns.size:
        raise SpecError("lin.simulate", "rngs", f"{len(rngs)} lists", f"one list of generators per N ({Ns.size})")
    n_seed = len(rngs[0]) if len(rngs) else 0
    if any(len(r) != n_seed for r in rngs) or n_seed < 1:
        raise SpecError("lin.simulate", "rngs", [len(r) for r in rngs], "the same number (>= 1) of seeds for every N")
    fn = simulate_eigen if method == "eigen" else simulate_ambient
    loss = np.empty((Ns.size, n_seed, t.size))
    for i, N in enumerate(Ns):
        loss[i] = fn(spec, int(N), rngs[i], t, params.sigma2, params.lr, params.schedule)
    return Curves(values={"loss": loss}, source=method)


