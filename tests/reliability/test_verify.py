"""A corrupted or truncated chunk is found by `scalinglab status --verify` and its block is
marked pending (then recomputed bit-identically); resuming a cube written by another code
version is refused unless --force, with the difference shown."""
from __future__ import annotations

import json

import numpy as np
import zarr
from typer.testing import CliRunner

import storage
from flows.cli import app
from scalinglab.compute import compute_block
from scalinglab.spec import load_spec
from tests.conftest import write_spec

GRID = 'alpha = [1.0, 1.2]\nbeta = [0.3, 0.5]\nN = [8, 16]\nP = ["inf"]\nt = [1, 10, 100]'


def _filled(tmp_path):
    store = tmp_path / "cube.zarr"
    spec = load_spec(write_spec(tmp_path / "spec.toml", store=store, seeds=2, grid=GRID))
    storage.create_cube(spec, str(store))
    for b in spec.blocks():
        storage.write_block(str(store), b, compute_block(spec, b))
    return spec, store


def test_verify_finds_corrupt_and_truncated_chunks(tmp_path):
    spec, store = _filled(tmp_path)
    before = storage.open_cube(str(store)).load()
    blocks = spec.blocks()
    assert len(blocks) == 4
    # block 1: truncate its sim_loss chunk; block 2: overwrite its theory_loss chunk with garbage
    b1, b2 = blocks[1], blocks[2]
    chunk1 = store / "sim_loss" / "c" / "/".join(map(str, b1.index)) / "0" / "0"
    chunk2 = store / "theory_loss" / "c" / "/".join(map(str, b2.index)) / ("0/0" if spec.theory_paired else "0")
    assert chunk1.is_file() and chunk2.is_file()
    chunk1.write_bytes(chunk1.read_bytes()[: chunk1.stat().st_size // 2])
    chunk2.write_bytes(np.random.default_rng(0).bytes(chunk2.stat().st_size))
    (store / "sim_loss" / "c" / "orphan.abc123.partial").write_bytes(b"half a chunk")
    runner = CliRunner()
    res = runner.invoke(app, ["status", str(store)])
    assert res.exit_code == 0  # without --verify, status trusts the status array
    res = runner.invoke(app, ["status", str(store), "--verify", "--json"])
    assert res.exit_code == 0, res.stderr
    reset = [ln for ln in res.stderr.splitlines() if "reset to pending" in ln]
    assert len(reset) == 2 and f"block {b1.id} " in reset[0] and f"block {b2.id} " in reset[1], res.stderr
    info = json.loads(res.stdout)
    assert info["blocks_pending"] == 2 and info["blocks_done"] == 2
    assert [b.id for b in storage.pending_blocks(spec, str(store))] == [b1.id, b2.id]
    assert not list(store.rglob("*.partial"))  # orphaned partial writes are removed
    # recomputing the two blocks restores the cube bit for bit
    for b in (b1, b2):
        storage.write_block(str(store), b, compute_block(spec, b))
    after = storage.open_cube(str(store)).load()
    for v in ("sim_loss", "theory_loss", "status"):
        assert np.array_equal(before[v].values, after[v].values, equal_nan=True)


def test_resume_refuses_other_code_version_unless_forced(tmp_path):
    spec, store = _filled(tmp_path)
    grp = zarr.open_group(str(store), mode="r+")
    grp.attrs["code_commit"] = "0123abcd"
    runner = CliRunner()
    res = runner.invoke(app, ["resume", str(store)])
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert len(line.splitlines()) == 1 and "code_commit: 0123abcd -> " in line and "--force" in line
    res = runner.invoke(app, ["resume", str(store), "--force"])
    assert res.exit_code == 0 and "nothing to do" in res.stdout, res.stdout + res.stderr
