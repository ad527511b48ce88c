"""Per-point cost of the PLRF theory tiers: exact (one draw of W), de, asymptotic.

One (alpha, beta, N) point = one N, 100 checkpoints geomspace(1, 1e7), v = 10 N, B = 1,
lr_scale = 0.5, one core (BLAS threads pinned to 1 before numpy is imported). Times are CPU
seconds of this process (``time.process_time``), the minimum over repeats, so that other jobs on
a shared machine inflate them less than wall time would.

The exact tier's O(v N^2 + N^3) projection is measured at N <= 2000 and *extrapolated* to
N = 1e4 and 1e5 as c * v N^2 with c fitted on the measured sizes (its time loop, O(N) per block,
is measured at N = 1e3 and scaled linearly). Run:

    python bench/plrf_theory.py            # prints one JSON object
"""
from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scalinglab.models import _plrf_de as de  # noqa: E402
from scalinglab.models import plrf  # noqa: E402
from scalinglab.models.base import Point  # noqa: E402

POINTS = [(1.0, 0.6), (0.75, 0.25), (1.0, 2.0), (0.3, 0.8), (2.0, 0.3)]
SIZES = [1000, 10000, 100000]
T = next(t for n in range(100, 200) if (t := np.unique(np.geomspace(1, 1e7, n).astype(np.int64))).size >= 100)


def _cpu(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def bench_de_asymptotic(repeats: int = 5) -> dict:
    out: dict = {}
    params = plrf.Params(v_ratio=10.0, lr_scale=0.5)
    for a, b in POINTS:
        for N in SIZES:
            pt = Point(a, b, np.inf, np.array([float(N)]), T, params)
            out[f"alpha={a},beta={b},N={N}"] = {
                "de_s": _cpu(lambda: de.theory(pt, tier="de"), repeats),
                "asymptotic_s": _cpu(lambda: de.theory(pt, tier="asymptotic"), repeats),
            }
    # many N of one (alpha, beta) in one call (the time loop is vectorised over N)
    Ns = np.unique(np.round(np.geomspace(1e3, 1e5, 24)))
    pt = Point(1.0, 0.6, np.inf, Ns, T, params)
    out["alpha=1.0,beta=0.6,24 N in [1e3,1e5], one call"] = {"de_s": _cpu(lambda: de.theory(pt, tier="de"), 3)}
    return out


def bench_exact(repeats: int = 2) -> dict:
    params = plrf.Params(v_ratio=10.0, lr_scale=0.5)
    a, b = 1.0, 0.6
    setup, loop = {}, {}
    for N in (250, 500, 1000, 2000):
        rng = np.random.default_rng(0)
        setup[N] = _cpu(lambda: plrf.draw_problem(rng, a, b, N, params), repeats if N < 2000 else 1)
    prob = plrf.draw_problem(np.random.default_rng(0), a, b, 1000, params)
    gamma = plrf.learning_rate(a, 1000, params)
    loop[1000] = _cpu(lambda: plrf.exact_loss(prob, gamma, 1, T), repeats)
    Ns = np.array(sorted(setup), dtype=np.float64)
    c = float(np.median([setup[int(n)] / (10.0 * n**3) for n in Ns[-2:]]))
    out = {}
    for N in SIZES:
        measured = N in setup
        s = setup[N] if measured else c * 10.0 * N**3
        lp = loop[1000] * N / 1000.0
        out[f"N={N}"] = {"setup_s": s, "loop_s": lp, "total_per_draw_s": s + lp,
                         "setup": "measured" if measured else "extrapolated c*v*N^2",
                         "loop": "measured" if N == 1000 else "scaled from N=1000 (O(N) per block)"}
    out["measured_setup_s"] = {str(k): v for k, v in setup.items()}
    out["fitted_c_setup_per_vN2"] = c
    return out


def run_flow_bench() -> dict:
    """The 24 x 24 (alpha, beta) x 8 N ``de`` sweep (bench/specs/plrf_de_24x24.toml, 100
    checkpoints to t = 1e7) through the full flow: `scalinglab run` in a subprocess (its own
    Prefect server and local Ray), into a temporary store. Returns its wall times."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "de.zarr")
        start = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "flows.cli", "run", "bench/specs/plrf_de_24x24.toml", "--store",
                              store, "--no-progress", "--json"], cwd=repo, capture_output=True, text=True,
                             env={**os.environ, "PYTHONUNBUFFERED": "1"})
        total = time.perf_counter() - start
        if res.returncode != 0:
            raise RuntimeError(res.stdout + res.stderr)
        summary = json.loads(res.stdout[res.stdout.index("{"):])
    return {"points": 24 * 24 * 8, "blocks": summary["blocks_run"], "units_done": summary["units_done"],
            "command_wall_s": total, "flow_wall_s": summary["wall_seconds"],
            "sum_block_compute_s": summary["block_seconds"]}


def main() -> None:
    res = {
        "machine": {"python": platform.python_version(), "numpy": np.__version__, "cpu_count": os.cpu_count(),
                    "load_avg_at_start": os.getloadavg()},
        "setup": {"checkpoints": int(T.size), "t_max": int(T.max()), "v_ratio": 10.0, "lr_scale": 0.5, "batch": 1,
                  "timer": "process_time, min over repeats, BLAS threads = 1"},
        "de_and_asymptotic": bench_de_asymptotic(),
        "exact_one_draw": bench_exact(),
    }
    if "--flow" in sys.argv:
        res["flow_sweep_24x24x8_de"] = run_flow_bench()
    res["machine"]["load_avg_at_end"] = os.getloadavg()
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
