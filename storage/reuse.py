"""Reuse across sweeps (issue 10.6): copy every unit whose key is done in an older cube.

A unit's numbers are a function of its content (:meth:`scalinglab.spec.SweepSpec.unit_keys`):
equal keys, equal numbers. So a new sweep that shares units with older cubes (one more N value,
more seeds, a wider alpha range) copies those units and computes only the rest:

* ``scalinglab run SPEC --reuse OLD.zarr`` records the sources in ``_meta/reuse.json`` of the new
  cube (path and spec hash); every worker reads them (:func:`load_sources`) and, per block,
  matches its units' keys against the sources' done units (:func:`block_reuse`);
* a unit (theory, or simulation) is reusable from a source when its key is done there and the
  source holds every checkpoint of the new spec (a model whose values depend on the other
  checkpoints puts the checkpoint list in the key); seeded values (simulation, a paired theory)
  are reused for the seeds the source has, the others are computed
  (:func:`scalinglab.compute.compute_block` with ``need``), with the same bits as from scratch;
* the run ledger records, per block, how many values were computed and copied, and from where.

Sources are read-only: nothing here writes to them. The key arrays of a source are read once
per process (a few MB for 10^5 units) and matched with a sorted search, vectorised.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scalinglab.compute import BlockResult
from scalinglab.errors import SpecError
from scalinglab.spec import Block, SweepSpec

from .meta import meta_dir
from .paths import filesystem

__all__ = ["Source", "open_source", "load_sources", "record_sources", "read_sources", "match_units",
           "block_reuse", "BlockReuse", "reuse_summary", "KINDS"]

_FILE = "reuse.json"
KINDS = {"theory": "theory", "simulation": "sim"}  # kind -> variable prefix


@dataclass
class Source:
    """A done-units index of an older cube: per kind, its done unit keys sorted, with flat unit indices."""

    path: str
    spec_hash: str
    t: np.ndarray
    seeds: dict[str, int]  # kind -> seeds stored per unit (1 for an unpaired theory)
    grid_shape: tuple[int, ...]
    keys: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # kind -> (sorted keys, flat idx)
    storage_options: dict[str, Any] | None = None
    _group: Any = field(default=None, repr=False)

    def group(self):
        """The source's Zarr group, opened read-only once."""
        if self._group is None:
            from .cube import open_group

            self._group = open_group(self.path, self.storage_options, mode="r")
        return self._group

    def describe(self) -> dict[str, str]:
        return {"path": self.path, "spec_hash": self.spec_hash}


def open_source(path: str, storage_options: dict[str, Any] | None = None) -> Source:
    """Index the done units of the cube at ``path``; a clear one-line error if it cannot be reused."""
    from .cube import DONE, cube_state, open_group

    state = cube_state(path, storage_options)
    if state != "complete":
        raise SpecError("--reuse", "store", path, "a scalinglab cube (this path holds "
                        + {"absent": "nothing", "half-made": "a half-made cube", "foreign": "no scalinglab cube"}[state]
                        + ")")
    group = open_group(path, storage_options, mode="r")
    names = set(group.array_keys())
    kinds = [k for k, prefix in KINDS.items() if f"{prefix}_unit_key" in names]
    if not kinds:
        raise SpecError("--reuse", "store", path, "a cube written with unit keys (theory_unit_key / sim_unit_key, "
                        "scalinglab with content-addressed units); this one has none: compute it again")
    status = np.asarray(group["status"][...])
    done = (status == DONE).ravel()
    src = Source(path=path, spec_hash=str(group.attrs.get("spec_hash", "")), t=np.asarray(group["t"][...]),
                 seeds={}, grid_shape=status.shape, storage_options=storage_options, _group=group)
    n_seed = int(group["seed"].shape[0]) if "seed" in names else 1
    for kind in kinds:
        prefix = KINDS[kind]
        loss = group[f"{prefix}_loss"]
        src.seeds[kind] = n_seed if len(loss.shape) == 6 else 1
        keys = np.asarray(group[f"{prefix}_unit_key"][...]).ravel()
        flat = np.flatnonzero(done)
        order = np.argsort(keys[flat], kind="stable")
        src.keys[kind] = (keys[flat][order], flat[order])
    return src


