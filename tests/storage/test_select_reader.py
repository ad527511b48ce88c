"""storage.select's zarr-free reader (PlainArray, read_array, read_spec, status_counts,
open_arrays) against zarr and storage's zarr/xarray readers, on a small cube written by the
normal writer: a PLRF sweep with replicas (so ``sim_loss_se`` and its ``dof`` attr exist), a
ragged last N chunk, one block never written (chunks that hold the fill value) and one failed."""
from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

import storage
from scalinglab.compute import BlockResult
from scalinglab.errors import SpecError
from scalinglab.spec import parse_spec
from storage.analysis import read_cell
from storage.select import PlainArray, open_arrays, read_array, read_attrs, read_spec, status_counts

UNWRITTEN, FAILED_BLOCK = 5, 9  # block ids: one never written, one written then marked failed


def _spec(store: str):
    return parse_spec({"model": "plrf", "methods": ["theory", "simulation"], "seeds": 3,
                       "grid": {"alpha": [0.8, 1.0], "beta": [0.3, 0.6], "N": {"geomspace": [64, 512], "num": 5},
                                "P": ["inf"], "t": {"geomspace": [1, 1000], "num": 7}},
                       "params": {"replicas": 2}, "store": {"path": store}}, chunks=(1, 1, 2, 1))


@pytest.fixture(scope="module")
def cube(tmp_path_factory):
    store = str(tmp_path_factory.mktemp("select") / "cube.zarr")
    spec = _spec(store)
    storage.create_cube(spec, store)
    rng = np.random.default_rng(1)
    S, T = spec.seeds, spec.t.size
    for b in spec.blocks():
        if b.id == UNWRITTEN:
            continue
        n = b.shape[2]
        arrays = {"theory_loss": rng.random((1, 1, n, 1, S, T)),
                  "theory_flag": rng.integers(0, 2, (1, 1, n, 1, T)).astype(np.int8),
                  "sim_loss": rng.random((1, 1, n, 1, S, T)),
                  "sim_loss_se": rng.random((1, 1, n, 1, S, T)) * 1e-3}
        arrays["sim_loss"][0, 0, 0, 0, 0, 0] = np.nan  # a stored NaN, not a fill
        storage.write_block(store, b, BlockResult(arrays=arrays, wall_time=rng.random(b.shape)))
    storage.set_status(store, spec.blocks()[FAILED_BLOCK], storage.FAILED)
    return spec, store


def _zarr_arrays(store: str) -> dict:
    import zarr

    return dict(zarr.open_group(store, mode="r", zarr_format=3).arrays())


def _plain(store: str, name: str) -> PlainArray:
    return PlainArray(store, name, json.loads(open(f"{store}/{name}/zarr.json").read()))


def _same(a, b) -> None:
    """Equal bit for bit: dtype, shape and bytes (a NaN is the same NaN)."""
    a, b = np.asarray(a), np.asarray(b)
    assert (a.dtype, a.shape) == (b.dtype, b.shape)
    assert a.tobytes() == b.tobytes()


