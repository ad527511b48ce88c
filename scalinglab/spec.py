"""The sweep spec: grid axes, model, methods, params; validation; hashing; blocks.

A spec is TOML (``examples/quickstart.toml``)::

    model = "plrf"
    methods = ["theory", "simulation"]
    seeds = 4
    [grid]        # each axis: a list, or {geomspace=[a,b], num=k} / {linspace=[a,b], num=k}
    alpha = [0.8, 1.0]
    beta  = [0.3, 0.6]
    N     = {geomspace = [64, 512], num = 4}
    P     = ["inf"]
    t     = {geomspace = [1, 100000], num = 41}
    [params]      # model-specific (see each model's ``Params``)
    [store]
    path = "results/quickstart.zarr"

Every problem is reported as one :class:`~scalinglab.errors.SpecError` line naming the
field, the value and the allowed range. Validation runs once, here, before anything is
written (STYLE.md §7).
"""
from __future__ import annotations

import hashlib
import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from scalinglab.errors import SpecError
from scalinglab.models import get_model, model_names
from scalinglab.models.base import Point, Streams

__all__ = ["SweepSpec", "Block", "load_spec", "parse_spec", "spec_from_json", "GRID_AXES"]

GRID_AXES = ("alpha", "beta", "N", "P")  # the axes blocks are cut along; t and seed stay whole
METHODS = ("theory", "simulation")
#: A block is sized to hold at least this much estimated work (stack.md §2: Prefect costs
#: 150–300 ms per task on Ray, so a block must be worth >= 1 s).
TARGET_BLOCK_SECONDS = 2.0
#: ... and its largest chunk at least this many bytes where the grid allows (issue 11:
#: a 10^6-unit cube in thousands of ~1 MiB objects, not millions of small files).
TARGET_BLOCK_BYTES = 2**20
#: Fixed cost of a `scalinglab run` on one machine: imports, Ray and the Prefect server
#: started side by side, flow-run bookkeeping and shutdown (bench/resume.py measures it).
STARTUP_SECONDS = 12.0
#: Orchestration and storage cost per block beyond its compute (bench/dispatch.py).
BLOCK_OVERHEAD_SECONDS = 0.01
MIN_BLOCKS_FOR_BYTES = 256
MAX_POINTS = 10_000_000


class _Range(BaseModel):
    model_config = ConfigDict(extra="forbid")
    geomspace: tuple[float, float] | None = None
    linspace: tuple[float, float] | None = None
    num: int = Field(..., ge=1, le=100_000)


AxisValue = Union[float, int, str]
AxisSpec = Union[list[AxisValue], _Range]


_RANGE_FORMS = "a list of values, {geomspace=[a,b], num=k} or {linspace=[a,b], num=k}"


def _suggest(key: str, known: list[str] | tuple[str, ...]) -> str:
    """`` (did you mean 'num'?)`` for the nearest known key, else the known keys."""
    import difflib

    near = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
    if near:
        return f"did you mean {near[0]!r}?"
    return f"known: {', '.join(known)}"


class GridSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: AxisSpec
    beta: AxisSpec
    N: AxisSpec
    P: AxisSpec = Field(default_factory=lambda: ["inf"])
    t: AxisSpec

    @field_validator("alpha", "beta", "N", "P", "t", mode="before")
    @classmethod
    def _axis_form(cls, v: Any) -> Any:
        """Name what is wrong with a range table (an unknown key such as ``n``, a missing ``num``)
        before pydantic tries the list form and reports "a valid list"."""
        if isinstance(v, dict):
            keys = list(_Range.model_fields)
            for k in v:
                if k not in keys:
                    raise ValueError(f"{_RANGE_FORMS}; {k!r} is not a range key ({_suggest(k, keys)})")
            if "num" not in v:
                raise ValueError(f"{_RANGE_FORMS}; the range has no num (how many values)")
        elif not isinstance(v, (list, tuple)):
            raise ValueError(f"{_RANGE_FORMS} (a single value is written [x])")
        else:
            for x in v:
                if isinstance(x, bool) or not isinstance(x, (int, float, str)):
                    raise ValueError(f"numbers or \"inf\" in the list, not {x!r}")
        return v


class StoreSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(..., min_length=1)
    storage_options: dict[str, Any] = Field(default_factory=dict)


class ScheduleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cron: str | None = None
    interval: float | None = Field(None, gt=0)


class _RawSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    methods: list[Literal["theory", "simulation"]] = Field(..., min_length=1)
    seeds: StrictInt = Field(1, ge=1, le=100_000)
    seed: StrictInt = Field(0, ge=0, le=2**63 - 1)  # root seed of every random stream (deliberate re-draws)
    grid: GridSpec
    params: dict[str, Any] = Field(default_factory=dict)
    store: StoreSpec
    schedule: ScheduleSpec | None = None

    @field_validator("model")
    @classmethod
    def _known_model(cls, v: str) -> str:
        if v not in model_names():
            raise ValueError(f"one of {model_names()}")
        return v


def _expand(name: str, axis: Any) -> np.ndarray:
    """One grid axis as a sorted float64 array (inf allowed where the model accepts it)."""
    if isinstance(axis, _Range):
        kinds = [k for k in ("geomspace", "linspace") if getattr(axis, k) is not None]
        if len(kinds) != 1:
            raise SpecError("spec.grid", name, axis.model_dump(exclude_none=True),
                            "exactly one of {geomspace=[a,b], num=k} or {linspace=[a,b], num=k}")
        lo, hi = getattr(axis, kinds[0])
        if kinds[0] == "geomspace":
            if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
                raise SpecError("spec.grid", name, [lo, hi], "geomspace bounds in (0, inf)")
            values = np.geomspace(lo, hi, axis.num)
        else:
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise SpecError("spec.grid", name, [lo, hi], "finite linspace bounds")
            values = np.linspace(lo, hi, axis.num)
    else:
        values = []
        for x in axis:
            if isinstance(x, bool):
                raise SpecError("spec.grid", name, x, "a number or \"inf\"")
            if isinstance(x, str):
                if x.strip().lower() not in ("inf", "+inf", "infinity"):
                    raise SpecError("spec.grid", name, x, "a number or \"inf\"")
                values.append(math.inf)
            else:
                values.append(float(x))
        values = np.asarray(values, dtype=np.float64)
        seen = set()
        for x in values:  # a repeated value is a typo or a copy-paste, never what was meant
            if x in seen:
                raise SpecError("spec.grid", name, list(axis), f"distinct values ({_fmt_value(x)} appears twice)")
            seen.add(x)
    if values.size == 0:
        raise SpecError("spec.grid", name, [], "a non-empty list of values")
    if np.any(np.isnan(values)):
        raise SpecError("spec.grid", name, "nan", "numbers, not NaN")
    return values


def _fmt_value(x: float) -> str:
    return "inf" if math.isinf(x) else (str(int(x)) if float(x).is_integer() else repr(float(x)))


def _integer_axis(name: str, values: np.ndarray, allow_inf: bool, exact: bool = False) -> np.ndarray:
    """An integer axis (N, P, t): a range's values are rounded (and repeats dropped); a list's
    values must be integers already (``exact``), never silently rounded."""
    finite = np.isfinite(values)
    if exact:
        frac = values[finite & (values != np.round(values))]
        if frac.size:
            raise SpecError("spec.grid", name, float(frac[0]), "integers (a count)",
                            f"Write {max(1, int(np.round(frac[0])))} or use a range, whose values are rounded")
    if np.any(values[finite] < 1) or np.any(values <= 0):
        bad = values[values < 1][0] if np.any(values < 1) else values[0]
        raise SpecError("spec.grid", name, float(bad), "positive values (integers >= 1)")
    if not allow_inf and not np.all(finite):
        raise SpecError("spec.grid", name, "inf", "finite integers >= 1")
    out = values.copy()
    out[finite] = np.round(values[finite])
    return np.unique(out)


@dataclass(frozen=True)
class Block:
    """One unit of work and of storage: a rectangle of the grid, whole along N, seed and t.

    ``index`` is the block's chunk index along (alpha, beta, N, P); ``slices`` the index
    ranges it covers in the cube.
    """

    id: int
    index: tuple[int, int, int, int]
    slices: tuple[slice, slice, slice, slice]

    def cells(self) -> Iterator[tuple[int, int, int]]:
        """(ia, ib, iP) of every (alpha, beta, P) cell in the block."""
        a, b, _, p = self.slices
        for ia in range(a.start, a.stop):
            for ib in range(b.start, b.stop):
                for ip in range(p.start, p.stop):
                    yield ia, ib, ip

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(s.stop - s.start for s in self.slices)  # type: ignore[return-value]


