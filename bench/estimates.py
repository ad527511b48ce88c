"""Do `plan`'s estimates hold? Estimated against measured wall time of `scalinglab run`, per model.

For each spec below (one per model and tier family, each a real small sweep), `scalinglab
plan --json --num-cpus 2` gives the estimate (fixed start-up + blocks scheduled on 2
workers), then `scalinglab run --json` runs it as a user would on a fresh machine (its own
Prefect server and Ray). Reports estimate / actual for the whole command and for the
compute part (dispatch wall), and estimated / measured block compute (the cost model).
Goal: within 2x either way.

Prints JSON. Run: .venv/bin/python bench/estimates.py
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SPECS = {
    "plrf-quickstart": "examples/quickstart.toml",
    "plrf-de": """model = "plrf"\nmethods = ["theory"]\n[grid]\nalpha = {linspace = [0.6, 1.6], num = 6}
beta = {linspace = [0.2, 1.2], num = 6}\nN = {geomspace = [100, 100000], num = 8}\nt = {geomspace = [1, 1e7], num = 60}
[params]\ntheory = "deterministic_equivalent"\n""",
    "bap": """model = "bap"\nmethods = ["theory", "simulation"]\nseeds = 4\n[grid]\nalpha = [0.75]\nbeta = [0.25, 0.5]
N = [64, 128, 256]\nP = [256, 1024, "inf"]\nt = {geomspace = [1, 10000], num = 30}\n""",
    "lin": """model = "lin"\nmethods = ["theory", "simulation"]\nseeds = 4\n[grid]\nalpha = [1.0]\nbeta = [0.0, 0.5]
N = [32, 64, 128]\nt = [64, 256, 1024, 4096]\n[params]\nlr = 0.1\n""",
}


def _cli(*args: str, env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "flows.cli", *args], cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode not in (0, 1):
        sys.exit(f"{args}: rc {res.returncode}\n{res.stdout}\n{res.stderr}")
    return wall, json.loads(res.stdout[res.stdout.index("{"):])


def main() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "SCALINGLAB_BLOCK_SECONDS")}
    env.update(PYTHONUNBUFFERED="1", RAY_AUTH_MODE="disabled", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = {"benchmark": "plan estimate / measured wall per model, 2 CPUs", "goal": "within 2x either way", "runs": {}}
    with tempfile.TemporaryDirectory() as d:
        for name, text in SPECS.items():
            spec_path = REPO / text if text.endswith(".toml") else Path(d) / f"{name}.toml"
            if not text.endswith(".toml"):
                spec_path.write_text(text + f'[store]\npath = "{d}/{name}.zarr"\n')
            store = f"{d}/{name}-run.zarr"
            _, plan = _cli("plan", str(spec_path), "--json", "--num-cpus", "2", env=env)
            wall, run = _cli("run", str(spec_path), "--store", store, "--json", "--no-progress", "--num-cpus", "2", env=env)
            compute_est = plan["estimated_wall_seconds"] - plan["estimated_startup_seconds"]
            out["runs"][name] = {
                "blocks": plan["blocks"], "estimated_wall_s": plan["estimated_wall_seconds"], "measured_wall_s": round(wall, 2),
                "ratio_wall": round(plan["estimated_wall_seconds"] / wall, 3),
                "estimated_compute_wall_s": round(compute_est, 2), "measured_dispatch_wall_s": run["wall_seconds"],
                "ratio_compute_wall": round(compute_est / max(run["wall_seconds"], 1e-9), 3),
                "estimated_core_s": plan["estimated_core_seconds"], "measured_block_compute_s": run["block_seconds"],
                "ratio_cost_model": round(plan["estimated_core_seconds"] / max(run["block_seconds"], 1e-9), 3),
                "measured_startup_s": run.get("startup_seconds")}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