# ------------------------------------------------------------------------------------------ (a)
def test_cube_is_plain_and_has_unwritten_chunks(cube):
    spec, store = cube
    arrays = open_arrays(store)._arrays
    assert set(arrays) == set(_zarr_arrays(store))
    assert all(isinstance(a, PlainArray) for a in arrays.values())
    assert {"sim_loss_se", "theory_flag", "status", "wall_time"} <= set(arrays)
    unwritten = spec.blocks()[UNWRITTEN].slices
    assert spec.blocks()[UNWRITTEN].shape[2] == 1  # the ragged last N chunk
    chunk = [str(sl.start // c) for sl, c in zip(unwritten, spec.chunks)]
    assert not (Path(store, "sim_loss", "c", *chunk)).exists()  # never written: no chunk file
    assert Path(store, "sim_loss", "c", chunk[0], str(1 - int(chunk[1])), *chunk[2:]).exists()  # a written one
    assert np.all(np.isnan(_zarr_arrays(store)["sim_loss"][unwritten]))
    assert np.all(_zarr_arrays(store)["status"][unwritten] == storage.PENDING)


def test_whole_arrays_and_attrs_equal_zarrs(cube):
    _, store = cube
    zarrs = _zarr_arrays(store)
    for name, z in zarrs.items():
        plain = _plain(store, name)
        _same(plain[...], z[...])
        assert plain.dtype == z.dtype and plain.shape == z.shape and plain.chunks == z.chunks
        assert plain.metadata.dimension_names == tuple(z.metadata.dimension_names)
        assert plain.attrs == dict(z.attrs), name
    assert _plain(store, "sim_loss_se").attrs["dof"] == 1


# ------------------------------------------------------------------------------------------ (b)
def test_random_orthogonal_selections_equal_zarrs(cube):
    _, store = cube
    zarrs = _zarr_arrays(store)
    plains = {name: _plain(store, name) for name in zarrs}
    names = sorted(zarrs)
    rng = np.random.default_rng(7)
    for _ in range(200):
        name = names[rng.integers(len(names))]
        z, plain = zarrs[name], plains[name]
        key = []
        for n in z.shape:
            kind = rng.integers(4)
            if kind == 0:
                key.append(int(rng.integers(n)))
            elif kind == 1:
                key.append(slice(None))
            else:  # sorted distinct, or any order with repeats
                pos = rng.choice(n, size=rng.integers(1, n + 1), replace=kind == 3)
                key.append(np.sort(pos) if kind == 2 else pos)
        key = tuple(key)
        _same(plain.oindex[key], z.oindex[key])
        if not any(isinstance(k, np.ndarray) for k in key):  # ints and full slices: basic indexing too
            _same(plain[key], z[key])


# ------------------------------------------------------------------------------------------ (c)
def test_read_array_spec_and_counts_equal_storages(cube):
    spec, store = cube
    for name, z in _zarr_arrays(store).items():
        _same(read_array(store, name), z[...])
    got = read_spec(store)
    want = storage.read_spec(store)
    assert got.hash == want.hash == spec.hash and got.to_json() == want.to_json()
    counts = status_counts(spec, store)
    assert counts == storage.status_counts(spec, store)
    assert counts["blocks_failed"] == 1 and counts["blocks_pending"] == 1 and counts["blocks_total"] == 12
    assert read_attrs(store) == dict(storage.cube.open_group(store, mode="r").attrs)


# ------------------------------------------------------------------------------------------ (d)
def _same_cell(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for k, v in want.items():
        if v is None or isinstance(v, float):
            assert got[k] == v, k
        else:
            _same(got[k], v)


def test_cells_equal_read_cell_of_the_xarray_cube(cube):
    spec, store = cube
    arrays, ds = open_arrays(store), storage.open_cube(store)
    ga, gb, _, gp = spec.grid_shape
    for ia in range(ga):
        for ib in range(gb):
            for ip in range(gp):
                got = arrays.cell(ia, ib, ip)
                assert {"sim_se", "sim_se_dof"} <= set(got) and got["sim_se_dof"] == 1.0
                _same_cell(got, read_cell(ds, ia, ib, ip))


# ------------------------------------------------------------------------------------------ (e)
def _rewrite(store: str, name: str, **layout) -> None:
    """Store array ``name`` again, same values and metadata, in another layout."""
    import zarr

    g = zarr.open_group(store, mode="r+", zarr_format=3)
    old = g[name]
    values, attrs = old[...], dict(old.attrs)
    kw = dict(shape=old.shape, chunks=old.chunks, dtype=old.dtype, fill_value=old.metadata.fill_value,
              dimension_names=old.metadata.dimension_names, attributes=attrs)
    del g[name]
    g.create_array(name, **{**kw, **layout})[...] = values
    with warnings.catch_warnings():  # v3 consolidated metadata is a zarr-python extension; it says so
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(store, zarr_format=3)


def test_other_layouts_are_read_through_zarr(cube, tmp_path):
    from zarr.codecs import BloscCodec

    spec, store = cube
    copy = str(tmp_path / "other.zarr")
    shutil.copytree(store, copy)
    _rewrite(copy, "sim_loss", compressors=BloscCodec(cname="lz4"))
    _rewrite(copy, "status", shards=tuple(2 * c for c in spec.chunks))
    codecs = {n: [c["name"] for c in json.loads(open(f"{copy}/{n}/zarr.json").read())["codecs"]]
              for n in ("sim_loss", "status")}
    assert "blosc" in codecs["sim_loss"] and codecs["status"] == ["sharding_indexed"]
    arrays = open_arrays(copy)
    assert not any(isinstance(a, PlainArray) for a in arrays._arrays.values())  # the whole cube through zarr
    for name, z in _zarr_arrays(store).items():
        _same(read_array(copy, name), z[...])
    assert status_counts(spec, copy) == storage.status_counts(spec, store)
    ds = storage.open_cube(store)
    for ip in range(spec.grid_shape[3]):
        _same_cell(arrays.cell(1, 0, ip), read_cell(ds, 1, 0, ip))
    with pytest.raises(ValueError, match="not in the plain layout"):
        _plain(copy, "sim_loss")


# ------------------------------------------------------------------------------------------ (f)
def _error(call, *args):
    with pytest.raises(Exception) as info:
        call(*args)
    return type(info.value), str(info.value)


def test_not_a_cube_fails_as_the_zarr_path_does(cube, tmp_path):
    import zarr

    _, store = cube
    empty = tmp_path / "empty"
    empty.mkdir()
    foreign = str(tmp_path / "foreign.zarr")
    zarr.create_group(foreign, zarr_format=3, attributes={"title": "not ours"})
    half = str(tmp_path / "half.zarr")
    shutil.copytree(store, half)
    meta = json.loads(open(f"{half}/zarr.json").read())
    meta["attributes"] = {"title": "x", storage.cube.HALF_MADE: "2024-01-01T00:00:00+00:00"}
    open(f"{half}/zarr.json", "w").write(json.dumps(meta))
    for path in (str(tmp_path / "absent.zarr"), str(empty), foreign, half):
        want = _error(storage.read_spec, path)
        assert want[0] is SpecError and "\n" not in want[1]
        assert _error(read_spec, path) == want, path
        assert _error(open_arrays, path) == _error(storage.open_cube, path) == want, path


def test_spec_hash_mismatch_fails_as_the_zarr_path_does(cube, tmp_path):
    _, store = cube
    bad = str(tmp_path / "bad.zarr")
    shutil.copytree(store, bad)
    meta = json.loads(open(f"{bad}/zarr.json").read())
    meta["attributes"]["spec_hash"] = "0" * 16
    open(f"{bad}/zarr.json", "w").write(json.dumps(meta))
    want = _error(storage.read_spec, bad)
    assert want[0] is SpecError and "does not match its hash" in want[1] and "\n" not in want[1]
    assert _error(read_spec, bad) == want
