"""Benchmark of the BAP model (arXiv:2402.01092): theory cost per point and eigen route vs GD loop.

Run: ``python bench/bap.py`` (prints one JSON dict). Sizes: theory at (N, P) = (512, 1024) and
(1024, 1024) with M = 8192 and 60 checkpoints t = 1..1e5 (test + train loss, tier "dmft");
simulation at N = P = 1024, M = 8192, lr = 0.5, one seed, the same 60 checkpoints.

The step-by-step GD loop is timed for a fixed number of steps (``GD_STEPS``) and extrapolated
linearly to t_max = 1e5 steps; the output says so. Both simulation methods share the same
feature/projection draw (timed separately as ``draw_s``).
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalinglab.models import bap  # noqa: E402
from scalinglab.models.base import Point  # noqa: E402

ALPHA, BETA = 0.625, 0.125  # a = 1.5, b = 1.25
M = 8192
# 60 distinct checkpoints: every step to 10, then 50 geometric ones to 1e5
T = np.unique(np.concatenate([np.arange(1, 11), np.round(np.geomspace(11, 1e5, 50))])).astype(np.int64)
assert T.size == 60
GD_STEPS = 200
REPEATS = 2


def _best(fn, repeats: int = REPEATS) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> dict:
    params = bap.Params(M=M, lr=0.5)
    out: dict = {
        "model": "bap",
        "alpha": ALPHA,
        "beta": BETA,
        "M": M,
        "n_checkpoints": int(T.size),
        "t_max": int(T.max()),
        "talbot_nodes": params.talbot_nodes,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        "timing": f"best of {REPEATS} runs, seconds",
    }
    theory = {}
    for N, P in [(512, 1024), (1024, 1024)]:
        pt = Point(ALPHA, BETA, float(P), np.array([float(N)]), T, params)
        bap.check_domain(ALPHA, BETA, pt.N, pt.P, pt.t, params)
        sec, cv = _best(lambda: bap.theory(pt))
        theory[f"N={N},P={P}"] = {
            "seconds": round(sec, 3),
            "per_checkpoint_ms": round(1e3 * sec / T.size, 2),
            "flagged_loss": int(cv.flags["loss"].sum()),
            "cost_model_s": round(bap.cost(pt, "dmft"), 3),
        }
    out["theory_dmft_per_point"] = theory

    N = P = 1024
    pt = Point(ALPHA, BETA, float(P), np.array([float(N)]), T, params)
    bap.check_domain(ALPHA, BETA, pt.N, pt.P, pt.t, params)
    lam, ws = bap._dmft.spectrum(ALPHA, BETA, M)
    draw_s, d = _best(lambda: bap._Draw(np.random.default_rng(0), lam, ws, float(N), float(P), 1))
    eig_s, (le, lte) = _best(lambda: bap._sim_eigen(d, lam, ws, float(N), float(P), params.lr, T))
    t_gd = T[T <= GD_STEPS]
    gd_s, (lg, ltg) = _best(lambda: bap._sim_gd(d, lam, ws, float(N), float(P), params.lr, t_gd))
    per_step = gd_s / GD_STEPS
    gd_extrap = per_step * float(T.max())
    k = t_gd.size
    out["simulation_N=P=1024"] = {
        "draw_s (shared: Psi, A, Phi = Psi A^T/sqrt N)": round(draw_s, 3),
        "eigen_solve_s (all 60 checkpoints)": round(eig_s, 3),
        "eigen_total_s": round(draw_s + eig_s, 3),
        "gd_timed_steps": GD_STEPS,
        "gd_timed_s": round(gd_s, 3),
        "gd_per_step_ms": round(1e3 * per_step, 3),
        "gd_extrapolated_to_t_max_s (linear extrapolation, not run)": round(gd_extrap, 1),
        "gd_total_extrapolated_s": round(draw_s + gd_extrap, 1),
        "ratio_gd_over_eigen_total": round((draw_s + gd_extrap) / (draw_s + eig_s), 1),
        "ratio_gd_over_eigen_excluding_draw": round(gd_extrap / eig_s, 1),
        "max_rel_diff_eigen_vs_gd_first_steps": float(
            max(np.max(np.abs(le[:k] - lg) / lg), np.max(np.abs(lte[:k] - ltg) / ltg))
        ),
        "cost_model_eigen_s": round(bap.cost(pt, "eigen"), 3),
        "cost_model_gd_s": round(bap.cost(pt, "gd"), 1),
    }
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
