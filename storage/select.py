"""Read a selection of a cube with zarr alone: no xarray, no pandas, so that ``scalinglab
query`` starts in well under a second (and ``fit``, ``frontier``, ``plot`` read their cells
without paying ~0.5 s for importing xarray and pandas).

Only units whose status is done are read: a block that is pending, failed or was reset by
``status --verify`` (its chunk may not decode) is left NaN and counted, never decoded.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.errors import SpecError

from .cube import DONE, cube_exists

__all__ = ["CubeArrays", "Selection", "open_arrays"]

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
    """The arrays of one cube: dimension names, coordinates, masked reads."""

    def __init__(self, group: Any) -> None:
        self._group = group
        self._arrays = dict(group.arrays())
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
    """The cube at ``path`` for reading selections (a one-line error if it is not a cube)."""
    import zarr

    if not cube_exists(path, storage_options):
        raise SpecError("cli", "STORE", path, "a scalinglab cube (a Zarr v3 group made by `scalinglab run`)")
    return CubeArrays(zarr.open_group(path, mode="r", zarr_format=3, storage_options=storage_options or None))
