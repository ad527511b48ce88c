"""The model contract shared by every solvable model (PLRF, BAP, LIN).

Each ``scalinglab/models/<name>.py`` module exposes the same names, so that the sweep
machinery, the cube and the common tests treat all models alike:

``NAME``
    The spec's ``model`` string.
``Params``
    A pydantic model (``extra="forbid"``) of the model's ``[params]`` with defaults and
    per-field constraints. Defaults are resolved into the stored spec, never silent.
``check_domain(alpha, beta, N, P, t, params) -> None``
    Raise :class:`scalinglab.errors.SpecError` (one line, naming the condition and the
    allowed range) when a grid point lies outside the model's domain.
``theory_variables(params) -> tuple[str, ...]`` / ``sim_variables(params) -> tuple[str, ...]``
    Names of the arrays that :func:`theory` / :func:`simulate` return (``"loss"`` first).
    The cube stores them as ``theory_<name>`` / ``sim_<name>``.
``theory(point, *, tier, rngs) -> Curves``
    Arrays of shape ``(n_N, n_t)``. ``rngs`` holds one ``numpy.random.Generator`` per N,
    used only by tiers that sample (e.g. PLRF's ``exact`` tier draws W).
``simulate(point, rngs, *, method) -> Curves``
    Arrays of shape ``(n_N, n_seed, n_t)``; ``rngs[i][s]`` drives N index ``i``, seed ``s``.
    ``method`` is ``"eigen"`` (fast, exact in law) or ``"ambient"`` (faithful reference).
``cost(point, method) -> float``
    A rough wall-time estimate in seconds for one point (all N), used to size blocks.

Randomness is always an explicit argument; nothing touches global numpy state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

__all__ = ["Point", "Curves", "TheoryFn", "SimulateFn", "geometric_steps"]


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


class TheoryFn(Protocol):
    def __call__(self, point: Point, *, tier: str = ..., rngs: Sequence[np.random.Generator] | None = ...) -> Curves: ...


class SimulateFn(Protocol):
    def __call__(self, point: Point, rngs: Sequence[Sequence[np.random.Generator]], *, method: str = ...) -> Curves: ...


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