@dataclass(frozen=True)
class SweepSpec:
    """A validated, resolved spec: expanded axes, resolved params, chunking, hash."""

    model: str
    methods: tuple[str, ...]
    seeds: int
    alpha: np.ndarray
    beta: np.ndarray
    N: np.ndarray
    P: np.ndarray
    t: np.ndarray
    params: Any  # the model's Params
    store_path: str
    storage_options: dict[str, Any]
    schedule: dict[str, Any] | None
    chunks: tuple[int, int, int, int]
    root_seed: int = 0  # the spec's `seed`: root of every random stream (0 unless re-drawing on purpose)

    # ---- identity -------------------------------------------------------------------------
    def science(self) -> dict[str, Any]:
        """Everything that determines the numbers (what the hash covers)."""

        def enc(a: np.ndarray) -> list[Any]:
            return [("inf" if math.isinf(x) else (int(x) if float(x).is_integer() else float(x))) for x in a]

        return {
            "model": self.model,
            "methods": list(self.methods),
            "seeds": self.seeds,
            "grid": {"alpha": enc(self.alpha), "beta": enc(self.beta), "N": enc(self.N),
                     "P": enc(self.P), "t": enc(self.t)},
            "params": self.params.model_dump(mode="json"),
            "chunks": list(self.chunks),
            # the root seed only when set, so the hashes of specs written before it existed stay valid
            **({"seed": self.root_seed} if self.root_seed else {}),
        }

    def to_dict(self) -> dict[str, Any]:
        d = self.science()
        d["store"] = {"path": self.store_path, "storage_options": self.storage_options}
        if self.schedule:
            d["schedule"] = self.schedule
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`science` (store path and schedule excluded)."""
        return hashlib.sha256(json.dumps(self.science(), sort_keys=True).encode()).hexdigest()

    # ---- grid -----------------------------------------------------------------------------
    @property
    def grid_shape(self) -> tuple[int, int, int, int]:
        return (self.alpha.size, self.beta.size, self.N.size, self.P.size)

    @property
    def n_units(self) -> int:
        return int(np.prod(self.grid_shape))

    @property
    def block_counts(self) -> tuple[int, int, int, int]:
        """Number of blocks along (alpha, beta, N, P)."""
        return tuple(math.ceil(n / c) for n, c in zip(self.grid_shape, self.chunks))  # type: ignore[return-value]

    @property
    def n_blocks(self) -> int:
        return int(np.prod(self.block_counts))

    def block(self, block_id: int) -> Block:
        """Block ``block_id`` (chunk order, C order over the block counts), in O(1)."""
        if not 0 <= block_id < self.n_blocks:
            raise IndexError(f"block {block_id} outside 0..{self.n_blocks - 1}")
        idx = np.unravel_index(block_id, self.block_counts)
        slices = tuple(slice(int(i) * c, min((int(i) + 1) * c, n)) for i, c, n in zip(idx, self.chunks, self.grid_shape))
        return Block(id=int(block_id), index=tuple(int(i) for i in idx), slices=slices)  # type: ignore[arg-type]

    def blocks(self) -> list[Block]:
        """All blocks, in chunk order."""
        return [self.block(i) for i in range(self.n_blocks)]

    def point(self, ia: int, ib: int, ip: int) -> Point:
        return Point(float(self.alpha[ia]), float(self.beta[ib]), float(self.P[ip]), self.N, self.t, self.params)

    # ---- unit identity by content (issue 10.1) ---------------------------------------------
    def _unit_common(self, ia: int, ib: int, ip: int) -> dict[str, Any]:
        return {"model": self.model, "alpha": _num(self.alpha[ia]), "beta": _num(self.beta[ib]),
                "P": _num(self.P[ip]), "root_seed": int(self.root_seed)}

    def seed_sequence(self, role: str, ia: int, ib: int, iN: int, ip: int, s: int) -> np.random.SeedSequence:
        """The random stream of one unit, seed index and role, derived from content only.

        sha256 of the canonical JSON of (model, the params that change the numbers of this role
        (``Model.stream_params`` or ``Model.unit_params``), alpha, beta, N, P, root seed, role, seed
        index) -- never the spec hash, grid indices, block shapes, ``methods`` or the seed count.
        So the same unit in two sweeps draws the same numbers.
        """
        m = self.model_module()
        kind = "theory" if role == "theory" else "simulation"
        stream_params = getattr(m, "stream_params", None)
        params = stream_params(self.params, role) if stream_params else m.unit_params(self.params, kind)
        content = {**self._unit_common(ia, ib, ip), "N": _num(self.N[iN]), "params": params, "role": role,
                   "seed": int(s)}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).digest()
        return np.random.SeedSequence(int.from_bytes(digest[:16], "big"))

    def streams(self, ia: int, ib: int, ip: int) -> Streams:
        """The :class:`~scalinglab.models.Streams` of one (alpha, beta, P) cell: ``(role, iN, seed) -> Generator``."""

        def stream(role: str, iN: int, seed: int = 0) -> np.random.Generator:
            return np.random.default_rng(self.seed_sequence(role, ia, ib, iN, ip, seed))

        return stream

    def sim_rngs(self, ia: int, ib: int, ip: int) -> list[list[np.random.Generator]]:
        st = self.streams(ia, ib, ip)
        return [[st("simulation", iN, s) for s in range(self.seeds)] for iN in range(self.N.size)]

    def theory_rngs(self, ia: int, ib: int, ip: int) -> list[np.random.Generator]:
        st = self.streams(ia, ib, ip)
        return [st("theory", iN, 0) for iN in range(self.N.size)]

    @property
    def theory_paired(self) -> bool:
        """The theory tier is random given a draw and is paired with the seeds (issue 10.2): its
        variables carry the ``seed`` dimension and seed s's theory uses seed s's draws (also in a
        theory-only sweep, which then takes ``seeds`` draws)."""
        is_paired = getattr(self.model_module(), "is_paired", None)
        return "theory" in self.methods and bool(is_paired and is_paired(self.params))

    def seeded(self, kind: str) -> bool:
        """``kind``'s variables carry the ``seed`` dimension: the simulation always, the theory when paired."""
        return kind == "simulation" or (kind == "theory" and self.theory_paired)

    def unit_key_recipe(self, kind: str) -> dict[str, Any]:
        """What the ``kind`` ("theory" / "simulation") unit keys of this spec hash, less (alpha, beta, N, P).

        A paired theory (:attr:`theory_paired`) reads the simulation's streams, so its recipe also
        holds what seeds them (``draw_stream``); its seed-s values are keyed by (key, s).
        """
        m = self.model_module()
        recipe: dict[str, Any] = {"model": self.model, "kind": kind, "params": m.unit_params(self.params, kind),
                                  "root_seed": int(self.root_seed),
                                  "numbers_version": str(getattr(m, "numbers_version", "1"))}
        if kind == "theory" and self.theory_paired:
            stream_params = getattr(m, "stream_params", None)
            recipe["paired"] = True
            recipe["draw_stream"] = (stream_params(self.params, "simulation") if stream_params
                                     else m.unit_params(self.params, "simulation"))
        if m.depends_on_checkpoints(self.params, kind):
            recipe["t"] = [int(x) for x in self.t]
        return recipe

    def unit_keys(self, kind: str, slices: tuple[slice, ...] | None = None) -> np.ndarray:
        """uint64 keys of the (alpha, beta, N, P) units for ``kind``: the first 8 bytes of
        sha256(canonical JSON of :meth:`unit_key_recipe` + "|" + the four values as float64 hex).

        Equal keys mean equal numbers (the seed-s values of a simulation unit, or of a paired
        theory, are keyed by (key, s)). Shape :attr:`grid_shape`, or that of ``slices`` (a
        block's :attr:`Block.slices`).
        """
        prefix = json.dumps(self.unit_key_recipe(kind), sort_keys=True).encode() + b"|"
        slices = slices or tuple(slice(0, n) for n in self.grid_shape)
        axes = [np.asarray(a)[sl] for a, sl in zip((self.alpha, self.beta, self.N, self.P), slices)]
        out = np.empty(tuple(a.size for a in axes), dtype=np.uint64)
        for idx in np.ndindex(*out.shape):
            tail = ",".join(float(a[i]).hex() for a, i in zip(axes, idx)).encode()
            out[idx] = int.from_bytes(hashlib.sha256(prefix + tail).digest()[:8], "big")
        return out

    def model_module(self):
        """The model object (:class:`scalinglab.models.Model`); the name is historical."""
        return get_model(self.model)

    def variables(self) -> dict[str, tuple[str, ...]]:
        """Cube data variables by method: {"theory": ("theory_loss", ...), "simulation": (...)}."""
        m = self.model_module()
        out: dict[str, tuple[str, ...]] = {}
        if "theory" in self.methods:
            out["theory"] = tuple(f"theory_{v}" for v in m.variables(self.params, "theory"))
        if "simulation" in self.methods:
            out["simulation"] = tuple(f"sim_{v}" for v in m.variables(self.params, "simulation"))
        return out

    def cell_cost(self, ia: int = 0, ib: int = 0, ip: int = 0) -> float:
        """Estimated seconds for one (alpha, beta, P) cell, all N, all seeds."""
        m = self.model_module()
        pt = self.point(ia, ib, ip)
        total = 0.0
        if "theory" in self.methods:
            total += m.cost(pt, "theory") * (self.seeds if self.theory_paired else 1)
        if "simulation" in self.methods:
            total += self.seeds * m.cost(pt, "simulation")
        return total

    def estimate_seconds(self) -> float:
        """Estimated total compute (core-seconds) of the whole sweep."""
        return float(sum(self.cell_cost(ia, ib, ip) for ia in range(self.alpha.size)
                         for ib in range(self.beta.size) for ip in range(self.P.size)))

    def block_costs(self) -> np.ndarray:
        """Estimated seconds of every block (chunk order), from the model's cost per cell."""
        cells = np.array([[self.cell_cost(ia, ib, ip) for ip in range(self.P.size)]
                          for ia in range(self.alpha.size) for ib in range(self.beta.size)])
        cells = cells.reshape(self.alpha.size, self.beta.size, 1, self.P.size)
        ca, cb, _, cp = self.chunks
        na, nb, nn, npp = self.block_counts
        out = np.zeros((na, nb, nn, npp))
        for i in range(na):
            for j in range(nb):
                for k in range(npp):
                    out[i, j, :, k] = cells[i * ca:(i + 1) * ca, j * cb:(j + 1) * cb, 0, k * cp:(k + 1) * cp].sum()
        return out.ravel()

    def estimate_wall_seconds(self, workers: int, block_ids: "list[int] | None" = None) -> dict[str, float]:
        """Expected wall time of ``scalinglab run`` on ``workers`` CPUs, with its parts.

        startup: :data:`STARTUP_SECONDS` (Ray and the Prefect server side by side, imports,
        flow bookkeeping; measured by bench/resume.py); compute: the blocks scheduled in
        dispatch order on ``workers`` (greedy list scheduling: each block goes to the first
        free worker) plus :data:`BLOCK_OVERHEAD_SECONDS` per block (record, writes; measured
        by bench/dispatch.py). Checked against measured runs by bench/estimates.py.
        """
        import heapq

        costs = self.block_costs()
        if block_ids is not None:
            costs = costs[np.asarray(block_ids, dtype=np.int64)]
        free = [0.0] * max(1, min(int(workers), max(1, costs.size)))
        for c in costs:
            heapq.heappush(free, heapq.heappop(free) + float(c) + BLOCK_OVERHEAD_SECONDS)
        compute = max(free) if costs.size else 0.0
        return {"startup_s": STARTUP_SECONDS, "compute_s": compute, "total_s": STARTUP_SECONDS + compute,
                "core_s": float(costs.sum())}