def record_sources(store: str, sources: list[Source], storage_options: dict[str, Any] | None = None) -> None:
    """Write ``_meta/reuse.json`` of the new cube: the sources its workers copy from (path, spec hash)."""
    fs, root = filesystem(store, storage_options)
    fs.makedirs(meta_dir(root), exist_ok=True)
    with fs.open(meta_dir(root, _FILE), "w") as fh:
        fh.write(json.dumps({"sources": [s.describe() for s in sources]}))


def read_sources(store: str, storage_options: dict[str, Any] | None = None) -> list[dict[str, str]]:
    """The sources recorded for ``store`` (empty when it reuses nothing)."""
    fs, root = filesystem(store, storage_options)
    try:
        with fs.open(meta_dir(root, _FILE), "r") as fh:
            return list(json.loads(fh.read()).get("sources", []))
    except FileNotFoundError:
        return []


def _still_there(path: str, spec_hash: str, storage_options: dict[str, Any] | None) -> Source | None:
    try:
        src = open_source(path, storage_options)
    except (SpecError, OSError):
        return None  # gone or changed: its units are computed instead (same numbers)
    return src if src.spec_hash == spec_hash else None


def load_sources(store: str, storage_options: dict[str, Any] | None = None) -> list[Source]:
    """The recorded sources of ``store`` that are still there unchanged (a worker loads them once per
    sweep: :func:`tasks.blocks._open` keeps them with the sweep's spec and writer)."""
    out = [_still_there(d["path"], d.get("spec_hash", ""), storage_options) for d in read_sources(store, storage_options)]
    return [s for s in out if s is not None]


