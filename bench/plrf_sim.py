"""PLRF simulation: fast (eigenbasis, exact in law) vs faithful (ambient x in R^v), same seeds.

Prints JSON with
- per-sample cost of each method at N = 1024, v = 10 N (set-up excluded by differencing two
  run lengths) and their ratio (target >= 100x);
- end-to-end wall time of a 10^5-step run at N = 256, v = 10 N, every set-up cost counted
  (drawing W, forming K = W^T D W, its eigendecomposition), and the ratio;
- agreement of the two loss curves (mean over seeds, window by window, in standard errors).

Run: .venv/bin/python bench/plrf_sim.py
"""
from __future__ import annotations

import json
import time

import numpy as np

from scalinglab.models import plrf
from scalinglab.models.base import Point


def _time(method: str, N: int, t: np.ndarray, seeds: int, base: int) -> tuple[float, np.ndarray]:
    pt = Point(1.0, 0.4, np.inf, [N], t, plrf.Params(v_ratio=10))
    rngs = [[np.random.default_rng([base, s]) for s in range(seeds)]]
    start = time.perf_counter()
    loss = plrf.simulate(pt, rngs, method=method).values["loss"][0]
    return time.perf_counter() - start, loss


def per_sample(method: str, N: int, short: int, long: int) -> float:
    """Seconds per SGD sample, set-up excluded: the projection is drawn once and reused
    (both run lengths then cost the same set-up, and the difference is pure stepping)."""
    params = plrf.Params(v_ratio=10)
    if method == "eigen":
        original, cached = plrf.draw_problem, plrf.draw_problem(np.random.default_rng(0), 1.0, 0.4, N, params)
        plrf.draw_problem = lambda *a, **k: cached
    else:
        original, cached = plrf.draw_ambient, plrf.draw_ambient(np.random.default_rng(0), 1.0, 0.4, N, params)
        plrf.draw_ambient = lambda *a, **k: cached
    try:
        t0, _ = _time(method, N, np.array([short]), 1, 1)
        t1, _ = _time(method, N, np.array([long]), 1, 1)
    finally:
        if method == "eigen":
            plrf.draw_problem = original
        else:
            plrf.draw_ambient = original
    return (t1 - t0) / (long - short)


def main() -> None:
    out: dict[str, object] = {"alpha": 1.0, "beta": 0.4, "v_ratio": 10}
    eig = per_sample("eigen", 1024, 2000, 22000)
    amb = per_sample("ambient", 1024, 200, 1200)
    out["per_sample_N1024"] = {"eigen_s": eig, "ambient_s": amb, "ratio": amb / eig}
    t = np.unique(np.round(np.geomspace(1, 100_000, 30)).astype(np.int64))
    seeds = 4
    te, le = _time("eigen", 256, t, seeds, 7)
    ta, la = _time("ambient", 256, t, seeds, 8)
    out["end_to_end_N256_t1e5"] = {"seeds": seeds, "eigen_s": te, "ambient_s": ta, "ratio": ta / te}
    windows = [(1, 100), (100, 1000), (1000, 10_000), (10_000, 100_001)]
    rows = []
    for lo, hi in windows:
        m = (t >= lo) & (t < hi)
        we, wa = le[:, m].mean(1), la[:, m].mean(1)
        se = np.sqrt(we.var(ddof=1) / seeds + wa.var(ddof=1) / seeds)
        rows.append({"t_window": [lo, hi], "eigen_mean": we.mean(), "ambient_mean": wa.mean(),
                     "rel_diff": wa.mean() / we.mean() - 1, "diff_in_se": (wa.mean() - we.mean()) / se})
    out["curve_agreement"] = rows
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