def _num(x: float) -> Any:
    """A grid value as canonical JSON: "inf", an int when integral, else the float."""
    x = float(x)
    return "inf" if math.isinf(x) else (int(x) if x.is_integer() else x)


def _known_keys(loc: list[str], params_keys: list[str] | None) -> list[str]:
    """The valid keys of the table at ``loc`` (for a did-you-mean suggestion)."""
    tables: dict[tuple[str, ...], Any] = {(): _RawSpec, ("grid",): GridSpec, ("store",): StoreSpec,
                                          ("schedule",): ScheduleSpec}
    if params_keys is not None and not loc:
        return params_keys
    if len(loc) == 2 and loc[0] == "grid":
        return list(_Range.model_fields)
    model = tables.get(tuple(loc))
    return list(model.model_fields) if model is not None else []


def _format_validation_error(err: ValidationError, params_keys: list[str] | None = None) -> SpecError:
    errors = err.errors()
    # a misspelt key gives both "extra" (the typo) and "missing" (the right key): name the typo
    e = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
    inner = (e.get("ctx") or {}).get("error")
    if isinstance(inner, SpecError):  # a validator's own one-line message: keep it, not nested in another
        if "extra inputs" in inner.expected.lower() and params_keys is not None:
            key = str(inner.field).split(".")[-1]
            return SpecError("spec", key, inner.value, f"a known key ({_suggest(key, params_keys)})",
                             "`scalinglab params MODEL` lists a model's params")
        return inner
    loc = [str(x) for x in e["loc"] if not str(x).startswith(("list[", "_Range", "function-"))]
    # Drop pydantic's union-branch names (e.g. 'float', 'int', 'str') from the location.
    loc = [x for x in loc if x not in ("float", "int", "str", "list", "constrained-str")]
    field = ".".join(loc) or "spec"
    where = "spec"
    if len(loc) > 1:
        where, field = "spec." + ".".join(loc[:-1]), loc[-1]
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        known = _known_keys(loc[:-1], params_keys)
        hint = _suggest(loc[-1], known) if known else ""
        return SpecError(where, field, e.get("input"), f"a known key ({hint})" if hint else "a known key",
                         "`scalinglab params MODEL` lists a model's params" if params_keys is not None else "")
    if e["type"] == "missing":
        return SpecError(where, field, None, "a value (this key is required)")
    expected = msg.removeprefix("Value error, ").removeprefix("Input should be ")
    return SpecError(where, field, e.get("input"), expected)


