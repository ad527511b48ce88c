"""LIN parameters, truncation d, domain (see :mod:`scalinglab.models.lin`, ``docs/theory/lin.md`` §6)."""
from __future__ import annotations

import math
import warnings
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

from scalinglab.models.base import ParamsBase
from scalinglab.errors import DomainError

__all__ = ["NAME", "TIERS", "METHODS", "ALIASES", "HORIZON_NOTE", "COMPUTE_NOTE", "Params", "d_factor", "resolve_d",
           "resolve_params", "max_lr", "check_domain", "canonical"]

NAME = "lin"
#: Theory tiers, named after what they compute.
TIERS = {
    "exact_given_draw": "expected excess risk given a drawn sketch S and target w* (exact second-moment "
                        "recursion); paired: seed s's S and w*",
    "ridge_bridge": "FITTED bridge: the random-feature ridge deterministic equivalent at ridge c(a)/(N_eff lr) "
                    "(our empirical SGD->ridge map, docs/theory/lin.md §5; flagged outside its calibration)",
}
#: Simulation methods.
METHODS = {
    "eigen": "one-pass SGD reduced to G = S H S^T's eigenbasis, exact in law given (S, w*), O(N) per step",
    "ambient": "faithful one-pass SGD with x in R^d, O(N d) per step (the reference)",
}
#: Deprecated spellings (DeprecationWarning; the cube's `source` attr records the canonical name).
ALIASES = {"exact": "exact_given_draw", "de": "ridge_bridge"}


def canonical(name: str) -> str:
    """The canonical tier/method name (old spellings mapped through :data:`ALIASES`)."""
    return ALIASES.get(name, name)

#: For the cube's attrs: what a checkpoint means under each schedule.
HORIZON_NOTE = (
    "schedule='step-decay': the value at checkpoint t is the excess risk of a separate one-pass "
    "SGD run whose horizon is t (ceil(log2 t) phases of t/ceil(log2 t) steps, step lr/2^l in "
    "phase l), not a point on one trajectory; schedule='constant': one trajectory read at each t."
)
#: For the cube's attrs (docs/theory/lin.md §6 pitfall 6).
COMPUTE_NOTE = (
    "C = N t: one SGD step costs O(N) in sketch space; the O(N d) cost of forming S x is not counted."
)


class Params(ParamsBase, BaseModel):
    """The ``[params]`` of a LIN sweep (every field's description gives its meaning and range)."""

    model_config = ConfigDict(extra="forbid")

    lr: float = Field(0.1, gt=0, allow_inf_nan=False, description=(
        "initial SGD step gamma (Lin's gamma), float in (0, 1/(2 zeta(2 alpha))] (max_lr; the factor 2 covers "
        "the fluctuation of tr S H S^T around tr H)"))
    schedule: Literal["step-decay", "constant"] = Field("step-decay", description=(
        "step-decay: ceil(log2 t) halving phases, one run per checkpoint horizon t | constant: one trajectory"))
    sigma2: float = Field(1.0, ge=0, allow_inf_nan=False, description=(
        "label-noise variance sigma^2 >= 0 (irreducible; the stored loss is the excess risk, without it)"))
    target: Literal["prior", "prior_mean", "fixed"] = Field("prior", description=(
        "prior: w* ~ N(0, diag(i^(-2 beta))) is drawn per seed and seed s's exact_given_draw theory is for seed s's "
        "S and w*, paired with its simulation (the mean over seeds is the prior average) | prior_mean: seed s's "
        "theory averages analytically over w* given seed s's S (less noise for theory-only exponent studies; the "
        "simulation still draws w*, so residuals carry the w* spread) | fixed: old name of prior's per-seed draw "
        "(same numbers)"))
    d: int | None = Field(None, ge=1, description=(
        "truncation (ambient dimension, Lin's d), integer >= ceil(d_factor(alpha) N_max) (64 N_max at "
        "2 alpha <= 1.5, 16 N_max at 2 alpha >= 2); unset: that value, resolved into the stored spec"))
    sketches: int = Field(1, ge=1, description=(
        "DEPRECATED, ignored by sweeps: the exact_given_draw theory is paired with the seeds (seed s's theory "
        "uses seed s's sketch S and w*), so `seeds` sets the draws; integer >= 1 (still averaged by "
        "lin.theory() called directly)"))
    theory: Literal["exact_given_draw", "ridge_bridge", "exact", "de"] = Field("exact_given_draw", description=(
        "theory tier: exact_given_draw | ridge_bridge (fitted; step-decay only); old names exact, de accepted "
        "with a DeprecationWarning"))
    simulation: Literal["eigen", "ambient"] = Field("eigen", description=(
        "simulation method: eigen (reduced, exact in law, O(N)/step) | ambient (faithful, O(N d)/step)"))

    @field_validator("sketches")
    @classmethod
    def _warn_sketches(cls, v: int) -> int:
        if v != 1:
            warnings.warn("lin: `sketches` is deprecated and ignored by sweeps: the exact_given_draw theory is "
                          "paired with the seeds (seed s uses seed s's S and w*); set `seeds` instead",
                          DeprecationWarning, stacklevel=2)
        return v

    @field_validator("theory")
    @classmethod
    def _warn_old_name(cls, v: str) -> str:
        if v in ALIASES:
            warnings.warn(f"lin: theory tier {v!r} is deprecated; use {ALIASES[v]!r}", DeprecationWarning,
                          stacklevel=2)
        return v

    #: added after cubes were written: left out of dumps at their defaults (spec hashes stay valid)
    _omit_at_default = ("theory", "simulation")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return self._omit_defaults(handler(self))