def match_units(spec: SweepSpec, sources: list[Source], kind: str,
                slices: tuple[slice, ...] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the units of ``slices`` (default: the whole grid): ``(source index or -1, flat unit
    index in that source, seeds available there)``, each of the units' shape.

    A source qualifies for a unit when the key is done there and it holds every checkpoint of
    ``spec``; among several, the one with the most seeds wins (then the first given).
    """
    keys = spec.unit_keys(kind, slices)
    src = np.full(keys.shape, -1, np.int64)
    flat = np.zeros(keys.shape, np.int64)
    avail = np.zeros(keys.shape, np.int64)
    want_seeds = spec.seeds if spec.seeded(kind) else 1
    for j, s in enumerate(sources):
        if kind not in s.keys or not np.isin(spec.t, s.t).all():
            continue
        sorted_keys, idx = s.keys[kind]
        if not sorted_keys.size:
            continue
        pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
        n = min(s.seeds[kind], want_seeds)
        better = (sorted_keys[pos] == keys) & (n > avail)
        src[better], flat[better], avail[better] = j, idx[pos[better]], n
    return src, flat, avail


@dataclass
class BlockReuse:
    """What a block copies: its variables with copied values (NaN elsewhere), which values are
    copied (``copied[kind]``: block shape + (n_seed,)), and where from."""

    arrays: dict[str, np.ndarray]
    wall_time: np.ndarray
    copied: dict[str, np.ndarray]
    sources: list[dict[str, str]]

    def need(self) -> dict[str, np.ndarray]:
        return {kind: ~mask for kind, mask in self.copied.items()}

    def counts(self) -> dict[str, dict[str, int]]:
        """Values (unit x seed) copied and to compute, per kind."""
        return {kind: {"reused": int(m.sum()), "computed": int((~m).sum())} for kind, m in self.copied.items()}

    def merge(self, result: BlockResult) -> BlockResult:
        """The block's full result: copied values where copied, computed values elsewhere."""
        out = {}
        for name, computed in result.arrays.items():
            kind = "theory" if name.startswith("theory_") else "simulation"
            mask = self.copied[kind]
            if name == "theory_flag":
                any_copied, all_copied = mask.any(-1)[..., None], mask.all(-1)[..., None]
                out[name] = np.where(all_copied, 0, computed) | np.where(any_copied, self.arrays[name], 0)
                continue
            m = mask if computed.ndim == 6 else mask[..., 0]
            out[name] = np.where(m[..., None], self.arrays[name], computed)
        wall = np.where(np.isnan(result.wall_time), self.wall_time, result.wall_time)
        return BlockResult(arrays=out, wall_time=wall, sources=result.sources)


def _read_units(source: Source, name: str, flat: np.ndarray, n_seed: int, t_index: np.ndarray) -> np.ndarray:
    """Values of ``name`` for the source units ``flat`` (1-D), the first ``n_seed`` seeds if seeded:
    shape (n_units, [n_seed,] n_t). One orthogonal read per source (alpha, beta, P) cell."""
    arr = source.group()[name]
    idx = np.unravel_index(flat, source.grid_shape)
    seeded = len(arr.shape) == 6
    out = np.empty((flat.size, *((n_seed,) if seeded else ()), t_index.size), dtype=arr.dtype)
    cells: dict[tuple[int, int, int], list[int]] = {}
    for u, (a, b, p) in enumerate(zip(idx[0], idx[1], idx[3])):
        cells.setdefault((int(a), int(b), int(p)), []).append(u)
    for (a, b, p), units in cells.items():
        Ns = idx[2][units]
        sel = (a, b, Ns, p, slice(0, n_seed), t_index) if seeded else (a, b, Ns, p, t_index)
        out[units] = np.asarray(arr.oindex[sel])
    return out


def block_reuse(spec: SweepSpec, block: Block, sources: list[Source]) -> BlockReuse | None:
    """What ``block`` can copy from ``sources`` (None when there are no sources; a plan that copies
    nothing is still returned, so the run ledger counts every block of a reusing sweep)."""
    if not sources:
        return None
    variables = spec.variables()
    shape = tuple(block.shape)
    copied: dict[str, np.ndarray] = {}
    arrays: dict[str, np.ndarray] = {}
    wall = np.full(shape, np.nan)
    used: set[int] = set()
    for kind, names in variables.items():
        n_seed = spec.seeds if spec.seeded(kind) else 1
        src, flat, avail = match_units(spec, sources, kind, tuple(block.slices))
        copied[kind] = np.arange(n_seed) < avail[..., None]
        for name in names:
            arrays[name] = np.full(shape + ((n_seed,) if spec.seeded(kind) else ()) + (spec.t.size,), np.nan)
        if kind == "theory":
            arrays["theory_flag"] = np.zeros(shape + (spec.t.size,), np.int8)
        for j in np.unique(src[src >= 0]):
            s = sources[int(j)]
            used.add(int(j))
            t_index = np.searchsorted(s.t, spec.t)
            for n in np.unique(avail[src == j]):
                here = (src == j) & (avail == n)
                reads = list(names) + (["theory_flag"] if kind == "theory" else [])
                for name in reads:
                    vals = _read_units(s, name, flat[here], int(n), t_index)
                    if vals.ndim == 3 and name != "theory_flag":
                        arrays[name][here, :n] = vals
                    else:
                        arrays[name][here] = vals
                first = here & np.isnan(wall)  # once per unit, whichever kind copies it first
                if first.any():
                    wall[first] = np.asarray(s.group()["wall_time"].get_coordinate_selection(
                        np.unravel_index(flat[first], s.grid_shape)))
    return BlockReuse(arrays=arrays, wall_time=wall, copied=copied, sources=[sources[j].describe() for j in sorted(used)])


def reuse_summary(spec: SweepSpec, sources: list[Source]) -> dict[str, Any]:
    """For ``plan`` and ``run``: per kind, values (unit x seed) that will be copied out of all."""
    out: dict[str, Any] = {"sources": [s.describe() for s in sources]}
    for kind in spec.variables():
        n_seed = spec.seeds if spec.seeded(kind) else 1
        _, _, avail = match_units(spec, sources, kind)
        out[kind] = {"reused": int(avail.sum()), "total": int(spec.n_units * n_seed)}
    return out
