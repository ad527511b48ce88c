"""Orchestration overhead of the quickstart sweep (Prefect on local Ray).

Runs `scalinglab run examples/quickstart.toml` into a temporary store and prints JSON with the
flow's wall time, the sum of its blocks' compute times, and
    overhead = flow wall / (sum of block compute / workers) - 1      (target <= 20%),
plus the whole command's wall time (server and Ray start-up included), measured in the same run.

Run: .venv/bin/python bench/sweep_overhead.py
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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "quickstart.zarr")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        start = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "flows.cli", "run", "examples/quickstart.toml", "--store", store,
                              "--no-progress", "--json"], cwd=REPO, env=env, capture_output=True, text=True)
        total = time.perf_counter() - start
        if res.returncode != 0:
            sys.exit(res.stdout + res.stderr)
        summary = json.loads(res.stdout[res.stdout.index("{"):])
    workers = os.cpu_count() or 1
    ideal = summary["block_seconds"] / min(workers, summary["blocks_run"])
    print(json.dumps({
        "blocks": summary["blocks_run"], "workers": workers,
        "flow_wall_s": summary["wall_seconds"], "sum_block_compute_s": summary["block_seconds"],
        "ideal_wall_s": ideal, "overhead": summary["wall_seconds"] / ideal - 1,
        "command_wall_s": total,
    }, indent=2))


if __name__ == "__main__":
    main()