def block_seconds() -> float:
    """Target work per block: ``SCALINGLAB_BLOCK_SECONDS`` or :data:`TARGET_BLOCK_SECONDS`."""
    import os

    try:
        return max(0.0, float(os.environ.get("SCALINGLAB_BLOCK_SECONDS", TARGET_BLOCK_SECONDS)))
    except ValueError:
        raise SpecError("env", "SCALINGLAB_BLOCK_SECONDS", os.environ["SCALINGLAB_BLOCK_SECONDS"],
                        "a number of seconds >= 0") from None


def block_bytes() -> int:
    """Target size of a block's largest chunk: ``SCALINGLAB_BLOCK_BYTES`` or :data:`TARGET_BLOCK_BYTES`."""
    import os

    try:
        return max(0, int(float(os.environ.get("SCALINGLAB_BLOCK_BYTES", TARGET_BLOCK_BYTES))))
    except ValueError:
        raise SpecError("env", "SCALINGLAB_BLOCK_BYTES", os.environ["SCALINGLAB_BLOCK_BYTES"],
                        "a number of bytes >= 0") from None


def _cell_bytes(spec: SweepSpec) -> int:
    """Bytes of one (alpha, beta, P) cell in the largest variable (all N, seeds, t; float64)."""
    per_seed = spec.seeds if any(spec.seeded(k) for k in spec.methods) else 1
    return int(spec.N.size * spec.t.size * 8 * per_seed)


