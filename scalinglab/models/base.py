"""The model contract shared by every solvable model: :class:`Model`, :class:`Point`, :class:`Curves`.

A model is an object (not a module convention) that satisfies the :class:`Model` protocol; the
registry (:func:`scalinglab.models.get_model`) loads built-in and plug-in models from the entry-point
group ``scalinglab.models`` and checks them with :func:`check_model` before anything uses them.
``flows/``, ``tasks/`` and ``storage/`` name no model: everything that differs per model comes
from this protocol. ``docs/adding-a-model.md`` walks through a complete plug-in.

Randomness is always an explicit argument (:class:`Streams`); nothing touches global numpy state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["Point", "Curves", "Model", "ModelBase", "Streams", "PhaseDiagram", "check_model",
           "ModelConformanceError", "ParamsBase", "TheoryFn", "SimulateFn", "geometric_steps", "ROLES", "rngs_for",
           "list_streams"]


@dataclass(frozen=True)
class Point:
    """One (alpha, beta, P) grid cell with all its N and t values.

    Attributes
    ----------
    alpha, beta : float
        Project exponents (CONVENTIONS.md): lambda_j = j^(-2 alpha), target power
        lambda_j b_j^2 = j^(-2(alpha+beta)).
    P : float
        Number of distinct training samples; ``inf`` for one-pass training.
    N : ndarray of float64, shape (n_N,)
        Trained parameters (projection sizes), increasing; integer-valued, or ``inf``
        for models that have a no-projection limit (BAP). Models cast finite values
        to int themselves.
    t : ndarray of int64, shape (n_t,)
        Checkpoints (optimizer steps), increasing, >= 1 (0 allowed: the initial loss).
    params : pydantic model
        The model's resolved ``Params``.
    """

    alpha: float
    beta: float
    P: float
    N: np.ndarray
    t: np.ndarray
    params: Any

    def __post_init__(self) -> None:
        object.__setattr__(self, "N", np.asarray(self.N, dtype=np.float64))
        object.__setattr__(self, "t", np.asarray(self.t, dtype=np.int64))


@dataclass
class Curves:
    """What a theory tier or a simulation returns.

    Attributes
    ----------
    values : dict of str -> ndarray
        ``"loss"`` always; ``"train_loss"`` where P is finite; model-specific extras
        (asymptotic terms, bias/variance split). Shape ``(n_N, n_t)`` for theory,
        ``(n_N, n_seed, n_t)`` for simulation.
    source : str
        The tier (``"exact"``, ``"de"``, ``"asymptotic"``, ...) or the simulation
        method (``"eigen"``, ``"ambient"``) that produced the numbers.
    flags : dict of str -> ndarray of bool
        Optional per-value warnings with the same shape as the values (e.g. an
        ill-conditioned Laplace inversion). Empty when nothing is flagged.
    """

    values: dict[str, np.ndarray]
    source: str
    flags: dict[str, np.ndarray] = field(default_factory=dict)


#: Stream roles. A paired theory tier (issue 10.2) reads the "simulation" stream of seed s (a fresh
#: copy), so it sees exactly the draws (projection, sketch, target) that seed s's simulation trains on.
ROLES = ("simulation", "theory")


class Streams(Protocol):
    """The random streams of one (alpha, beta, P) cell: ``streams(role, iN, seed)`` is a fresh
    :class:`numpy.random.Generator` whose seed derives from the unit's content (model, the params
    that change its numbers, alpha, beta, N, P, the root seed), the ``role`` and the seed index —
    never from the grid around it, block shapes, ``methods`` or the seed count."""

    def __call__(self, role: str, iN: int, seed: int = 0) -> np.random.Generator: ...


class TheoryFn(Protocol):
    def __call__(self, point: Point, streams: Streams, *, tier: str | None = ...) -> Curves: ...


class SimulateFn(Protocol):
    def __call__(self, point: Point, streams: Streams, n_seeds: int, *, method: str | None = ...) -> Curves: ...


class PhaseDiagram(Protocol):
    """Optional analysis hook: a theoretical phase diagram over (alpha, beta) to overlay on
    measured maps. ``boundaries(alpha_range, beta_range)`` gives (name, x, y) polylines, ``labels()``
    (name, alpha, beta, proven) tuples; ``unproven(alpha_range, beta_range)`` the polygons of rows
    that are derived, not proven (hatched)."""

    def boundaries(self, alpha_range: tuple[float, float], beta_range: tuple[float, float]) -> list: ...

    def labels(self) -> list: ...


@runtime_checkable
class Model(Protocol):
    r"""What every model provides (built-in or plug-in). ``scalinglab.models.get_model(name)`` returns one.

    Attributes
    ----------
    name : str
        The spec's ``model`` string (the entry-point name).
    Params : type[pydantic.BaseModel]
        The spec's ``[params]``; ``extra="forbid"``; every field has a ``description`` (meaning
        and allowed range) that ``scalinglab params MODEL`` prints. The tier and method fields are
        named ``theory`` and ``simulation``.
    theory_tiers, sim_methods : Mapping[str, str]
        Canonical names -> one-line descriptions (named after what they compute).
    aliases : Mapping[str, str]
        Deprecated tier/method spellings -> canonical names (accepted with a DeprecationWarning).
    phase_diagram : PhaseDiagram or None
        Optional analysis hook (PLRF's 4+3 phases).

    Methods
    -------
    resolve_params(params, *, alpha, beta, N, P, t) -> Params
        Write grid-dependent defaults into the params (stored in the spec: no silent default).
    check_domain(alpha, beta, N, P, t, params) -> None
        Raise :class:`scalinglab.errors.SpecError` (one line naming the broken condition).
    tier(params) -> str, method(params) -> str
        The canonical tier / method the params select.
    variables(params, kind) -> tuple[str, ...]
        Array names (``"loss"`` first) of ``kind`` = ``"theory"`` or ``"simulation"``; the cube
        stores ``theory_<name>`` / ``sim_<name>``.
    theory(point, streams, *, tier=None) -> Curves
        Arrays ``(n_N, n_t)``. Tiers that sample draw from ``streams("theory", iN, 0)``.
    simulate(point, streams, n_seeds, *, method=None) -> Curves
        Arrays ``(n_N, n_seed, n_t)``; seed s of N index i draws from ``streams("simulation", i, s)``.
    cost(point, kind) -> float
        Rough seconds for one cell (all N): the theory, or ONE seed of the simulation.
    unit_params(params, kind) -> dict
        The resolved params that change the numbers of ``kind`` (JSON-able). A unit's random
        streams and its key (:func:`scalinglab.spec.unit_key`) derive from these, so a field
        left out must not change any number.
    depends_on_checkpoints(params, kind) -> bool
        True when the value at one checkpoint depends on the other checkpoints (a time
        integrator on the checkpoint grid, a schedule whose horizon is the last checkpoint);
        the unit key then includes the checkpoint list.
    samples_per_step(params) -> float
        B in the compute C = N t B (the batch size; 1 for full-batch GD counted per step).
    cube_attrs(params) -> dict[str, str]
        Notes for the cube's attrs: ``compute`` (what C means) and any others (e.g. ``horizon``).
    plan_notes(params, *, P) -> list[str]  (optional; :class:`ModelBase` gives none)
        One-line notes for ``scalinglab plan`` about this grid (e.g. what P = inf means).
    paired_theory(point, streams, n_seeds, *, tier=None) -> Curves  (optional, issue 10.2)
        For ``paired_tiers`` (random given a draw): the theory of exactly seed s's draws, arrays
        ``(n_N, n_seed, n_t)``; it reads ``streams("simulation", i, s)``, a fresh copy of seed s's stream.
    is_paired(params) -> bool  (optional; False when absent)
        True when the selected tier is in ``paired_tiers``: a sweep then stores the theory with the
        ``seed`` dimension (one value per seed's draw, ``seeds`` draws also in theory-only sweeps)
        and computes it with :meth:`paired_theory`.
    """

    name: str
    Params: type
    theory_tiers: Mapping[str, str]
    sim_methods: Mapping[str, str]
    aliases: Mapping[str, str]
    phase_diagram: Any

    def resolve_params(self, params: Any, *, alpha: np.ndarray, beta: np.ndarray, N: np.ndarray, P: np.ndarray,
                       t: np.ndarray) -> Any: ...

    def check_domain(self, alpha: float, beta: float, N: Any, P: float, t: Any, params: Any) -> None: ...

    def tier(self, params: Any) -> str: ...

    def method(self, params: Any) -> str: ...

    def variables(self, params: Any, kind: str) -> tuple[str, ...]: ...

    def theory(self, point: Point, streams: Streams, *, tier: str | None = None) -> Curves: ...

    def simulate(self, point: Point, streams: Streams, n_seeds: int, *, method: str | None = None) -> Curves: ...

    def cost(self, point: Point, kind: str) -> float: ...

    def unit_params(self, params: Any, kind: str) -> dict[str, Any]: ...

    def depends_on_checkpoints(self, params: Any, kind: str) -> bool: ...

    def samples_per_step(self, params: Any) -> float: ...

    def cube_attrs(self, params: Any) -> dict[str, str]: ...


class ModelBase:
    """Defaults for the parts of :class:`Model` that most models share (subclass it, or don't).

    A subclass sets ``name``, ``Params``, ``theory_tiers``, ``sim_methods`` (and ``aliases``) and
    either overrides :meth:`theory`, :meth:`simulate`, :meth:`check_domain`, :meth:`cost`, or
    points the hooks below at functions written against generator lists:

    * ``theory_fn(point, *, tier, rngs)`` -- ``rngs`` is one generator per N for the tiers in
      ``sampling_tiers``, else None;
    * ``simulate_fn(point, rngs, *, method)`` -- ``rngs[i][s]`` for N index i, seed s;
    * ``domain_fn(alpha, beta, N, P, t, params)``, ``cost_fn(point, kind)``;
    * ``theory_variables(params)`` / ``sim_variables(params)`` (default ``("loss",)``).
    """

    name: ClassVar[str]
    Params: ClassVar[type]
    theory_tiers: ClassVar[Mapping[str, str]] = {}
    sim_methods: ClassVar[Mapping[str, str]] = {}
    aliases: ClassVar[Mapping[str, str]] = {}
    phase_diagram: ClassVar[Any] = None
    #: Tiers that draw (from ``streams("theory", iN, 0)``).
    sampling_tiers: ClassVar[tuple[str, ...]] = ()
    #: Params fields that select the tier / the method (left out of the other kind's unit params).
    tier_field: ClassVar[str] = "theory"
    method_field: ClassVar[str] = "simulation"
    #: Params fields that change no number of that kind: {"theory": (...), "simulation": (...)}.
    inert_fields: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    #: Tiers that are random given a draw and can be paired with the simulation (issue 10.2).
    paired_tiers: ClassVar[tuple[str, ...]] = ()
    paired_fn: ClassVar[Any] = None
    theory_fn: ClassVar[Any] = None
    simulate_fn: ClassVar[Any] = None
    domain_fn: ClassVar[Any] = None
    cost_fn: ClassVar[Any] = None
    resolve_fn: ClassVar[Any] = None

    def __repr__(self) -> str:
        return f"<scalinglab model {self.name!r} ({type(self).__module__})>"

    def resolve_params(self, params, *, alpha, beta, N, P, t):
        if self.resolve_fn is None:
            return params
        return type(self).resolve_fn(params, alpha=alpha, beta=beta, N=N, P=P, t=t)

    def check_domain(self, alpha, beta, N, P, t, params) -> None:
        type(self).domain_fn(alpha, beta, N, P, t, params)

    def cost(self, point: Point, kind: str) -> float:
        return float(type(self).cost_fn(point, kind))

    def tier(self, params) -> str:
        name = getattr(params, self.tier_field, None) or next(iter(self.theory_tiers))
        return self.aliases.get(name, name)

    def method(self, params) -> str:
        name = getattr(params, self.method_field, None) or next(iter(self.sim_methods))
        return self.aliases.get(name, name)

    def variables(self, params, kind: str) -> tuple[str, ...]:
        fn = getattr(self, "theory_variables" if kind == "theory" else "sim_variables", None)
        return tuple(fn(params)) if fn is not None else ("loss",)

    def theory(self, point: Point, streams: Streams, *, tier: str | None = None) -> Curves:
        tier = self.aliases.get(tier, tier) if tier else self.tier(point.params)
        rngs = rngs_for(streams, "theory", point.N.size) if tier in self.sampling_tiers else None
        return type(self).theory_fn(point, tier=tier, rngs=rngs)

    def simulate(self, point: Point, streams: Streams, n_seeds: int, *, method: str | None = None) -> Curves:
        method = self.aliases.get(method, method) if method else self.method(point.params)
        return type(self).simulate_fn(point, rngs_for(streams, "simulation", point.N.size, n_seeds), method=method)

    def paired_theory(self, point: Point, streams: Streams, n_seeds: int, *, tier: str | None = None) -> Curves:
        """Optional (issue 10.2): a tier in ``paired_tiers`` evaluated for exactly the draws (projection,
        sketch, drawn target) that simulation seed s trains on -- it reads ``streams("simulation", i, s)``,
        a fresh copy of that seed's stream. Arrays ``(n_N, n_seed, n_t)``; the mean over seeds is the
        draw-averaged theory."""
        tier = self.aliases.get(tier, tier) if tier else self.tier(point.params)
        if tier not in self.paired_tiers or self.paired_fn is None:
            raise NotImplementedError(f"{self.name}: tier {tier!r} is not random given a draw; nothing to pair")
        return type(self).paired_fn(point, rngs_for(streams, "simulation", point.N.size, n_seeds), tier=tier)

    def is_paired(self, params) -> bool:
        """The selected tier is random given a draw and is stored per seed, paired with the simulation."""
        return self.tier(params) in self.paired_tiers and self.paired_fn is not None

    def unit_params(self, params, kind: str) -> dict[str, Any]:
        d = dict(as_mapping_json(params))
        other = self.method_field if kind == "theory" else self.tier_field
        for k in (other, *self.inert_fields.get(kind, ())):
            d.pop(k, None)
        if kind == "theory":
            d[self.tier_field] = self.tier(params)
        else:
            d[self.method_field] = self.method(params)
        return d

    def depends_on_checkpoints(self, params, kind: str) -> bool:
        return False

    def samples_per_step(self, params) -> float:
        return 1.0

    def cube_attrs(self, params) -> dict[str, str]:
        return {"compute": "C = N * t * B (one sample costs O(N) in the projected space)"}

    def plan_notes(self, params, *, P) -> list[str]:
        """Optional hook: one-line notes ``scalinglab plan`` prints for this model and grid (default none)."""
        return []


class ParamsBase:
    """Mix-in for a model's ``Params`` (a pydantic model): fields named in ``_omit_at_default`` are
    left out of dumps while at their default. For fields added after cubes were written, so the spec
    hashes of those cubes stay what they were."""

    _omit_at_default: ClassVar[tuple[str, ...]] = ()

    def _omit_defaults(self, d: dict) -> dict:
        for k in self._omit_at_default:
            if getattr(self, k) == type(self).model_fields[k].default:
                d.pop(k, None)
        return d


class ModelConformanceError(TypeError):
    """A registered model does not satisfy :class:`Model` (raised when the registry loads it)."""


_REQUIRED_CALLS = ("resolve_params", "check_domain", "tier", "method", "variables", "theory", "simulate", "cost",
                   "unit_params", "depends_on_checkpoints", "samples_per_step", "cube_attrs")


def check_model(model: Any, name: str | None = None, origin: str = "") -> Any:
    """Check that ``model`` satisfies :class:`Model`; raise :class:`ModelConformanceError` listing every gap.

    Checks: the attributes and calls of the protocol exist; ``name`` matches the registry key;
    ``Params`` is a pydantic model whose every field has a description and which builds with
    its defaults; tiers and methods are non-empty; the default tier and method are among them;
    ``variables`` starts with ``"loss"``; aliases point at canonical names.
    """
    where = f"model {name or getattr(model, 'name', '?')!r}" + (f" ({origin})" if origin else "")
    problems: list[str] = []
    for attr in ("name", "Params", "theory_tiers", "sim_methods", "aliases"):
        if not hasattr(model, attr):
            problems.append(f"missing attribute `{attr}`")
    for call in _REQUIRED_CALLS:
        if not callable(getattr(model, call, None)):
            problems.append(f"missing method `{call}()`")
    if problems:
        raise ModelConformanceError(f"{where} does not satisfy scalinglab.models.Model: " + "; ".join(problems)
                                    + " (see docs/adding-a-model.md)")
    if name is not None and model.name != name:
        problems.append(f"`name` is {model.name!r} but it is registered as {name!r}")
    try:
        from pydantic import BaseModel

        if not (isinstance(model.Params, type) and issubclass(model.Params, BaseModel)):
            raise TypeError
        undocumented = [f for f, info in model.Params.model_fields.items() if not (info.description or "").strip()]
        if undocumented:
            problems.append(f"Params fields without a description: {undocumented}")
        params = model.Params()
    except TypeError:
        problems.append("`Params` is not a pydantic BaseModel subclass")
        params = None
    except Exception as err:  # noqa: BLE001 - report, don't crash the registry
        problems.append(f"`Params()` with defaults fails: {err}")
        params = None
    if not model.theory_tiers:
        problems.append("`theory_tiers` is empty")
    if not model.sim_methods:
        problems.append("`sim_methods` is empty")
    bad_alias = {k: v for k, v in dict(model.aliases).items() if v not in {**model.theory_tiers, **model.sim_methods}}
    if bad_alias:
        problems.append(f"aliases point at unknown names: {bad_alias}")
    if params is not None:
        try:
            if model.tier(params) not in model.theory_tiers:
                problems.append(f"default tier {model.tier(params)!r} not in theory_tiers")
            if model.method(params) not in model.sim_methods:
                problems.append(f"default method {model.method(params)!r} not in sim_methods")
            for kind in ("theory", "simulation"):
                v = tuple(model.variables(params, kind))
                if not v or v[0] != "loss":
                    problems.append(f"variables(params, {kind!r}) must start with 'loss', got {v}")
                import json

                json.dumps(model.unit_params(params, kind))
        except Exception as err:  # noqa: BLE001
            problems.append(f"calling the protocol with default Params fails: {type(err).__name__}: {err}")
    if problems:
        raise ModelConformanceError(f"{where} does not satisfy scalinglab.models.Model: " + "; ".join(problems)
                                    + " (see docs/adding-a-model.md)")
    return model


def replicas_of(params: Any) -> int:
    """Runs per seed on the seed's own draw: the params' ``replicas`` (1 for a model without one). A
    seed's simulated value is their mean and ``<var>_se`` its standard error, ``replicas - 1`` dof."""
    return int(getattr(params, "replicas", 1))


def as_mapping_json(params: Any) -> Mapping[str, Any]:
    """The params as a JSON-able dict (pydantic model or mapping)."""
    if hasattr(params, "model_dump"):
        return params.model_dump(mode="json")
    return dict(params)


def rngs_for(streams: Streams, role: str, n_N: int, n_seeds: int | None = None) -> list:
    """Adapter for model code written against generator lists: ``[gen per N]`` (``n_seeds=None``)
    or ``[[gen per seed] per N]``."""
    if n_seeds is None:
        return [streams(role, i, 0) for i in range(n_N)]
    return [[streams(role, i, s) for s in range(n_seeds)] for i in range(n_N)]


def list_streams(rngs: Sequence, role: str = "simulation") -> Streams:
    """The inverse adapter, for tests and notebooks: a :class:`Streams` over explicit generators
    (``rngs[i][s]`` for simulation, ``rngs[i]`` for theory)."""

    def streams(r: str, iN: int, seed: int = 0) -> np.random.Generator:
        item = rngs[iN]
        return item[seed] if isinstance(item, (list, tuple)) else item

    return streams


def geometric_steps(checkpoints: np.ndarray, rel_step: float = 0.01, exact_until: int = 256) -> np.ndarray:
    """Integer step sizes h_1, h_2, ... whose partial sums hit every checkpoint exactly.

    Steps are 1 up to ``exact_until``, then about ``rel_step * r`` at time r, never
    jumping over a checkpoint. Used by time integrators that advance a linear recursion
    by h steps at once (closed-form geometric sums), so a curve to t = 10^7 costs
    O(log t / rel_step) updates instead of O(t).

    Returns
    -------
    ndarray of int64
        The step sizes; ``np.cumsum`` of them contains every checkpoint > 0.
    """
    targets = np.unique(np.asarray(checkpoints, dtype=np.int64))
    targets = targets[targets > 0]
    steps: list[int] = []
    r = 0
    for target in targets:
        while r < target:
            h = 1 if r < exact_until else max(1, int(rel_step * r))
            h = min(h, int(target - r))
            steps.append(h)
            r += h
    return np.asarray(steps, dtype=np.int64)


def as_mapping(params: Any) -> Mapping[str, Any]:
    """The params as a plain dict (pydantic model or mapping)."""
    if hasattr(params, "model_dump"):
        return params.model_dump()
    return dict(params)
