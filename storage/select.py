"""Read a selection of a cube with zarr alone: no xarray, no pandas, so that ``scalinglab
query`` starts in well under a second (and ``fit``, ``frontier``, ``plot`` read their cells
without paying ~0.5 s for importing xarray and pandas). ``scalinglab status`` reads not even
zarr: the spec from the root ``zarr.json`` and the small status array decoded here
(:func:`read_spec`, :func:`status_counts`, :func:`read_array`).

Only units whose status is done are read: a block that is pending, failed or was reset by
``status --verify`` (its chunk may not decode) is left NaN and counted, never decoded.
"""
from __future__ import annotations

import itertools
import json
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.spec import SweepSpec

from .cube import DONE, _counts_from, _spec_from_attrs, cube_exists, not_a_cube_error
from .paths import filesystem, join

__all__ = ["CubeArrays", "Selection", "open_arrays", "arrays_of_dataset", "read_array", "read_attrs", "read_spec", "status_counts"]

GRID = ("alpha", "beta", "N", "P")


@dataclass
class Selection:
    """Values of the selected variables (``data[name] = (dims, array)``), the selected
    coordinates, and how many selected units were not done (with the chunk indices they lie in)."""

    coords: dict[str, np.ndarray]
    data: dict[str, tuple[tuple[str, ...], np.ndarray]]
    not_done: int = 0
    units: int = 0
    chunks_not_done: set[tuple[int, ...]] = field(default_factory=set)


