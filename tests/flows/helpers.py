"""Helpers for the end-to-end tests: run the real CLI in a subprocess, compare cubes."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "flows.cli"]


def cli_env(api_url: str | None = None, **extra: str) -> dict[str, str]:
    """Environment of a CLI subprocess: the shared test Prefect server if given, else none
    (the CLI then starts its own, as on a fresh machine)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=REPO, env=env or cli_env(), capture_output=True, text=True,
                          timeout=timeout)


def start_cli(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    fh = open(log, "w")
    return subprocess.Popen([*CLI, *args], cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT,
                            start_new_session=True)


def done_units(store: Path) -> int:
    import zarr

    try:
        return int((zarr.open_group(str(store), mode="r")["status"][...] == 1).sum())
    except Exception:  # not created yet
        return 0


def wait_for(predicate, timeout: float, step: float = 0.25) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return False


def marked_processes(token: str) -> list[int]:
    """PIDs whose environment carries this sweep's token (see flows/reaper.py)."""
    marker = f"SCALINGLAB_SWEEP_TOKEN={token}".encode()
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if marker in fh.read():
                        out.append(int(entry))
            except OSError:
                pass
    return out


def reference_cube(spec_path: Path, store: Path) -> None:
    """The uninterrupted result, computed block by block in a plain subprocess (no Prefect,
    no Ray) with one BLAS thread, as Ray runs each task."""
    code = (
        "import sys, storage\n"
        "from scalinglab.spec import load_spec\n"
        "from scalinglab.compute import compute_block\n"
        "spec = load_spec(sys.argv[1])\n"
        "storage.create_cube(spec, sys.argv[2])\n"
        "for b in spec.blocks():\n"
        "    storage.write_block(sys.argv[2], b, compute_block(spec, b))\n"
    )
    env = cli_env(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    subprocess.run([sys.executable, "-c", code, str(spec_path), str(store)], cwd=REPO, env=env, check=True, timeout=300)


def assert_cubes_identical(a: Path, b: Path) -> None:
    """Every data variable equal bit for bit (NaN where NaN), status equal."""
    import xarray as xr

    da = xr.open_zarr(str(a), consolidated=False)
    db = xr.open_zarr(str(b), consolidated=False)
    names = [v for v in da.data_vars if v.startswith(("theory_", "sim_"))] + ["status"]
    assert names and set(names) <= set(db.data_vars)
    for v in names:
        x, y = da[v].values, db[v].values
        assert x.shape == y.shape, v
        assert np.array_equal(x, y, equal_nan=True), f"{v} differs: max |diff| {np.nanmax(np.abs(x - y))}"
    assert da.attrs["spec_hash"] == db.attrs["spec_hash"]
