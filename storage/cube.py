"""The results cube: one Zarr v3 group per sweep, read back as an xarray Dataset.

Contract (DESIGN.md, "The cube contract"):

- dims ``alpha, beta, N, P, seed, t``; P = inf (one-pass) and N = inf are stored as float;
- ``theory_<var>(alpha, beta, N, P, t)`` (``(..., seed, t)`` for a tier paired with the seeds,
  issue 10.2), ``sim_<var>(alpha, beta, N, P, seed, t)``;
- ``status(alpha, beta, N, P)`` int8 (0 pending, 1 done, 2 failed), ``wall_time`` (s);
- one block = one chunk of every variable (whole along seed and t). A block's data is
  written first and its status last, so a crash leaves it pending, never half-done;
- attrs hold the resolved spec, its hash, the package version and the code commit.

Only the coordinator creates the cube (metadata); tasks write whole chunks.
"""
from __future__ import annotations

import datetime as _dt
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from scalinglab.compute import BlockResult
from scalinglab.errors import SpecError
from scalinglab.models.base import replicas_of
from scalinglab.spec import Block, SweepSpec, spec_from_json

from .killpoints import kill_point
from .paths import filesystem, join

__all__ = [
    "PENDING", "DONE", "FAILED", "STATUS_NAMES",
    "create_cube", "open_cube", "open_group", "read_spec", "write_block", "set_status",
    "block_status", "pending_blocks", "status_counts", "cube_exists", "spec_difference",
    "verify_blocks", "code_version", "cube_state", "layout_difference", "half_made_error", "not_a_cube_error", "HALF_MADE", "CubeWriter", "finish_layout",
]

PENDING, DONE, FAILED = 0, 1, 2
STATUS_NAMES = {PENDING: "pending", DONE: "done", FAILED: "failed"}

_COORD_ATTRS = {
    "alpha": {"long_name": "data complexity alpha", "units": "1",
              "description": "covariance eigenvalues lambda_j = j^(-2 alpha)"},
    "beta": {"long_name": "target complexity beta", "units": "1",
             "description": "target power lambda_j b_j^2 = j^(-2(alpha+beta))"},
    "N": {"long_name": "trained parameters N", "units": "parameters",
          "description": "size of the random projection (inf: no projection)"},
    "P": {"long_name": "distinct training samples P", "units": "samples",
          "description": "inf: a fresh sample every step (one pass)"},
    "seed": {"long_name": "seed index", "units": "1",
             "description": "an independent draw of the projection (and target) and of the data stream; "
                            "a paired theory uses the same draw as the simulation of the same seed"},
    "t": {"long_name": "optimizer steps t", "units": "steps", "description": "checkpoints of one run"},
}


