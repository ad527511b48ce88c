"""The cube contract on every kind of store: create → write blocks → reopen, identical.

``CubeRoundTripBase`` defines the checks; each subclass overrides ``create_store()`` (a local
directory, an fsspec in-memory filesystem, and an S3 bucket on a real moto server started by
the test on loopback).
"""
from __future__ import annotations

import uuid

import numpy as np
import pytest

import storage
from scalinglab.compute import compute_block
from scalinglab.spec import parse_spec

SPEC = {
    "model": "plrf", "methods": ["theory", "simulation"], "seeds": 2,
    "grid": {"alpha": [1.0, 1.2], "beta": [0.3, 0.5], "N": [8, 16], "P": ["inf"], "t": [1, 10, 100]},
    "params": {}, "store": {"path": "unused"},
}


class CubeRoundTripBase:
    """Subclasses return a store path or URL (and storage options) from ``create_store``."""

    storage_options: dict | None = None

    def create_store(self, tmp_path) -> str:
        raise NotImplementedError

    @pytest.fixture
    def store(self, tmp_path):
        return self.create_store(tmp_path)

    def _spec(self, store: str):
        return parse_spec({**SPEC, "store": {"path": store, "storage_options": self.storage_options or {}}})

    def test_roundtrip(self, store):
        import xarray as xr

        spec = self._spec(store)
        storage.create_cube(spec, store)
        assert storage.cube_exists(store, self.storage_options)
        assert storage.status_counts(spec, store, self.storage_options)["units_pending"] == spec.n_units
        expected = {}
        for block in spec.blocks():
            res = compute_block(spec, block)
            storage.write_block(store, block, res, self.storage_options)
            expected[block.id] = res
        ds = storage.open_cube(store, self.storage_options).load()
        # write → reopen is identical to the in-memory result, block by block
        for block in spec.blocks():
            a, b, n, p = block.slices
            for name, values in expected[block.id].arrays.items():
                np.testing.assert_array_equal(ds[name].values[a, b, n, p], values)
        assert (ds.status == storage.DONE).all()
        assert storage.read_spec(store, self.storage_options).hash == spec.hash
        # reopen twice: identical datasets (coordinates, attrs, data)
        xr.testing.assert_identical(ds, storage.open_cube(store, self.storage_options).load())
        assert ds.P.attrs["units"] == "samples" and np.isinf(ds.P.values).all()

    def test_pending_blocks_and_failures(self, store):
        spec = self._spec(store)
        storage.create_cube(spec, store)
        blocks = spec.blocks()
        storage.write_block(store, blocks[0], compute_block(spec, blocks[0]), self.storage_options)
        storage.set_status(store, blocks[1], storage.FAILED, self.storage_options)
        storage.record_failure(store, blocks[1].id, [{"alpha": 1.0, "beta": 0.5, "P": float("inf")}], "boom",
                               self.storage_options)
        pend = storage.pending_blocks(spec, store, storage_options=self.storage_options)
        assert [b.id for b in pend] == [b.id for b in blocks[1:]]
        only = storage.pending_blocks(spec, store, only_failed=True, storage_options=self.storage_options)
        assert [b.id for b in only] == [blocks[1].id]
        assert storage.read_failures(store, self.storage_options)[0]["error"] == "boom"
        storage.clear_failure(store, blocks[1].id, self.storage_options)
        assert storage.read_failures(store, self.storage_options) == []

    def test_lock_is_exclusive(self, store):
        spec = self._spec(store)
        storage.create_cube(spec, store)
        with storage.CubeLock(store, self.storage_options):
            with pytest.raises(storage.LockedError, match="held by pid"):
                storage.CubeLock(store, self.storage_options).acquire()
        storage.CubeLock(store, self.storage_options).acquire().release()
        assert storage.read_lock(store, self.storage_options) is None


class TestLocalDirectory(CubeRoundTripBase):
    def create_store(self, tmp_path) -> str:
        return str(tmp_path / "cube.zarr")


class TestFsspecMemory(CubeRoundTripBase):
    def create_store(self, tmp_path) -> str:
        return f"memory://{uuid.uuid4().hex}/cube.zarr"


class TestS3(CubeRoundTripBase):
    """The remote-URL path: s3:// through s3fs against the moto server (credentials and
    endpoint from the environment, as on a cluster)."""

    @pytest.fixture(autouse=True)
    def _s3(self, s3_server, monkeypatch):
        url, env = s3_server
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": url})
        self.bucket = f"b{uuid.uuid4().hex[:12]}"
        fs.mkdir(self.bucket)
        self.storage_options = None

    def create_store(self, tmp_path) -> str:
        return f"s3://{self.bucket}/sweeps/cube.zarr"
