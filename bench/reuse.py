"""Cost of extending a finished sweep by 10% new units with ``--reuse`` against a from-scratch run
of the extended spec (goal: <= 15%).

1. `scalinglab run bench/specs/reuse_old.toml` (PLRF exact theory paired with 6 SGD seeds, 9 alpha
   values x 3 N, t to 1e5) into a temporary store: the finished sweep.
2. `scalinglab run bench/specs/reuse_new.toml` (the same plus a 10th alpha value: 10% new units)
   from scratch, and again with `--reuse OLD`, each as a user runs it (its own Prefect server
   and Ray, one process per command). Both cubes are compared value for value.

Ratios of the reusing run to the from-scratch run: dispatch wall (blocks computed and written,
the part that grows with the sweep), summed block compute, and the whole command (which adds a
fixed start-up of Prefect and Ray, the same for both). Prints JSON.

Run: .venv/bin/python bench/reuse.py
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("SCALINGLAB_BLOCK_SECONDS", "0")  # one (alpha, beta, P) cell per block
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def _cli(*args: str) -> tuple[float, dict]:
    from bench.resume import _cli as run_cli  # one CLI runner for the benches

    return run_cli(*args, env={k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"})


def _figures(wall: float, res: dict) -> dict:
    return {"command_wall_s": round(wall, 2), "dispatch_wall_s": res["wall_seconds"],
            "startup_s": res["startup_seconds"], "sum_block_compute_s": res["block_seconds"]}


def main() -> None:
    import numpy as np

    import storage

    with tempfile.TemporaryDirectory() as tmp:
        old, scratch, reused = (str(Path(tmp) / f"{n}.zarr") for n in ("old", "scratch", "reused"))
        _cli("run", "bench/specs/reuse_old.toml", "--store", old)
        w_scratch, r_scratch = _cli("run", "bench/specs/reuse_new.toml", "--store", scratch)
        w_reuse, r_reuse = _cli("run", "bench/specs/reuse_new.toml", "--store", reused, "--reuse", old)
        a, b = storage.open_cube(scratch), storage.open_cube(reused)
        same = all(np.array_equal(a[v].values, b[v].values, equal_nan=True) for v in a.data_vars if v != "wall_time")
        counts: dict[str, dict[str, int]] = {}
        for e in storage.read_runs(reused):
            for kind, c in e.get("reuse", {}).get("values", {}).items():
                k = counts.setdefault(kind, {"reused": 0, "computed": 0})
                k["reused"] += c["reused"]
                k["computed"] += c["computed"]
    out = {"new_units_fraction": 0.1, "values_from_ledger": counts, "bit_identical_to_scratch": same,
           "scratch": _figures(w_scratch, r_scratch), "reuse": _figures(w_reuse, r_reuse),
           "ratio_dispatch_wall": round(r_reuse["wall_seconds"] / r_scratch["wall_seconds"], 3),
           "ratio_block_compute": round(r_reuse["block_seconds"] / r_scratch["block_seconds"], 3),
           "ratio_command_wall": round(w_reuse / w_scratch, 3),
           "goal": "extending by 10% new units costs <= 15% of a from-scratch run (dispatch wall)"}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