def code_version() -> dict[str, str]:
    """Package version and the git commit of the code (``unknown`` outside a checkout)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("scalinglab")
    except PackageNotFoundError:
        ver = "unknown"
    try:
        root = Path(__file__).resolve().parents[1]
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        if commit != "unknown" and dirty:
            commit += "+dirty"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"scalinglab_version": ver, "code_commit": commit}


def _template(spec: SweepSpec):
    import xarray as xr

    ga, gb, gn, gp = spec.grid_shape
    nt, ns = spec.t.size, spec.seeds
    grid_dims = ("alpha", "beta", "N", "P")
    data: dict[str, Any] = {}
    encoding: dict[str, Any] = {}
    ca, cb, cn, cp = spec.chunks
    model = spec.model_module()
    p = spec.params
    for method, names in spec.variables().items():
        for name in names:
            if spec.seeded(method):  # simulation, or a theory paired with the seeds (one value per seed's draw)
                dims, shape, chunks = grid_dims + ("seed", "t"), (ga, gb, gn, gp, ns, nt), (ca, cb, cn, cp, ns, nt)
            else:
                dims, shape, chunks = grid_dims + ("t",), (ga, gb, gn, gp, nt), (ca, cb, cn, cp, nt)
            attrs = {"method": method, "units": "loss (no factor 1/2)",
                     "source": model.tier(p) if method == "theory" else model.method(p)}
            if method == "simulation" and name.endswith("_se"):  # a seed's SE over its replica runs on its draw
                R = replicas_of(p)
                attrs.update(dof=R - 1, description=(
                    f"standard error of seed s's {name.removesuffix('_se')}: sd over its {R} replica runs on the "
                    f"same draw / sqrt({R}), {R - 1} dof; the paired residuals use it"))
            if method == "theory" and spec.theory_paired:
                attrs["paired"] = ("seed s holds the theory given seed s's own draws (the ones its simulation "
                                   "trains on); the mean over seeds is the draw-averaged theory")
            data[name] = xr.Variable(dims, np.full(shape, np.nan), attrs=attrs)
            encoding[name] = {"chunks": chunks, "_FillValue": np.nan}
    if "theory" in spec.methods:
        data["theory_flag"] = xr.Variable(grid_dims + ("t",), np.zeros((ga, gb, gn, gp, nt), np.int8),
                                          attrs={"description": "1 where the theory tier flags its own value as "
                                                 "unreliable (ill-conditioned inversion, unstable draw); see the model"})
        encoding["theory_flag"] = {"chunks": (ca, cb, cn, cp, nt), "_FillValue": None}
    for method, prefix in (("theory", "theory"), ("simulation", "sim")):  # unit identity by content (issue 10.1)
        if method in spec.methods:
            data[f"{prefix}_unit_key"] = xr.Variable(grid_dims, spec.unit_keys(method), attrs={
                "description": "uint64 content key of the unit (SweepSpec.unit_keys): equal keys, equal numbers",
                "recipe": json.dumps(spec.unit_key_recipe(method), sort_keys=True)})
            encoding[f"{prefix}_unit_key"] = {"chunks": spec.chunks, "_FillValue": None}
    data["status"] = xr.Variable(grid_dims, np.zeros((ga, gb, gn, gp), np.int8),
                                 attrs={"flag_values": [PENDING, DONE, FAILED], "flag_meanings": "pending done failed"})
    encoding["status"] = {"chunks": spec.chunks, "_FillValue": None}
    data["wall_time"] = xr.Variable(grid_dims, np.full((ga, gb, gn, gp), np.nan),
                                    attrs={"units": "s", "description": "wall time of the (alpha, beta, P) cell "
                                           "computation that produced this unit (all N together)"})
    encoding["wall_time"] = {"chunks": spec.chunks, "_FillValue": np.nan}
    coords = {"alpha": ("alpha", spec.alpha, _COORD_ATTRS["alpha"]),
              "beta": ("beta", spec.beta, _COORD_ATTRS["beta"]),
              "N": ("N", spec.N.astype(np.float64), _COORD_ATTRS["N"]),
              "P": ("P", spec.P.astype(np.float64), _COORD_ATTRS["P"]),
              "seed": ("seed", np.arange(ns, dtype=np.int64), _COORD_ATTRS["seed"]),
              "t": ("t", spec.t.astype(np.int64), _COORD_ATTRS["t"])}
    attrs = {
        "title": f"scalinglab sweep: {spec.model}",
        "model": spec.model,
        "spec": spec.to_json(),
        "spec_hash": spec.hash,
        **model.cube_attrs(p),
        "conventions": "docs/theory/CONVENTIONS.md: loss E_x (f - y)^2 with no factor 1/2",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **code_version(),
    }
    return xr.Dataset(data, coords=coords, attrs=attrs), encoding


#: Group attribute that marks a cube whose creation has not finished (written first, dropped last).
HALF_MADE = "scalinglab_creating"


def cube_state(path: str, storage_options: dict[str, Any] | None = None) -> str:
    """``"complete"``: a cube. ``"half-made"``: its creation was interrupted (it holds no data;
    ``create_cube(..., replace_half_made=True)`` makes it again). ``"absent"``: no Zarr group
    there. ``"foreign"``: a Zarr group that is not a scalinglab cube."""
    fs, root = filesystem(path, storage_options)
    try:
        raw = fs.cat_file(join(root, "zarr.json"))
    except FileNotFoundError:
        return "absent"
    try:
        attrs = json.loads(raw).get("attributes") or {}
    except (ValueError, AttributeError):
        return "foreign"
    if HALF_MADE in attrs:
        return "half-made"
    return "complete" if "spec_hash" in attrs else "foreign"


def cube_exists(path: str, storage_options: dict[str, Any] | None = None) -> bool:
    """A complete cube is at ``path`` (not a half-made one: see :func:`cube_state`)."""
    return cube_state(path, storage_options) == "complete"


def half_made_error(path: str) -> SpecError:
    """The one-line refusal for a store whose creation was interrupted."""
    return SpecError("store", "STORE", path, "a complete cube; this one is half-made (its creation was "
                     "interrupted before any data was written)",
                     "Run `scalinglab run SPEC` again: it re-creates the cube and computes every block")


def not_a_cube_error(path: str, storage_options: dict[str, Any] | None = None) -> SpecError:
    """Why ``path`` is not a cube, in one line (a half-made one says how to recover)."""
    if cube_state(path, storage_options) == "half-made":
        return half_made_error(path)
    return SpecError("cli", "STORE", path, "a scalinglab cube (a Zarr v3 group made by `scalinglab run`)")


def create_cube(spec: SweepSpec, path: str | None = None, *, replace_half_made: bool = False) -> str:
    """Write an empty cube (metadata only: all-NaN chunks are never stored).

    Safe against a kill at any point: the group is written first, marked half-made
    (:data:`HALF_MADE`); then each array; then the layout (``_meta``, consolidated metadata);
    the spec and its hash come last, in the one write that also drops the mark. A store
    without them is half-made, holds no data, and ``replace_half_made=True`` replaces it
    (the caller holds the store's lock, so no other driver is creating it at that moment).
    """
    import warnings

    import xarray as xr
    import zarr

    path = path or spec.store_path
    opts = spec.storage_options or None
    if replace_half_made and cube_state(path, opts) == "half-made":
        _remove_half_made(path, opts)
    ds, encoding = _template(spec)
    final = dict(ds.attrs)
    marker = {"title": final["title"], HALF_MADE: final["created"]}
    # refuses an existing group; the lock file beside it is fine (mode "w-" would refuse that too)
    zarr.create_group(path, zarr_format=3, attributes=marker, overwrite=False, storage_options=opts)
    kill_point("create:after-group")
    with warnings.catch_warnings():  # the lock file beside the group "is not a component of a Zarr hierarchy"
        warnings.filterwarnings("ignore", message="Object at _", category=UserWarning)
        xr.Dataset(coords=ds.coords, attrs=marker).to_zarr(path, mode="a", zarr_format=3, consolidated=False,
                                                           storage_options=opts)
        for k, name in enumerate(ds.data_vars, 1):
            xr.Dataset({name: ds[name].variable}, attrs=marker).to_zarr(
                path, mode="a", zarr_format=3, consolidated=False, encoding={name: encoding[name]},
                storage_options=opts)
            kill_point(f"create:after-array-{k}")
    finish_layout(path, opts)
    kill_point("create:before-attrs")
    open_group(path, opts).attrs.put(final)  # the spec, last: from here on the cube is complete
    kill_point("create:after-attrs")
    return path


def _remove_half_made(path: str, storage_options: dict[str, Any] | None) -> None:
    """Delete what an interrupted creation wrote (metadata and coordinates only), keeping the
    lock and whatever sits beside it under the lock's top-level name."""
    from .lock import LOCK_FILE

    fs, root = filesystem(path, storage_options)
    keep = LOCK_FILE.split("/")[0]
    fs.invalidate_cache(root)
    for entry in fs.ls(root, detail=False):
        name = entry.rstrip("/").rsplit("/", 1)[-1]
        if not name.startswith(keep):
            fs.rm(entry, recursive=True)


def finish_layout(path: str, storage_options: dict[str, Any] | None = None) -> None:
    """Add the ``_meta`` bookkeeping group and write consolidated metadata.

    Array metadata never changes after creation (chunks are data), so the consolidated
    metadata written here stays valid for the cube's life; it is rewritten only when a group
    is added (``analysis``). A plain ``xr.open_zarr(store)`` then reads one document and
    never lists the store (no warnings), which is also what makes opening fast on S3.
    """
    import warnings

    import zarr

    from .meta import META

    grp = open_group(path, storage_options)
    meta = grp.require_group(META)
    meta.attrs["description"] = "scalinglab bookkeeping: ledgers, lock, progress (JSON files)"
    with warnings.catch_warnings():  # v3 consolidated metadata is a zarr-python extension; it says so
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(grp.store, zarr_format=3)


def open_cube(path: str, storage_options: dict[str, Any] | None = None):
    """The cube as a lazily loaded :class:`xarray.Dataset`."""
    import xarray as xr

    if not cube_exists(path, storage_options):
        raise not_a_cube_error(path, storage_options)
    import warnings

    with warnings.catch_warnings():  # cubes made before _meta kept _ledger/_runs beside the arrays
        warnings.filterwarnings("ignore", message="Object at _", category=UserWarning)
        warnings.filterwarnings("ignore", message="Failed to open Zarr store with consolidated", category=RuntimeWarning)
        return xr.open_zarr(path, zarr_format=3, storage_options=storage_options or None)


def open_group(path: str, storage_options: dict[str, Any] | None = None, mode: str = "r+"):
    import zarr

    return zarr.open_group(path, mode=mode, zarr_format=3, storage_options=storage_options or None)


def read_spec(path: str, storage_options: dict[str, Any] | None = None) -> SweepSpec:
    """The resolved spec stored in a cube's attrs."""
    if not cube_exists(path, storage_options):
        raise not_a_cube_error(path, storage_options)
    return _spec_from_attrs(open_group(path, storage_options, mode="r").attrs)


def _spec_from_attrs(attrs: Any) -> SweepSpec:
    """The spec in a cube's root attributes (zarr's or the parsed ``zarr.json``'s), checked
    against its stored hash (a one-line SpecError if they differ)."""
    spec = spec_from_json(attrs["spec"])
    if spec.hash != attrs["spec_hash"]:
        raise SpecError("cube", "spec_hash", attrs["spec_hash"], f"{spec.hash} (the stored spec does not match its hash)")
    return spec


def spec_difference(old: SweepSpec, new: SweepSpec) -> list[str]:
    """Human-readable lines: what differs between two specs' science."""
    a, b = old.science(), new.science()
    lines: list[str] = []

    def walk(x: Any, y: Any, key: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in sorted(set(x) | set(y)):
                walk(x.get(k), y.get(k), f"{key}.{k}" if key else k)
        elif x != y:
            lines.append(f"{key}: {json.dumps(x)} -> {json.dumps(y)}")

    walk(a, b, "")
    return lines


def layout_difference(spec: SweepSpec, path: str, storage_options: dict[str, Any] | None = None) -> list[str]:
    """Variables whose dimensions in the cube at ``path`` differ from what this code writes for
    ``spec`` (e.g. a theory stored without ``seed`` by code that predates paired theory): one line
    each. Such a cube cannot be continued by this code."""
    group = open_group(path, storage_options, mode="r")
    names = set(group.array_keys())
    ga, gb, gn, gp = ("alpha", "beta", "N", "P")
    out = []
    for method, variables in spec.variables().items():
        want = (ga, gb, gn, gp, *(("seed",) if spec.seeded(method) else ()), "t")
        for name in variables:
            if name not in names:
                out.append(f"{name}: missing (expected dims {', '.join(want)})")
                continue
            have = tuple(group[name].metadata.dimension_names or ())
            if have != want:
                out.append(f"{name}: dims ({', '.join(have)}), this code writes ({', '.join(want)})")
    return out


def _region(block: Block, extra: int = 0) -> tuple[slice, ...]:
    return tuple(block.slices) + (slice(None),) * extra


class CubeWriter:
    """Open a cube's arrays once and write many blocks into it (one per worker and sweep).

    Opening a Zarr array reads its metadata document; a writer that drains hundreds of
    blocks per second must not pay that per block. Every write is whole chunks (one block =
    one chunk of each variable), data first and status last (see the module docstring).
    """

    def __init__(self, path: str, storage_options: dict[str, Any] | None = None) -> None:
        self.path, self.storage_options = path, storage_options
        self._group = open_group(path, storage_options)
        self._arrays: dict[str, Any] = {}

    def array(self, name: str):
        arr = self._arrays.get(name)
        if arr is None:
            arr = self._arrays[name] = self._group[name]
        return arr

    def status(self, block: Block) -> np.ndarray:
        """The block's unit statuses as stored now."""
        return np.asarray(self.array("status")[_region(block)])

    def statuses(self, blocks: list[Block]) -> list[np.ndarray]:
        """The unit statuses of several blocks, read in one round of concurrent requests."""
        import asyncio

        from zarr.core.sync import sync

        arr = self.array("status").async_array

        async def get_all():
            return await asyncio.gather(*(arr.getitem(_region(b)) for b in blocks))

        return [np.asarray(x) for x in sync(get_all())]

    def write(self, block: Block, result: BlockResult) -> None:
        """Data chunks and wall time (concurrently, one round of requests), then status = done.

        The status chunk is written only after every data chunk is stored, so a crash at
        any point leaves the block pending, never half-done.
        """
        import asyncio

        from zarr.core.sync import sync

        writes = [(self.array(name), _region(block, values.ndim - 4), values) for name, values in result.arrays.items()]
        writes.append((self.array("wall_time"), _region(block), result.wall_time))

        async def put_all() -> None:
            await asyncio.gather(*(arr.async_array.setitem(region, values) for arr, region, values in writes))

        sync(put_all())
        self.set_status(block, DONE)

    def set_status(self, block: Block, status: int) -> None:
        self.array("status")[_region(block)] = np.full(block.shape, status, np.int8)


def write_block(path: str, block: Block, result: BlockResult, storage_options: dict[str, Any] | None = None) -> None:
    """Write a block's data chunks, then its wall time, then mark it done (status last)."""
    CubeWriter(path, storage_options).write(block, result)


def set_status(path: str, block: Block, status: int, storage_options: dict[str, Any] | None = None) -> None:
    CubeWriter(path, storage_options).set_status(block, status)


def _status_array(path: str, storage_options: dict[str, Any] | None = None) -> np.ndarray:
    return np.asarray(open_group(path, storage_options, mode="r")["status"][...])


def block_status(spec: SweepSpec, path: str, storage_options: dict[str, Any] | None = None) -> dict[int, int]:
    """{block id: status}. A block is done only if every unit in it is done."""
    return _block_status_from(spec, _status_array(path, storage_options))


def _block_status_from(spec: SweepSpec, status: np.ndarray) -> dict[int, int]:
    """Per-block status from the unit status array, vectorised over blocks.

    The grid is padded up to whole chunks (padding counts as done) and reshaped so each
    block is one cell of a coarse array: O(units) numpy work, no Python loop over blocks.
    """
    grid, chunks = spec.grid_shape, spec.chunks
    counts = [-(-n // c) for n, c in zip(grid, chunks)]
    padded = np.full([k * c for k, c in zip(counts, chunks)], DONE, np.int8)
    padded[tuple(slice(0, n) for n in grid)] = status
    shaped = padded.reshape([x for k, c in zip(counts, chunks) for x in (k, c)])
    inner = tuple(range(1, 2 * len(grid), 2))
    all_done = np.all(shaped == DONE, axis=inner).ravel()
    any_failed = np.any(shaped == FAILED, axis=inner).ravel()
    flat = np.where(all_done, DONE, np.where(any_failed, FAILED, PENDING))
    return {i: int(v) for i, v in enumerate(flat)}


def pending_blocks(spec: SweepSpec, path: str, *, include_failed: bool = True, only_failed: bool = False,
                   storage_options: dict[str, Any] | None = None) -> list[Block]:
    """Blocks still to compute: pending (and failed, unless ``include_failed=False``)."""
    st = block_status(spec, path, storage_options)
    blocks = spec.blocks()
    if only_failed:
        return [b for b in blocks if st[b.id] == FAILED]
    want = {PENDING, FAILED} if include_failed else {PENDING}
    return [b for b in blocks if st[b.id] in want]


def status_counts(spec: SweepSpec, path: str, storage_options: dict[str, Any] | None = None) -> dict[str, int]:
    """Counts of units and blocks by status."""
    return _counts_from(spec, _status_array(path, storage_options))


def _counts_from(spec: SweepSpec, status: np.ndarray) -> dict[str, int]:
    """Counts of units and blocks by status, from the unit status array (alpha, beta, N, P)."""
    st = _block_status_from(spec, status)
    return {
        "units_done": int(np.sum(status == DONE)), "units_failed": int(np.sum(status == FAILED)),
        "units_pending": int(np.sum(status == PENDING)), "units_total": int(status.size),
        "blocks_done": sum(v == DONE for v in st.values()), "blocks_failed": sum(v == FAILED for v in st.values()),
        "blocks_pending": sum(v == PENDING for v in st.values()), "blocks_total": len(st),
    }


def verify_blocks(spec: SweepSpec, path: str, storage_options: dict[str, Any] | None = None) -> list[tuple[Block, str]]:
    """Read every chunk of every done block; a block whose chunk cannot be decoded, or is
    missing, or holds NaN where data must be, is marked pending again. Also removes orphaned
    ``*.partial`` files left by killed writers. Returns the blocks reset and why."""
    grp = open_group(path, storage_options)
    st = block_status(spec, path, storage_options)
    names = [n for names in spec.variables().values() for n in names]
    reset: list[tuple[Block, str]] = []
    for block in spec.blocks():
        if st[block.id] != DONE:
            continue
        problem = ""
        for name in names:
            arr = grp[name]
            try:
                values = arr[_region(block, arr.ndim - 4)]
            except Exception as err:  # a corrupt or truncated chunk fails to decode
                problem = f"{name}: {type(err).__name__}: {err}".splitlines()[0][:200]
                break
            if name.endswith("_loss") and not name.endswith("train_loss") and np.all(np.isnan(values)):
                problem = f"{name}: chunk missing (all fill values)"
                break
        if problem:
            set_status(path, block, PENDING, storage_options)
            reset.append((block, problem))
    fs, root = filesystem(path, storage_options)
    try:
        for f in fs.find(root):
            if f.endswith(".partial"):
                fs.rm(f)
    except (FileNotFoundError, NotImplementedError):
        pass
    return reset