def _choose_chunks(spec: SweepSpec) -> tuple[int, int, int, int]:
    """Block shape: whole N; then beta, alpha and P filled in that order up to the cells a
    block needs to hold both :func:`block_seconds` of estimated work and a largest chunk of
    :func:`block_bytes` (so a big sweep is ~1 MiB objects, not millions of tiny files).

    The size rule never leaves fewer than :data:`MIN_BLOCKS_FOR_BYTES` blocks: on a small
    grid, parallelism matters more than file count.
    """
    probe = SweepSpec(**{**spec.__dict__, "chunks": (1, 1, spec.N.size, 1)})
    per_cell = max(probe.cell_cost(), 1e-6)
    n_cells = spec.alpha.size * spec.beta.size * spec.P.size
    cells_time = math.ceil(block_seconds() / per_cell)
    cells_bytes = min(math.ceil(block_bytes() / _cell_bytes(spec)), max(1, n_cells // MIN_BLOCKS_FOR_BYTES))
    cells = int(max(1, cells_time, cells_bytes))
    nb = min(spec.beta.size, cells)
    na = min(spec.alpha.size, max(1, cells // nb)) if nb == spec.beta.size else 1
    n_p = min(spec.P.size, max(1, cells // (nb * na))) if na == spec.alpha.size else 1
    return (int(na), int(nb), int(spec.N.size), int(n_p))


def parse_spec(data: dict[str, Any], *, chunks: tuple[int, int, int, int] | None = None) -> SweepSpec:
    """Validate a spec dict (parsed TOML) into a :class:`SweepSpec`; raise SpecError (one line)."""
    try:
        raw = _RawSpec.model_validate(data)
    except ValidationError as err:
        raise _format_validation_error(err) from None
    model = get_model(raw.model)
    try:
        params = model.Params.model_validate(raw.params, strict=True)  # batch = "1" is a string, not 1
    except ValidationError as err:
        e = _format_validation_error(err, params_keys=list(model.Params.model_fields))
        raise SpecError("spec.params", e.field, e.value, e.expected, e.fix) from None
    g = raw.grid
    alpha = _expand("alpha", g.alpha)
    beta = _expand("beta", g.beta)
    if not np.all(np.isfinite(alpha)):
        raise SpecError("spec.grid", "alpha", "inf", "finite numbers")
    if not np.all(np.isfinite(beta)):
        raise SpecError("spec.grid", "beta", "inf", "finite numbers")
    alpha, beta = np.unique(alpha), np.unique(beta)
    N = _integer_axis("N", _expand("N", g.N), allow_inf=True, exact=not isinstance(g.N, _Range))
    P = _integer_axis("P", _expand("P", g.P), allow_inf=True, exact=not isinstance(g.P, _Range))
    t = _integer_axis("t", _expand("t", g.t), allow_inf=False, exact=not isinstance(g.t, _Range))
    if N.size * alpha.size * beta.size * P.size * t.size * (raw.seeds if "simulation" in raw.methods else 1) > MAX_POINTS * 10:
        raise SpecError("spec", "grid", "too large", f"at most {MAX_POINTS * 10:.0e} stored values")
    params = model.resolve_params(params, alpha=alpha, beta=beta, N=N, P=P, t=t)
    for a in alpha:
        for b in beta:
            for n in N:
                for p in P:
                    model.check_domain(float(a), float(b), float(n), float(p), int(t.max()), params)
    spec = SweepSpec(
        model=raw.model, methods=tuple(m for m in METHODS if m in raw.methods), seeds=raw.seeds,
        alpha=alpha, beta=beta, N=N, P=P, t=t.astype(np.int64), params=params,
        store_path=raw.store.path, storage_options=raw.store.storage_options,
        schedule=raw.schedule.model_dump(exclude_none=True) if raw.schedule else None,
        chunks=(1, 1, N.size, 1), root_seed=int(raw.seed),
    )
    if chunks is None:
        chunks = _choose_chunks(spec)
    return SweepSpec(**{**spec.__dict__, "chunks": tuple(int(c) for c in chunks)})


def load_spec(path: str | Path, *, chunks: tuple[int, int, int, int] | None = None) -> SweepSpec:
    """Read and validate a TOML spec file (``chunks`` fixes the block shape, e.g. a cube's)."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("cli", "SPEC", str(path), "an existing TOML file")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise SpecError("spec", "toml", p.name, f"valid TOML ({err})") from None
    return parse_spec(data, chunks=chunks)


def spec_from_json(text: str) -> SweepSpec:
    """Rebuild a spec stored in a cube's attrs (keeps its stored chunking)."""
    d = json.loads(text)
    chunks = tuple(d.pop("chunks"))
    store = d.pop("store")
    d["store"] = {"path": store["path"], "storage_options": store.get("storage_options", {})}
    return parse_spec(d, chunks=chunks)  # type: ignore[arg-type]
