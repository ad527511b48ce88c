"""PLRF parameters, domain and learning rate (see :mod:`scalinglab.models.plrf`, ``docs/theory/plrf.md`` §1, §7)."""
from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_serializer

from scalinglab.errors import DomainError, SpecError
from scalinglab.models.base import ParamsBase
from scalinglab.numerics import power_sum

__all__ = ["NAME", "TIERS", "METHODS", "ALIASES", "Params", "ambient_dim", "learning_rate", "max_lr_scale",
           "check_domain", "canonical_tier"]

NAME = "plrf"
#: Theory tiers, named after what they compute.
TIERS = {
    "exact_given_draw": "expected SGD loss given a drawn projection W (per-mode recursion); paired: seed s's W",
    "deterministic_equivalent": "sampling-free deterministic equivalent (Volterra equation on a contour, plrf.md §3)",
    "asymptotic": "the §4 asymptotic terms F0 + Fpp + Fac + Kpp (≍ statements: exponents, not constants)",
}
#: Simulation methods.
METHODS = {
    "eigen": "one-pass SGD in the eigenbasis of K = W^T D W, exact in law, O(N) per sample",
    "ambient": "faithful one-pass SGD with x in R^v, O(vN) per sample (the reference)",
}
#: Deprecated spellings still accepted in specs (a DeprecationWarning; the cube's `source` attr
#: records the canonical name).
ALIASES = {"exact": "exact_given_draw", "de": "deterministic_equivalent"}


def canonical_tier(name: str) -> str:
    """The canonical tier name for ``name`` (old spellings mapped through :data:`ALIASES`)."""
    return ALIASES.get(name, name)


class Params(ParamsBase, BaseModel):
    """PLRF parameters (the spec's ``[params]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    _omit_at_default = ("replicas",)  # added after cubes were written: their spec hashes stay

    v_ratio: float = Field(10.0, gt=1.0, description=(
        "ambient dimension v = round(v_ratio * N) (features before projection); float > 1 so that v > N "
        "(docs/theory/plrf.md §7.2)"))
    lr_scale: float = Field(0.5, gt=0.0, description=(
        "learning rate gamma = lr_scale / sum_{j<=v} j^(-2 alpha); float in (0, bound), the stability bound "
        "(kernel norm < 1) is checked per grid point at spec load (about 2/(1 + (B+1) lambda_max/tr D))"))
    batch: int = Field(1, ge=1, le=4096, description=(
        "SGD batch size B, integer in [1, 4096] (the gradient is a sum over the batch); compute C = N t B"))
    replicas: int = Field(1, ge=1, le=256, description=(
        "SGD runs per drawn W, each on its own data stream; integer in [1, 256]. A seed's simulated loss is "
        "their mean: an estimate of E[loss | W_s], the paired exact_given_draw theory, whose skew shrinks as "
        "1/sqrt(replicas) (one-pass SGD losses are right-skewed, plrf.md §7.9). Cost grows linearly"))
    draws: int = Field(1, ge=1, le=1024, description=(
        "DEPRECATED, ignored by sweeps: the exact_given_draw theory is paired with the seeds (seed s's theory "
        "uses seed s's W), so `seeds` sets the draws; integer in [1, 1024] (still averaged by plrf.theory() "
        "called directly)"))
    theory: Literal["exact_given_draw", "deterministic_equivalent", "asymptotic", "exact", "de"] = Field(
        "exact_given_draw", description=(
            "theory tier: exact_given_draw | deterministic_equivalent | asymptotic "
            "(old names exact, de accepted with a DeprecationWarning)"))
    simulation: Literal["eigen", "ambient"] = Field("eigen", description=(
        "simulation method: eigen (eigenbasis SGD, exact in law, O(N)/sample) | ambient (faithful, O(vN)/sample)"))

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return self._omit_defaults(handler(self))

    @field_validator("draws")
    @classmethod
    def _warn_draws(cls, v: int) -> int:
        if v != 1:
            warnings.warn("plrf: `draws` is deprecated and ignored by sweeps: the exact_given_draw theory is paired "
                          "with the seeds (seed s uses seed s's W); set `seeds` instead", DeprecationWarning,
                          stacklevel=2)
        return v

    @field_validator("theory")
    @classmethod
    def _warn_old_tier(cls, v: str) -> str:
        if v in ALIASES:
            warnings.warn(f"plrf: theory tier {v!r} is deprecated; use {ALIASES[v]!r}", DeprecationWarning,
                          stacklevel=2)
        return v


def ambient_dim(N: float, params: Params) -> int:
    """v = round(v_ratio * N)."""
    return int(round(params.v_ratio * float(N)))


def learning_rate(alpha: float, N: float, params: Params) -> float:
    r""":math:`\gamma = \text{lr\_scale}/\sum_{j=1}^{v} j^{-2\alpha}` (the authors' choice, plrf.md §1)."""
    return params.lr_scale / power_sum(2.0 * alpha, ambient_dim(N, params))


def max_lr_scale(alpha: float, N: float, params: Params) -> float:
    r"""Largest stable ``lr_scale`` (estimate used at spec validation).

    With :math:`\operatorname{tr} K \approx \operatorname{tr} D` and the (generous)
    edge estimate :math:`\lambda_{max}(K) \lesssim (1 + \sqrt{\operatorname{tr} D / N})^2`, the kernel norm
    :math:`\|\mathcal K\|_1 = \sum_k \gamma\lambda_k/(2-\gamma(B+1)\lambda_k)` is below 1 when
    :math:`c < 2/(1 + (B+1)\lambda_{max}/\operatorname{tr}D)` (docs/theory/plrf.md §1, §7.4). The exact
    check, with the drawn spectrum, is :func:`kernel_norm`.
    """
    tr = power_sum(2.0 * alpha, ambient_dim(N, params))
    lam_max = (1.0 + np.sqrt(tr / float(N))) ** 2
    return 2.0 / (1.0 + (params.batch + 1) * lam_max / tr)


def check_domain(alpha: float, beta: float, N: float, P: float, t: int, params: Params) -> None:
    """Raise :class:`DomainError` when a grid point lies outside PLRF's domain."""
    if not 2.0 * (alpha + beta) > 1.0:
        raise DomainError("spec.grid", "(alpha, beta)", (alpha, beta), "2(alpha+beta) > 1 (finite target norm)")
    if not alpha > 0:
        raise DomainError("spec.grid", "alpha", alpha, "a float in (0, inf)")
    if not np.isinf(P):
        raise DomainError("spec.grid", "P", P, "inf (PLRF is one-pass SGD)", "Use P = [\"inf\"]")
    if not np.isfinite(N) or N < 1:
        raise DomainError("spec.grid", "N", N, "a finite integer >= 1")
    if ambient_dim(N, params) <= N:
        raise SpecError("spec.params", "v_ratio", params.v_ratio, "v = v_ratio*N > N")
    bound = max_lr_scale(alpha, N, params)
    if params.lr_scale >= bound:
        raise SpecError(
            "spec.params", "lr_scale", params.lr_scale,
            f"a float in (0, {bound:.3g}) at alpha={alpha:g}, N={N:g}, batch={params.batch} "
            "(stability: kernel norm < 1, plrf.md §1)", "Lower lr_scale or batch",
        )
