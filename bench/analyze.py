"""Analysis speed: the analyze flow on a cube of 24 x 24 cells x 8 N x 100 t, and the query
time of one (alpha, beta) slice from a cube of >= 10^7 values (target < 1 s).

Both cubes are filled with synthetic power-law surfaces plus noise (written through the normal
storage.write_block path) so that the benchmark measures analysis and I/O, not the models.
Prints JSON. Run: .venv/bin/python bench/analyze.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _spec(store: str, methods: list[str], seeds: int, nt: int):
    from scalinglab.spec import parse_spec

    return parse_spec({"model": "plrf", "methods": methods, "seeds": seeds,
                       "grid": {"alpha": {"linspace": [0.6, 1.5], "num": 24}, "beta": {"linspace": [0.2, 1.4], "num": 24},
                                "N": {"geomspace": [128, 16384], "num": 8}, "P": ["inf"],
                                "t": {"geomspace": [1, 1e7], "num": nt}},
                       "params": {"theory": "de"}, "store": {"path": store}}, chunks=(1, 1, 8, 1))


def _fill(spec, store: str) -> float:
    import storage
    from scalinglab.compute import BlockResult

    rng = np.random.default_rng(0)
    storage.create_cube(spec, store)
    N, t = spec.N[:, None], spec.t[None, :].astype(float)
    start = time.perf_counter()
    for b in spec.blocks():
        (ia, ib, ip), = b.cells()
        r_t, r_N = 0.5 + 0.3 * spec.alpha[ia], 0.3 + 0.5 * spec.beta[ib]
        surface = 1e-4 + 2.0 * (1 + t) ** (-r_t) + 5.0 * N ** (-r_N)
        arrays = {}
        if "theory" in spec.methods:
            arrays["theory_loss"] = surface[None, None, :, None, :]
            arrays["theory_flag"] = np.zeros((1, 1, spec.N.size, 1, spec.t.size), np.int8)
        if "simulation" in spec.methods:
            noise = np.exp(0.05 * rng.standard_normal((spec.N.size, spec.seeds, spec.t.size)))
            arrays["sim_loss"] = (surface[:, None, :] * noise)[None, None, :, None]
        storage.write_block(store, b, BlockResult(arrays=arrays, wall_time=np.ones(b.shape)))
    return time.perf_counter() - start


def bench_analyze(tmp: Path) -> dict:
    """The analyze flow (local Ray, all cores) on 24 x 24 cells x 8 N x 100 t."""
    from flows.analyze import run_analysis

    store = str(tmp / "analyze.zarr")
    spec = _spec(store, ["theory"], 1, 100)
    out = {"cells": 576, "N": 8, "t": 100, "fill_s": _fill(spec, store)}
    start = time.perf_counter()
    summary = run_analysis(store, figures=False)
    out.update(analyze_wall_s=time.perf_counter() - start, cells_analyzed=summary["cells_analyzed"],
               errors=len(summary["errors"]), workers=os.cpu_count())
    return out


def bench_query(tmp: Path) -> dict:
    """One (alpha, beta) slice from a cube of 24 x 24 x 8 N x 110 t x (20 seeds + theory) values."""
    import storage

    big = str(tmp / "query.zarr")
    spec = _spec(big, ["theory", "simulation"], 20, 110)
    fill = _fill(spec, big)
    n_values = 24 * 24 * 8 * 110 * (20 + 1)
    start = time.perf_counter()
    ds = storage.open_cube(big)
    sl = ds.sel(alpha=spec.alpha[7], beta=spec.beta[11])[["theory_loss", "sim_loss"]].load()
    in_process = time.perf_counter() - start
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "flows.cli", "query", big, "--sel", f"alpha={float(spec.alpha[7])!r}",
                          "--sel", f"beta={float(spec.beta[11])!r}", "--var", "sim_loss", "--format", "csv"],
                         cwd=REPO, capture_output=True, text=True)
    cli = time.perf_counter() - start
    return {"values_in_cube": n_values, "fill_s": fill, "slice_values": int(sl.sim_loss.size + sl.theory_loss.size),
            "open_and_load_slice_s": in_process, "cli_query_csv_s_incl_python_start": cli, "cli_rc": res.returncode,
            "cli_rows": len(res.stdout.splitlines()) - 1}


def main() -> None:
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "--query-only" not in sys.argv:
            out["analyze_cube"] = bench_analyze(Path(tmp))
        out["query"] = bench_query(Path(tmp))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
