"""SIGKILL during cube creation and during lock acquisition, through the real CLI.

The kills are deterministic (``SCALINGLAB_KILL_AT``, storage/killpoints.py). One store goes
through a chain of killed runs, each of which first has to recover from what the previous
kill left (a half-made cube, a stale lock, a stale break file, an orphaned temporary file),
and dies at the next point; the last `run` then finishes, and its cube equals, bit for bit,
the cube of an uninterrupted run. In between, `resume` refuses the half-made store in one
line that names the recovery (`scalinglab run SPEC`, no --force).
"""
from __future__ import annotations

import json

from storage.cube import cube_state
from storage.lock import LOCK_FILE, is_stale, read_lock
from tests.conftest import write_spec
from tests.flows.helpers import assert_cubes_identical, cli_env, reference_cube, run_cli

GRID = 'alpha = [1.0]\nbeta = [0.4]\nN = [16, 32]\nP = ["inf"]\nt = [1, 10, 100]'

#: (kill point, the store's state after the kill)
CHAIN = [
    ("create:after-array-2", "half-made"),  # a fresh store: killed while creating it
    ("lock:during-takeover", "half-made"),  # taking over the dead creator's lock
    ("lock:after-tmp", "half-made"),  # writing its own lock record
    ("create:before-attrs", "half-made"),  # re-creating the half-made cube: every array written, not the spec
    ("create:after-attrs", "complete"),  # the cube complete, its creation lock left behind
    ("lock:after-create", "complete"),  # the sweep's lock taken, no block run yet
]


def _lock_siblings(store) -> list[str]:
    """Break files and temporary files beside the lock file."""
    f = store / LOCK_FILE
    base = f.name
    return sorted(p.name for p in f.parent.iterdir() if p.name.startswith(base) and p.name != base)


def test_kill_at_each_creation_and_lock_point_then_run_finishes_bit_identical(tmp_path, api_url):
    store = tmp_path / "cube.zarr"
    spec = write_spec(tmp_path / "spec.toml", store=store, seeds=1, grid=GRID)
    for point, state in CHAIN:
        res = run_cli("run", str(spec), "--no-progress", env=cli_env(api_url, SCALINGLAB_KILL_AT=point), timeout=120)
        assert res.returncode == -9, f"{point}: rc {res.returncode}\n{res.stdout}{res.stderr}"
        assert cube_state(str(store)) == state, point
        held = read_lock(str(store))
        if point != "lock:after-tmp":  # there the kill came before its own lock existed
            assert held is not None and is_stale(held), (point, held)
        if point == "lock:during-takeover":
            assert _lock_siblings(store) == [f"{(store / LOCK_FILE).name}.break-{held['token']}"]
        if point == "lock:after-tmp":
            assert any(n.endswith(".tmp") for n in _lock_siblings(store))
        if point == "create:after-array-2":
            # the half-made store is refused by everything but `run`, in one line saying how to recover
            res = run_cli("resume", str(store), "--no-progress", env=cli_env(api_url))
            lines = res.stderr.strip().splitlines()
            assert res.returncode == 2 and len(lines) == 1, res.stderr
            assert "half-made" in lines[0] and "scalinglab run SPEC" in lines[0] and "--force" not in lines[0]
        if point == "create:before-attrs":
            assert "is half-made" in res.stderr and "creating it again" in res.stderr
            # nothing of the earlier attempt is left beside the new one: it was removed, then remade
            meta = json.loads((store / "zarr.json").read_text())
            assert "spec_hash" not in meta["attributes"]
    res = run_cli("run", str(spec), "--no-progress", env=cli_env(api_url), timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "recovered a stale lock" in res.stderr
    reference_cube(spec, tmp_path / "ref.zarr")
    assert_cubes_identical(store, tmp_path / "ref.zarr")
    assert read_lock(str(store)) is None and not _lock_siblings(store)


def test_half_made_cube_on_s3_is_made_again(tmp_path, s3_server):
    """The same recovery on an object store: a creation killed midway leaves a half-made cube
    that `create_cube(..., replace_half_made=True)` replaces, keeping the lock beside it."""
    import subprocess
    import sys

    import s3fs

    import storage
    from scalinglab.spec import parse_spec
    from storage.cube import create_cube
    from tests.flows.helpers import REPO

    url, aws = s3_server
    opts = {"key": "test", "secret": "test", "client_kwargs": {"endpoint_url": url}}
    fs = s3fs.S3FileSystem(**opts)
    fs.mkdir("halfmade")
    store = "s3://halfmade/cube.zarr"
    data = {"model": "plrf", "methods": ["theory", "simulation"], "seeds": 1,
            "grid": {"alpha": [1.0], "beta": [0.4], "N": [16], "P": ["inf"], "t": [1, 10, 100]},
            "params": {}, "store": {"path": store, "storage_options": opts}}
    code = ("import json, sys\nfrom scalinglab.spec import parse_spec\nfrom storage.cube import create_cube\n"
            "create_cube(parse_spec(json.loads(sys.argv[1])))\n")
    res = subprocess.run([sys.executable, "-c", code, json.dumps(data)], cwd=REPO, timeout=120,
                         env={**cli_env(), **aws, "SCALINGLAB_KILL_AT": "create:after-array-2"})
    assert res.returncode == -9
    assert cube_state(store, opts) == "half-made" and not storage.cube_exists(store, opts)
    with storage.CubeLock(store, opts):
        create_cube(parse_spec(data), replace_half_made=True)
        assert fs.exists(f"halfmade/cube.zarr/{LOCK_FILE}")
    assert cube_state(store, opts) == "complete"
    assert storage.read_spec(store, opts).hash == parse_spec(data).hash
    ds = storage.open_cube(store, opts)
    assert int(ds.status.sum()) == 0 and ds.theory_loss.isnull().all()
