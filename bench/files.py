"""Files and bytes of a 10^6-unit PLRF ``de`` cube (100 checkpoints) with the default block sizing.

Goal (issue 11): fewer than 20,000 files, and bytes on disk within 3x of the numbers' size.

Computing 10^6 ``de`` units takes hours on 2 cores, so the cube is made with the spec's real
layout (default ``_choose_chunks``: >= 2 s of estimated work and ~1 MiB chunks), and every
block is written through the sweep's own writer (:class:`storage.CubeWriter`, plus a run
record as a worker writes it) with synthetic curves of the same kind as the science: float64
power laws with per-cell exponents, so compression sees realistic values. Baseline in the
same run: the same grid with one cell per block (the old sizing with SCALINGLAB_BLOCK_SECONDS=0).

Prints JSON. Run: .venv/bin/python bench/files.py [--side 100] [--n 100]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synthetic(spec, block):
    """Curves L = a t^-r + b N^-s + c for each cell of the block (the shape of the science)."""
    import numpy as np

    from scalinglab.compute import BlockResult

    na, nb, nN, nP = block.shape
    t = spec.t.astype(float)
    N = spec.N.astype(float)
    a = spec.alpha[block.slices[0]][:, None, None, None, None]
    b = spec.beta[block.slices[1]][None, :, None, None, None]
    curve = (t[None, None, None, None, :] ** (-a / (a + b)) + N[None, None, :, None, None] ** (-b) * 0.3
             + 1e-3 * a * b) * np.ones((na, nb, nN, nP, 1))
    arrays = {}
    for name in spec.variables().get("theory", ()):
        arrays[name] = curve * (1.0 + 0.01 * len(name))
    if "theory" in spec.methods:
        arrays["theory_flag"] = np.zeros(curve.shape, np.int8)
    return BlockResult(arrays=arrays, wall_time=np.full((na, nb, nN, nP), 0.5))


def build(tmp: Path, side: int, n_N: int, block_seconds: str, name: str) -> dict:
    os.environ["SCALINGLAB_BLOCK_SECONDS"] = block_seconds
    import storage
    from scalinglab.spec import parse_spec

    store = str(tmp / f"{name}.zarr")
    t0 = time.perf_counter()
    spec = parse_spec({"model": "plrf", "methods": ["theory"], "seeds": 1,
                       "grid": {"alpha": {"linspace": [0.55, 2.5], "num": side}, "beta": {"linspace": [0.15, 2.0], "num": side},
                                "N": {"geomspace": [64, 100_000], "num": n_N}, "P": ["inf"],
                                "t": {"geomspace": [1, 1e7], "num": 100}},
                       "params": {"theory": "deterministic_equivalent"}, "store": {"path": store}})
    parse_s = time.perf_counter() - t0
    storage.create_cube(spec, store)
    writer = storage.CubeWriter(store)
    t0 = time.perf_counter()
    numbers = 0
    for b in range(spec.n_blocks):
        block = spec.block(b)
        res = synthetic(spec, block)
        storage.record_run(store, b, {"node": "bench"})
        writer.write(block, res)
        numbers += sum(v.nbytes for k, v in res.arrays.items() if k.startswith("theory_") and v.dtype.kind == "f")
    write_s = time.perf_counter() - t0
    files = [p for p in Path(store).rglob("*") if p.is_file()]
    on_disk = sum(p.stat().st_size for p in files)
    return {"units": spec.n_units, "blocks": spec.n_blocks, "block_shape": list(spec.chunks), "files": len(files),
            "bytes_on_disk": on_disk, "bytes_of_numbers": numbers, "disk_to_numbers": round(on_disk / numbers, 3),
            "spec_parse_s": round(parse_s, 2), "write_s": round(write_s, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=100, help="alpha and beta values (units = side^2 * n)")
    ap.add_argument("--n", type=int, default=100, help="N values")
    ap.add_argument("--baseline-side", type=int, default=20, help="side of the one-cell-per-block baseline")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("SCALINGLAB_BENCH_TMP")) as d:
        default = build(Path(d), args.side, args.n, "2", "default")
        base = build(Path(d), args.baseline_side, args.n, "0", "one-cell")
    per_unit_default = default["files"] / default["units"]
    per_unit_base = base["files"] / base["units"]
    print(json.dumps({"benchmark": "files and bytes of a PLRF de cube, 100 checkpoints",
                      "goal": "< 20,000 files and disk within 3x of the numbers at 10^6 units",
                      "default_sizing": default, "one_cell_per_block": base,
                      "files_per_unit_ratio_baseline_to_default": round(per_unit_base / per_unit_default, 1)}, indent=2))


if __name__ == "__main__":
    main()