# ---------------------------------------------------------------------------------------------
# domain
# ---------------------------------------------------------------------------------------------
def d_factor(alpha: float) -> float:
    """d / N_max of the truncation rule (docs/theory/lin.md §6): 64 at a <= 1.5, 16 at a >= 2, 2^(6-4(a-1.5)) between."""
    a = 2.0 * alpha
    return float(2.0 ** (6.0 - 4.0 * min(0.5, max(0.0, a - 1.5))))


def resolve_d(alpha: float, N_max: float) -> int:
    """The default truncation d = ceil(d_factor(alpha) * N_max)."""
    return int(math.ceil(d_factor(alpha) * float(N_max) - 1e-9))


def resolve_params(params: Params, *, alpha, beta, N, P, t) -> Params:
    """Resolve ``d=None`` into the spec: the largest rule value over the grid's alpha (one d).

    Called by :func:`scalinglab.spec.parse_spec` so the stored spec never holds a silent default.
    """
    Nf = np.asarray(N, dtype=np.float64)
    Nf = Nf[np.isfinite(Nf)]
    alphas = [float(a) for a in np.atleast_1d(alpha) if np.isfinite(a) and a > 0.5]
    if params.d is not None or Nf.size == 0 or not alphas:
        return params
    d = max(resolve_d(a, float(Nf.max())) for a in alphas)
    return params.model_copy(update={"d": d})


def max_lr(alpha: float) -> float:
    """Largest allowed lr: 1/(2 tr H) with tr H = zeta(2 alpha) (docs/theory/lin.md §6 pitfall 1).

    The second-moment map loses stability near lr tr H ~ 1.3-1.6; the factor-2 margin covers
    the fluctuation of tr G = tr S H S^T around tr H. The exact per-sketch condition
    (all eigenvalues of the map < 1) is re-checked at run time and flagged.
    """
    from scipy.special import zeta  # here, not at module level: every LIN spec imports this module

    return float(1.0 / (2.0 * zeta(2.0 * alpha)))


def check_domain(alpha: float, beta: float, N, P: float, t, params: Params) -> None:
    """Raise :class:`DomainError` (a :class:`SpecError`) when a grid point is outside LIN's domain.

    Conditions: P = inf; a = 2 alpha > 1; b = 2 alpha + 2 beta > 1; N finite integers >= 1;
    t integers >= 0; d >= resolve_d(alpha, N_max) when d is set; lr <= 1/(2 zeta(2 alpha)).
    """
    where = "lin"
    if not (isinstance(P, (int, float, np.floating, np.integer)) and math.isinf(float(P)) and float(P) > 0):
        raise DomainError(where, "P", P, "inf (LIN is one-pass SGD: a fresh sample every step, so P = t)")
    if not (math.isfinite(alpha) and alpha > 0.5):
        raise DomainError(where, "alpha", alpha, "alpha > 1/2 (Lin's a = 2 alpha > 1: trace-class H)")
    if not (math.isfinite(beta) and alpha + beta > 0.5):
        raise DomainError(where, "beta", beta,
                          f"2(alpha+beta) > 1 (Lin's source b = 2 alpha + 2 beta > 1), i.e. beta > {0.5 - alpha:g}")
    Na = np.atleast_1d(np.asarray(N, dtype=np.float64))
    if Na.size == 0 or not np.all(np.isfinite(Na)) or np.any(Na < 1) or np.any(Na != np.round(Na)):
        bad = next((float(x) for x in Na if not (math.isfinite(x) and x >= 1 and x == round(x))), None)
        raise DomainError(where, "N", bad, "finite integers >= 1 (the sketch size, Lin's M)")
    ta = np.atleast_1d(np.asarray(t))
    if ta.size and (np.any(ta < 0) or np.any(ta != np.round(ta))):
        raise DomainError(where, "t", ta.tolist(), "integers >= 0")
    n_max = float(Na.max())
    if params.d is not None:
        need = resolve_d(alpha, n_max)
        if params.d < need:
            raise DomainError("lin.params", "d", params.d,
                              f"d >= {need} = ceil({d_factor(alpha):g} N_max) at alpha={alpha:g}, N_max={int(n_max)} "
                              "(docs/theory/lin.md §6 truncation rule: 64 N_max at 2 alpha <= 1.5, 16 N_max at 2 alpha >= 2)",
                              "raise d or leave it unset")
    lim = max_lr(alpha)
    if params.lr > lim:
        raise DomainError("lin.params", "lr", params.lr,
                          f"lr <= 1/(2 tr H) = 1/(2 zeta(2 alpha)) = {lim:.4g} at alpha={alpha:g}", "lower lr")
