"""Cost of resuming a 95%-complete sweep, split into a fixed start-up and a part proportional to
the work left (goal: resume <= 5% of the full run's block compute + a fixed start-up <= 10 s),
and sweep throughput (blocks/s) on 1 and 2 local Ray nodes.

1. `scalinglab run bench/specs/resume.toml` (40 blocks, SCALINGLAB_BLOCK_SECONDS=0: one cell each)
   into a temporary store, as a user runs it on a fresh machine (its own Prefect server and Ray).
2. Reset 2 of its 40 blocks (5%) to pending, then `scalinglab resume`, the same way.
   fixed = command wall - dispatch wall (imports, Ray and the Prefect server started side
   by side, flow-run bookkeeping, shutdown); proportional = dispatch wall. The command's
   own `startup_seconds` (Ray + server) is reported too.
3. Throughput: the same 40 blocks through the flow on a ray.cluster_utils.Cluster with 1 node
   (1 CPU) and with 2 nodes (1 CPU each), in this process.

Prints JSON. Run: .venv/bin/python bench/resume.py
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
sys.path.insert(0, str(REPO))
os.environ.setdefault("SCALINGLAB_BLOCK_SECONDS", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _cli(*args: str, env: dict) -> tuple[float, dict]:
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "flows.cli", *args, "--no-progress", "--json"], cwd=REPO, env=env,
                         capture_output=True, text=True)
    wall = time.perf_counter() - start
    if res.returncode != 0:
        sys.exit(res.stdout + res.stderr)
    return wall, json.loads(res.stdout[res.stdout.index("{"):])


def resume_cost(api_url: str, tmp: Path) -> dict:
    import numpy as np
    import zarr

    import storage
    from scalinglab.spec import load_spec

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PYTHONUNBUFFERED"] = "1"
    store = str(tmp / "cube.zarr")
    full_wall, full = _cli("run", "bench/specs/resume.toml", "--store", store, env=env)
    spec = storage.read_spec(store)
    blocks = spec.blocks()
    reset = blocks[:: len(blocks) // 2][:2]  # 2 of 40 = 5%
    grp = zarr.open_group(store, mode="r+")
    for b in reset:
        grp["status"][b.slices] = np.zeros(b.shape, np.int8)
    resume_wall, res = _cli("resume", store, env=env)
    assert res["units_done"] == res["units_total"]
    fixed = resume_wall - res["wall_seconds"]
    return {"blocks": len(blocks), "blocks_resumed": res["blocks_run"],
            "full": {"command_wall_s": round(full_wall, 2), "dispatch_wall_s": full["wall_seconds"],
                     "startup_s": full["startup_seconds"], "sum_block_compute_s": full["block_seconds"]},
            "resume": {"command_wall_s": round(resume_wall, 2), "dispatch_wall_s": res["wall_seconds"],
                       "startup_s": res["startup_seconds"], "sum_block_compute_s": res["block_seconds"]},
            "resume_fixed_s": round(fixed, 2),
            "resume_proportional_s": res["wall_seconds"],
            "proportional_over_full_block_compute": round(res["wall_seconds"] / full["block_seconds"], 4),
            "goal": "proportional <= 0.05 of the full block compute; fixed <= 10 s"}


def throughput(api_url: str, tmp: Path) -> dict:
    import ray
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from ray.cluster_utils import Cluster

    import storage
    from flows.sweep import run_sweep
    from scalinglab.spec import load_spec

    out = {}
    spec = load_spec(REPO / "bench/specs/resume.toml")
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        for nodes in (1, 2):
            cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                                    "object_store_memory": 100 * 2**20})
            if nodes == 2:
                cluster.add_node(num_cpus=1, object_store_memory=100 * 2**20)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address, log_to_driver=False)
            store = str(tmp / f"tp{nodes}.zarr")
            storage.create_cube(spec, store)
            start = time.perf_counter()
            res = run_sweep(store, [b.id for b in spec.blocks()], ray_address=cluster.address)
            wall = time.perf_counter() - start
            ray.shutdown()
            cluster.shutdown()
            out[f"{nodes}_node"] = {"blocks": res["done"], "wall_s": wall, "blocks_per_s": res["done"] / wall,
                                    "sum_block_compute_s": res["block_seconds"]}
    out["speedup_2_vs_1"] = out["2_node"]["blocks_per_s"] / out["1_node"]["blocks_per_s"]
    return out


def main() -> None:
    from flows.server import start_local_server, stop_server

    proc, url = start_local_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            result = {"resume_95pct": resume_cost(url, Path(tmp)), "throughput": throughput(url, Path(tmp))}
    finally:
        stop_server(proc)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
