"""Cold start of the command line: each command run in a fresh interpreter, N times.

Goal (issue 14): `--help`, `plan`, `status`, `query` under 1 s; `fit`, `frontier`, `plot` under
3 s. The store is a small PLRF cube (2 x 2 cells x 4 N x 41 t, theory and 4 simulation seeds)
filled with synthetic power-law surfaces through the normal writer, so the commands measure
start-up, not the models. Baseline in the same run: `python -c pass` and `python -c "import
numpy"`; each command's median is also given as a ratio to the `import numpy` baseline. No
stored analysis: `fit`, `frontier` and `plot` fit the selected cell as a user's first call does.

Prints JSON. Run: .venv/bin/python bench/cold_start.py [--repeats 5] [--importtime]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

GOALS = {"--help": 1.0, "plan": 1.0, "status": 1.0, "query": 1.0, "fit": 3.0, "frontier": 3.0, "plot": 3.0}


def make_cube(store: str) -> None:
    """A small done cube written in this process (not timed)."""
    import numpy as np

    import storage
    from scalinglab.compute import BlockResult
    from scalinglab.spec import parse_spec

    spec = parse_spec({"model": "plrf", "methods": ["theory", "simulation"], "seeds": 4,
                       "grid": {"alpha": [0.8, 1.0], "beta": [0.3, 0.6], "N": {"geomspace": [64, 512], "num": 4},
                                "P": ["inf"], "t": {"geomspace": [1, 100000], "num": 41}},
                       "params": {"theory": "de"}, "store": {"path": store}}, chunks=(1, 1, 4, 1))
    storage.create_cube(spec, store)
    rng = np.random.default_rng(0)
    N, t = spec.N[:, None].astype(float), spec.t[None, :].astype(float)
    for b in spec.blocks():
        (ia, ib, ip), = b.cells()
        r_t, r_N = 0.5 + 0.3 * spec.alpha[ia], 0.3 + 0.5 * spec.beta[ib]
        surface = 1e-4 + 2.0 * (1 + t) ** (-r_t) + 5.0 * N ** (-r_N)
        noise = np.exp(0.05 * rng.standard_normal((spec.N.size, spec.seeds, spec.t.size)))
        arrays = {"theory_loss": surface[None, None, :, None, :],
                  "theory_flag": np.zeros((1, 1, spec.N.size, 1, spec.t.size), np.int8),
                  "sim_loss": (surface[:, None, :] * noise)[None, None, :, None]}
        storage.write_block(store, b, BlockResult(arrays=arrays, wall_time=np.ones(b.shape)))


def commands(store: str, out_png: str) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "flows.cli"]  # the `scalinglab` script, from this checkout (cwd first on sys.path)
    cell = ["--sel", "alpha=0.8", "--sel", "beta=0.3"]
    return {
        "--help": cli + ["--help"],
        "plan": cli + ["plan", str(REPO / "examples" / "quickstart.toml")],
        "status": cli + ["status", store],
        "query": cli + ["query", store, *cell, "--sel", "t=100000", "--var", "theory_loss"],
        "fit": cli + ["fit", store, *cell],
        "frontier": cli + ["frontier", store, *cell],
        "plot": cli + ["plot", store, *cell, "--kind", "curves", "--out", out_png],
    }


def timed(cmd: list[str], repeats: int) -> dict:
    times, rc = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        rc = res.returncode
        if rc not in (0, 1):  # 1: a cell not measurable is reported, still a real cold start
            raise SystemExit(f"{' '.join(cmd)} exited {rc}: {res.stderr.strip()[-500:]}")
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3), "rc": rc}


def heaviest_imports(cmd: list[str], top: int = 8) -> dict[str, float]:
    """Import time per top-level package (the self time of all its modules, `-X importtime`), one run."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    totals: dict[str, int] = {}
    for line in res.stderr.splitlines():
        parts = line[len("import time:"):].split("|") if line.startswith("import time:") else []
        if len(parts) == 3 and parts[0].strip().isdigit():
            package = parts[2].strip().split(".")[0]
            totals[package] = totals.get(package, 0) + int(parts[0])
    out = {k: round(v / 1e6, 3) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])[:top]}
    out["(all imports)"] = round(sum(totals.values()) / 1e6, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="cold runs per command (median reported)")
    ap.add_argument("--importtime", action="store_true", help="also list each command's heaviest imports")
    args = ap.parse_args()
    out: dict = {"benchmark": "cold start of each CLI command (fresh interpreter per run)",
                 "goal_s": GOALS, "repeats": args.repeats, "loadavg": Path("/proc/loadavg").read_text().split()[:3]
                 if Path("/proc/loadavg").exists() else None}
    baseline = {"python -c pass": [sys.executable, "-c", "pass"],
                "python -c 'import numpy'": [sys.executable, "-c", "import numpy"]}
    out["baseline"] = {k: timed(v, args.repeats) for k, v in baseline.items()}
    numpy_s = out["baseline"]["python -c 'import numpy'"]["median_s"]
    with tempfile.TemporaryDirectory(dir=os.environ.get("SCALINGLAB_BENCH_TMP")) as d:
        store = str(Path(d) / "cold.zarr")
        make_cube(store)
        results = {}
        for name, cmd in commands(store, str(Path(d) / "plot.png")).items():
            r = timed(cmd, args.repeats)
            r["ratio_to_import_numpy"] = round(r["median_s"] / numpy_s, 1)
            r["within_goal"] = r["median_s"] < GOALS[name]
            if args.importtime:
                r["heaviest_imports_s"] = heaviest_imports(cmd)
            results[name] = r
    out["commands"] = results
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
