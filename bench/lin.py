"""Benchmark of the LIN model (scalinglab.models.lin); prints one JSON dict.

    python bench/lin.py            # full (about a minute on 2 cores)
    python bench/lin.py --quick    # smaller sizes, for a smoke run

Measures (wall seconds, best of ``--repeat``):
- theory "exact" for one point: set-up (draw w*, S; Gram products; eigh of G) and the phase-wise
  recursion, N = 512, 30 geometric checkpoints up to 2^14, at a = 1.5 (d = 32768) and a = 2
  (d = 8192); and the "de" tier for the same point.
- simulation "eigen" vs "ambient" at N = 512, d = 32768 (a = 1.5), one seed, one run of horizon
  t = 2^14 (step decay). The ambient run is timed over ``--ambient-steps`` steps and extrapolated:
  setup + (2^14 / steps) * (time - setup); the output says so.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalinglab.models import lin  # noqa: E402
from scalinglab.models._lin_core import draw_setup, recursion, spectrum  # noqa: E402
from scalinglab.models.base import Point  # noqa: E402

INF = float("inf")


def best(fn, repeat: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--ambient-steps", type=int, default=1024)
    args = ap.parse_args()
    N = 128 if args.quick else 512
    T = 2**12 if args.quick else 2**14
    res: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
                    "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
                    "loadavg_1min": os.getloadavg()[0]},
        "N": N,
    }
    t = np.unique(np.geomspace(1, T, 30).astype(np.int64))
    # ---- theory ----------------------------------------------------------------------------
    for alpha in (0.75, 1.0):
        a = 2 * alpha
        d = lin.resolve_d(alpha, N)
        spec = spectrum(a, a, d)
        ts, st = best(lambda: draw_setup(np.random.default_rng(0), N, spec, prior=True), args.repeat)
        s2 = 1.0 + st.approx_prior + spec.tail
        tr, _ = best(lambda: recursion(st.mu, st.c0_prior, s2, 0.1, "step-decay", t), args.repeat)
        trc, _ = best(lambda: recursion(st.mu, st.c0_prior, s2, 0.1, "constant", t), args.repeat)
        pt = Point(alpha, 0.0, INF, [N], t, lin.Params())
        tde, _ = best(lambda: lin.theory(pt, tier="de"), args.repeat)
        res[f"theory_a{a:g}"] = {
            "d": d, "n_checkpoints": int(t.size), "t_max": int(T),
            "setup_s": round(ts, 4), "recursion_step_decay_s": round(tr, 4),
            "recursion_constant_s": round(trc, 4), "exact_total_s": round(ts + tr, 4),
            "de_s": round(tde, 4), "cost_estimate_exact_s": round(lin.cost(pt, "theory"), 4),
        }
    # ---- simulations -----------------------------------------------------------------------
    alpha = 0.75
    d = lin.resolve_d(alpha, N)
    spec = spectrum(2 * alpha, 2 * alpha, d)
    pt = Point(alpha, 0.0, INF, [N], [T], lin.Params())
    te, _ = best(lambda: lin.simulate(pt, [[np.random.default_rng(1)]], method="eigen"), args.repeat)
    tse, _ = best(lambda: draw_setup(np.random.default_rng(1), N, spec, prior=False), args.repeat)
    tsa, _ = best(lambda: draw_setup(np.random.default_rng(1), N, spec, prior=False, keep_S=True), args.repeat)
    k = min(args.ambient_steps, T)
    pts = Point(alpha, 0.0, INF, [N], [k], lin.Params())
    ta, _ = best(lambda: lin.simulate(pts, [[np.random.default_rng(1)]], method="ambient"), 1)
    ta_full = tsa + (T / k) * max(ta - tsa, 0.0)
    res["simulation"] = {
        "d": d, "t": int(T), "seeds": 1,
        "eigen_s": round(te, 4), "eigen_setup_s": round(tse, 4),
        "eigen_per_step_us": round(1e6 * (te - tse) / T, 2),
        "ambient_timed_steps": int(k), "ambient_timed_s": round(ta, 4), "ambient_setup_s": round(tsa, 4),
        "ambient_per_step_us": round(1e6 * (ta - tsa) / k, 2),
        "ambient_extrapolated_s": round(ta_full, 3),
        "ambient_note": f"ambient timed over {k} steps and extrapolated to {T}: setup + ({T}/{k}) * (time - setup)",
        "ratio_ambient_over_eigen": round(ta_full / te, 2),
        "ratio_per_step": round(((ta - tsa) / k) / ((te - tse) / T), 1),
        "cost_estimate_eigen_s": round(lin.cost(pt, "simulation"), 3),
        "cost_estimate_ambient_s": round(lin.cost(pt, "ambient"), 3),
    }
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