class CubeArrays:
    """The arrays of one cube: dimension names, coordinates, masked reads. ``arrays``: name ->
    a zarr array or a :class:`PlainArray` (both give ``[...]``, ``.oindex[...]`` and ``.chunks``)."""

    def __init__(self, arrays: dict[str, Any]) -> None:
        self._arrays = dict(arrays)
        self.dims_of = {name: tuple(a.metadata.dimension_names or ()) for name, a in self._arrays.items()}
        self.dims = [d for d in ("alpha", "beta", "N", "P", "seed", "t") if d in self._arrays]
        self.coords = {d: self._arrays[d][...] for d in self.dims}
        self.variables = [n for n in self._arrays if n not in self.coords]
        self._status: np.ndarray | None = None

    @property
    def sizes(self) -> dict[str, int]:
        return {d: int(v.size) for d, v in self.coords.items()}

    @property
    def status(self) -> np.ndarray:
        """The unit status array (alpha, beta, N, P), read once."""
        if self._status is None:
            self._status = self._arrays["status"][...]
        return self._status

    def __contains__(self, name: str) -> bool:
        return name in self._arrays

    def cell(self, ia: int, ib: int, ip: int) -> dict[str, Any]:
        """N, t and the loss arrays of one (alpha, beta, P) cell, as
        :func:`storage.analysis.read_cell` gives them from an xarray cube: theory ``(N, t)`` or
        ``(N, seed, t)`` where it carries the seed dimension (paired theory), its flags as bool,
        simulation ``(N, seed, t)``; None for a variable the cube does not hold."""
        out: dict[str, Any] = {"N": self.coords["N"], "t": self.coords["t"], "theory": None, "sim": None,
                               "theory_flag": None}

        def arr(name: str) -> np.ndarray:
            dims = self.dims_of[name]
            at = {"alpha": ia, "beta": ib, "P": ip}
            values = self._arrays[name][tuple(at.get(d, slice(None)) for d in dims)]
            kept = [d for d in dims if d not in at]
            want = [d for d in ("N", "seed", "t") if d in kept]
            return np.transpose(values, [kept.index(d) for d in want]) if kept != want else values

        if "theory_loss" in self._arrays:
            out["theory"] = arr("theory_loss")
            if "theory_flag" in self._arrays:
                out["theory_flag"] = arr("theory_flag").astype(bool)
        if "sim_loss" in self._arrays:
            out["sim"] = arr("sim_loss")
        if "sim_loss_se" in self._arrays:  # each seed's SE over its replica runs (a model's `replicas`)
            out["sim_se"] = arr("sim_loss_se")
            out["sim_se_dof"] = float(self._arrays["sim_loss_se"].attrs["dof"])
        return out

    def select(self, names: list[str], positions: dict[str, np.ndarray]) -> Selection:
        """The variables ``names`` at the orthogonal index ``positions`` (every dim of the cube)."""
        status = self._arrays["status"].oindex[tuple(positions[d] for d in GRID)]
        out = Selection(coords={d: self.coords[d][positions[d]] for d in self.dims}, data={},
                        units=int(status.size), not_done=int(np.sum(status != DONE)))
        for name in names:
            arr, dims = self._arrays[name], self.dims_of[name]
            index = tuple(positions[d] for d in dims)
            if name == "status" or not set(GRID) <= set(dims) or out.not_done == 0:
                out.data[name] = (dims, arr.oindex[index])
                continue
            out.data[name] = (dims, self._read_done(arr, dims, positions, status, out.chunks_not_done))
        return out

    @staticmethod
    def _read_done(arr, dims, positions, status, skipped) -> np.ndarray:
        chunk = dict(zip(dims, arr.chunks))
        values = np.full(tuple(len(positions[d]) for d in dims), np.nan)
        which_chunk = {d: positions[d] // chunk[d] for d in GRID}
        keys = {d: np.unique(which_chunk[d]) for d in GRID}
        for key in np.ndindex(*[len(keys[d]) for d in GRID]):
            rows = {d: np.flatnonzero(which_chunk[d] == keys[d][k]) for d, k in zip(GRID, key)}
            if not np.all(status[np.ix_(*[rows[d] for d in GRID])] == DONE):
                skipped.add(tuple(int(keys[d][k]) for d, k in zip(GRID, key)))
                continue
            sub = tuple(positions[d][rows[d]] if d in rows else positions[d] for d in dims)
            at = np.ix_(*[rows[d] if d in rows else np.arange(len(positions[d])) for d in dims])
            values[at] = arr.oindex[sub]
        return values


def open_arrays(path: str, storage_options: dict[str, Any] | None = None) -> CubeArrays:
    """The cube at ``path`` for reading selections (a one-line error if it is not a cube). A cube
    whose root holds consolidated metadata (every finished cube: ``storage.cube.finish_layout``)
    and whose arrays are all in the plain layout is read without importing zarr (~0.2 s of cold
    start; :class:`PlainArray`); any other through zarr."""
    if not cube_exists(path, storage_options):
        raise not_a_cube_error(path, storage_options)  # a half-made one says how to recover
    children = (_node_json(path, "", storage_options).get("consolidated_metadata") or {}).get("metadata") or {}
    arrays = {n: m for n, m in children.items() if "/" not in n and m.get("node_type") == "array"}
    if arrays and all(_plain_layout(m) is not None for m in arrays.values()):
        return CubeArrays({n: PlainArray(path, n, m, storage_options) for n, m in arrays.items()})
    import zarr

    group = zarr.open_group(path, mode="r", zarr_format=3, storage_options=storage_options or None)
    return CubeArrays(dict(group.arrays()))


# ---------------------------------------------------------------- whole small arrays without zarr
#: numpy dtypes of the Zarr v3 data types this reader decodes itself
_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64"}
_FILLS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _node_json(path: str, name: str, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    fs, root = filesystem(path, storage_options)
    return json.loads(fs.cat_file(join(root, name, "zarr.json") if name else join(root, "zarr.json")))


def read_attrs(path: str, name: str = "", storage_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """The attributes of the group or array ``name`` ("" for the root) of the Zarr v3 store at
    ``path``: its ``zarr.json``, read without zarr (FileNotFoundError if there is none)."""
    return dict(_node_json(path, name, storage_options).get("attributes") or {})


def _plain_layout(meta: dict[str, Any]) -> tuple[np.dtype, tuple[int, ...], str, Any] | None:
    """(dtype, chunk shape, key separator, fill value) of an array this module decodes itself: a
    regular chunk grid, default chunk keys, codecs ``bytes`` (little-endian) then optionally
    ``zstd``, no storage transformer, a plain data type. None for anything else (read with zarr)."""
    try:
        codecs = [c["name"] for c in meta["codecs"]]
        endian = (meta["codecs"][0].get("configuration") or {}).get("endian", "little")
        fill = meta["fill_value"]
        plain = (meta.get("node_type") == "array" and meta["data_type"] in _DTYPES
                 and meta["chunk_grid"]["name"] == "regular" and meta["chunk_key_encoding"]["name"] == "default"
                 and codecs in (["bytes"], ["bytes", "zstd"]) and endian == "little" and sys.byteorder == "little"
                 and not meta.get("storage_transformers")
                 and (isinstance(fill, (bool, int, float)) or fill in _FILLS))
        if not plain:
            return None
        sep = (meta["chunk_key_encoding"].get("configuration") or {}).get("separator", "/")
        chunk = tuple(int(c) for c in meta["chunk_grid"]["configuration"]["chunk_shape"])
        return np.dtype(meta["data_type"]), chunk, sep, _FILLS.get(fill, fill) if isinstance(fill, str) else fill
    except (KeyError, TypeError, IndexError, AttributeError):
        return None


class PlainArray:
    """A Zarr v3 array in the plain layout (:func:`_plain_layout`) read without zarr: ``a[...]``,
    ``a[i, :, j]`` (ints and full slices) and ``a.oindex[(positions, ...)]`` (orthogonal, one
    integer array per dimension) decode only the chunks they touch; a chunk never written is the
    fill value. The same values and dtype as zarr gives."""

    def __init__(self, path: str, name: str, meta: dict[str, Any], storage_options: dict[str, Any] | None = None):
        plain = _plain_layout(meta)
        if plain is None:
            raise ValueError(f"{name}: not in the plain layout")
        self.dtype, self.chunks, self._sep, self._fill = plain
        self.shape = tuple(int(n) for n in meta["shape"])
        self.metadata = _Metadata(tuple(meta.get("dimension_names") or ()))
        self.attrs = dict(meta.get("attributes") or {})  # as zarr's Array.attrs (e.g. sim_loss_se's dof)
        self._zstd = [c["name"] for c in meta["codecs"]] == ["bytes", "zstd"]
        self._fs, root = filesystem(path, storage_options)
        self._node = join(root, name)

    @property
    def oindex(self) -> "PlainArray":
        return self  # __getitem__ takes integer arrays orthogonally, as zarr's oindex does

    def __getitem__(self, key: Any) -> np.ndarray:
        key = tuple(slice(None) for _ in self.shape) if key is Ellipsis else (key if isinstance(key, tuple) else (key,))
        if len(key) != len(self.shape):
            raise IndexError(f"{len(key)} indices for {len(self.shape)} dimensions")
        positions, squeeze = [], []
        for axis, (k, n) in enumerate(zip(key, self.shape)):
            if isinstance(k, slice):
                if k != slice(None):
                    raise IndexError("only full slices")
                positions.append(np.arange(n))
            elif np.ndim(k) == 0:
                positions.append(np.array([int(k)]))
                squeeze.append(axis)
            else:
                positions.append(np.asarray(k, dtype=np.int64))
            if positions[-1].size and (positions[-1].min() < 0 or positions[-1].max() >= n):
                raise IndexError(f"index out of range for dimension {axis} of size {n}")
        out = self._read(positions)
        return out.reshape([len(p) for i, p in enumerate(positions) if i not in squeeze])

    def _read(self, positions: list[np.ndarray]) -> np.ndarray:
        out = np.full(tuple(len(p) for p in positions), self._fill, self.dtype)
        which = [p // c for p, c in zip(positions, self.chunks)]
        keys = [np.unique(w) for w in which]
        chunk_ids = list(itertools.product(*[k.tolist() for k in keys]))
        paths = [join(self._node, "c" + "".join(f"{self._sep}{i}" for i in idx)) for idx in chunk_ids]
        got = self._fs.cat_ranges(paths, None, None, on_error="return")  # one batch, no glob expansion
        decode = _zstd_decoder() if self._zstd else None
        for idx, raw in zip(chunk_ids, got):
            if isinstance(raw, FileNotFoundError):
                continue  # a chunk never written holds the fill value
            if isinstance(raw, BaseException):
                raise raw
            block = np.frombuffer(decode(raw) if decode else raw, self.dtype).reshape(self.chunks)
            rows = [np.flatnonzero(w == i) for w, i in zip(which, idx)]
            local = [p[r] - i * c for p, r, i, c in zip(positions, rows, idx, self.chunks)]
            out[np.ix_(*rows)] = block[np.ix_(*local)]
        return out


@dataclass(frozen=True)
class _Metadata:
    dimension_names: tuple[str, ...]


class _DatasetArray:
    """A variable of an xarray cube seen as :class:`CubeArrays` sees a zarr array (dims, attrs,
    positional ``[...]``): so that one :meth:`CubeArrays.cell` reads both kinds of open cube."""

    def __init__(self, da: Any) -> None:
        self._da = da
        self.metadata = _Metadata(tuple(da.dims))
        self.attrs = dict(da.attrs)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self._da.values if key is Ellipsis else self._da[key].values)


def arrays_of_dataset(ds: Any) -> CubeArrays:
    """An open xarray cube (:func:`storage.open_cube`) as :class:`CubeArrays` (nothing is read
    until a cell or selection asks for it)."""
    return CubeArrays({name: _DatasetArray(ds[name]) for name in (*ds.coords, *ds.data_vars)})


def _zstd_decoder():
    from numcodecs.zstd import Zstd  # the decoder zarr's own zstd codec uses

    return Zstd().decode


def read_array(path: str, name: str, storage_options: dict[str, Any] | None = None) -> np.ndarray:
    """The whole array ``name`` (``"status"``, ``"analysis/resid_n"``) of the Zarr v3 store at
    ``path``. An array in the plain layout the cube and its analysis group are written in (see
    :func:`_plain_layout`) is decoded here, chunk by chunk (a missing chunk is the fill value), so
    that ``scalinglab status`` does not import zarr (~0.2 s of its cold start); any other through
    zarr. Meant for small arrays: it reads every chunk."""
    meta = _node_json(path, name, storage_options)
    if _plain_layout(meta) is None:
        import zarr

        return zarr.open_array(path, path=name, mode="r", zarr_format=3, storage_options=storage_options or None)[...]
    return PlainArray(path, name, meta, storage_options)[...]


def read_spec(path: str, storage_options: dict[str, Any] | None = None) -> SweepSpec:
    """:func:`storage.read_spec` without zarr: the spec from the cube's root ``zarr.json``."""
    if not cube_exists(path, storage_options):
        raise not_a_cube_error(path, storage_options)
    return _spec_from_attrs(read_attrs(path, "", storage_options))


def status_counts(spec: SweepSpec, path: str, storage_options: dict[str, Any] | None = None) -> dict[str, int]:
    """:func:`storage.status_counts` with the status array read by :func:`read_array` (no zarr)."""
    return _counts_from(spec, read_array(path, "status", storage_options))
