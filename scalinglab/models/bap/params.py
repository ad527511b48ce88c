"""BAP parameters, default M and lr, domain (see :mod:`scalinglab.models.bap`, ``docs/theory/bap.md`` §6)."""
from __future__ import annotations

import math
import warnings
from typing import Any, Literal, Sequence

import numpy as np
import pydantic
from pydantic import BaseModel, Field, field_validator, model_serializer

from scalinglab.models.base import ParamsBase
from scalinglab.errors import DomainError, SpecError
from scalinglab.numerics import power_sum

__all__ = ["NAME", "THEORY_TIERS", "SIM_METHODS", "ALIASES", "Params", "resolve_M", "resolve_lr", "check_domain",
           "stability_estimate", "resolve_params", "M_CAP"]

NAME = "bap"
#: Theory tiers, named after what they compute.
THEORY_TIERS = {
    "dmft": "the finite-M DMFT (deterministic equivalent) of the discrete GD the simulation runs: step factor "
            "(1 - 2 lr e)^t, z-transform contours (docs/theory/bap_discrete_time.md)",
    "dmft_flow": "the same DMFT for gradient flow at tau = 2 lr t (the lr -> 0 limit), Talbot-inverted; parts from "
                 "discrete GD at small t",
    "late_time": "the tau -> infinity closed forms (constant in t)",
}
#: Simulation methods (both are discrete GD, exactly; they differ in how it is computed).
SIM_METHODS = {
    "closed_form": "discrete GD at every checkpoint from one eigendecomposition of the design's Gram matrix",
    "gd": "discrete GD step by step (the reference)",
}
#: Deprecated spellings (DeprecationWarning; the cube's `source` attr records the canonical name).
ALIASES = {"limit": "late_time", "eigen": "closed_form"}
#: ``lr = None`` resolves to this fraction of the stability bound 1/lambda_hat (:func:`resolve_lr`).
LR_FRACTION = 0.5

#: Largest M that :func:`resolve_M` returns (memory: the simulation stores E x N x M floats).
M_CAP = 2**16
#: resolve_M: M >= M_DATA_FACTOR * max(finite N, P) and M >= M_TIME_FACTOR * k_* (see there).
M_DATA_FACTOR, M_TIME_FACTOR = 5, 8
#: check_domain refuses M below these multiples (the truncation then changes the curves).
M_DATA_MIN, M_TIME_MIN = 2, 2
#: Column block of the feature draws; part of the definition of the random stream.
_DRAW_BLOCK = 1024


def _where(field: str) -> str:
    return f"bap.{field}"


class Params(ParamsBase, BaseModel, extra="forbid"):
    """The ``[params]`` of the BAP model.

    Attributes
    ----------
    Invalid values raise :class:`scalinglab.errors.SpecError` (not pydantic's
    ValidationError) when built with ``Params(...)``. ``M`` and ``lr`` left unset are resolved
    from the grid into the stored spec (:func:`resolve_params`), so no default stays silent.
    """

    M: int | None = Field(default=None, ge=16, description=(
        "number of features M (the spectrum lambda_k = k^(-2 alpha) is truncated at k = M; BAP's M, the "
        "'ambient' size); integer >= 16, or unset: pow2(max(5 max(N, P), 8 k*, 256)) over the grid's finite "
        "N, P with k* = min((2 lr t_max)^(1/(2 alpha)), N, P), capped at 65536; must be >= 2 max(N, P)"))
    lr: float | None = Field(default=None, gt=0.0, allow_inf_nan=False, description=(
        "GD learning rate eta > 0 (a GD step multiplies an eigenmode e of the step matrix by 1 - 2 lr e; the "
        "dmft_flow tier's time is tau = 2 lr t); discrete GD is stable for lr < 1/lambda_hat with "
        "lambda_hat ~ lambda_max(Phi^T Phi / P) (stability_estimate at the smallest N, P); unset: "
        "0.5/lambda_hat at the grid's smallest N and P (0.5 when N = P = inf), valid for every M <= 65536"))
    ensemble: int = Field(default=1, ge=1, description=(
        "E >= 1 ensemble members with independent projections A and shared data (predictor = their mean)"))
    talbot_nodes: int = Field(default=24, ge=8, le=40, description=(
        "fixed-Talbot nodes n per frequency of the dmft and dmft_flow inversions, integer in [8, 40] (the double "
        "sum loses ~0.3 n digits, so n much above 30 is worse in float64); dmft uses them from t >= n/2 (a circle "
        "contour with ~17.5 (t+1) nodes before)"))
    theory: Literal["dmft", "dmft_flow", "late_time", "limit"] = Field(default="dmft", description=(
        "theory tier: dmft (discrete GD, what the simulation runs) | dmft_flow (gradient flow at tau = 2 lr t) | "
        "late_time (old name limit accepted with a DeprecationWarning)"))
    simulation: Literal["closed_form", "gd", "eigen"] = Field(default="closed_form", description=(
        "simulation method: closed_form (all checkpoints from one Gram eigendecomposition) | gd (step by step, "
        "the reference); old name eigen accepted with a DeprecationWarning"))

    @field_validator("theory", "simulation")
    @classmethod
    def _warn_old_name(cls, v: str) -> str:
        if v in ALIASES:
            warnings.warn(f"bap: {v!r} is deprecated; use {ALIASES[v]!r}", DeprecationWarning, stacklevel=2)
        return v

    #: added after cubes were written: left out of dumps at their defaults (spec hashes stay valid)
    _omit_at_default = ("theory", "simulation")

    @model_serializer(mode="wrap")
    def _dump(self, handler):
        return self._omit_defaults(handler(self))

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"]) or "params"
            raise SpecError(_where(f"params.{loc}"), loc, err.get("input"), err["msg"].lower()) from None


# ----------------------------------------------------------------------------- domain
def _finite(x: Sequence[float] | np.ndarray | float) -> list[float]:
    return [float(v) for v in np.atleast_1d(np.asarray(x, dtype=np.float64)) if math.isfinite(v)]


def resolve_M(N_max: float, P_max: float, t_max: float, alpha: float, lr: float) -> int:
    r"""Default feature count M for a grid.

    .. math::

        M = \mathrm{pow2}\big(\max(5\max(N, P),\ 8\,k_*,\ 256)\big), \quad
        k_* = \min\big((2\,\mathrm{lr}\,t_{max})^{1/b}, N, P\big), \quad b = 2\alpha,

    over the finite N, P (k_* is the number of modes that can be learned by t_max, so the
    time term only binds when N = P = inf); capped at ``M_CAP`` = 65536 (a grid that needs
    more is then refused by :func:`check_domain`, which names the figure). The simulation
    stores E·N·M + P·N floats per draw (1 GiB at E = 1, N = 4096, M = 32768).
    """
    b = 2.0 * float(alpha)
    need = 256.0
    sizes = _finite([N_max, P_max])
    if sizes:
        need = max(need, M_DATA_FACTOR * max(sizes))
    if t_max > 0 and b > 0:
        need = max(need, M_TIME_FACTOR * _k_star(2.0 * lr * float(t_max), b, N_max, P_max))
    need = min(need, float(M_CAP))
    return int(2 ** math.ceil(math.log2(need) - 1e-12))


def _k_star(tau: float, b: float, N: float, P: float) -> float:
    """Number of modes learnable by time tau: min(tau^(1/b), N, P) (docs/theory/bap.md §3 intuition)."""
    return min(tau ** (1.0 / b), float(N), float(P))


def stability_estimate(alpha: float, M: int, N: float, P: float) -> float:
    r"""A high-side estimate of :math:`\lambda_{max}(\Phi^T\Phi/P)` over draws.

    .. math::

        \hat\lambda = (1 + 2\sqrt{2/N})(1 + 2\sqrt{2/P}) + \mathrm{tr}\Lambda\,(1/N + 1/P),

    i.e. the top mode :math:`\lambda_1 = 1` inflated by about two standard deviations of the
    :math:`\chi^2_N/N` and :math:`\chi^2_P/P` factors that multiply it, plus the bulk shift
    :math:`\mathrm{tr}\Lambda/N + \mathrm{tr}\Lambda/P` (docs/theory/bap.md §6.2). Discrete GD needs
    :math:`\mathrm{lr}\cdot\lambda_{max} < 1`; a few % of draws at the boundary may still exceed it.
    """
    tr = power_sum(2.0 * alpha, int(M))
    invN = 0.0 if math.isinf(N) else 1.0 / N
    invP = 0.0 if math.isinf(P) else 1.0 / P
    return (1 + 2 * math.sqrt(2 * invN)) * (1 + 2 * math.sqrt(2 * invP)) + tr * (invN + invP)


def resolve_lr(alpha, N, P) -> float:
    r"""Default learning rate: :data:`LR_FRACTION` / :func:`stability_estimate` at the smallest finite N and P,
    with the trace of the spectrum up to :data:`M_CAP` (so it is valid for every M the domain allows);
    two significant digits, rounded down. 0.5 when N = P = inf (λ_max = 1)."""
    alphas = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
    Ns = np.atleast_1d(np.asarray(N, dtype=np.float64))
    Ps = np.atleast_1d(np.asarray(P, dtype=np.float64))
    n_min, p_min = max(float(np.min(Ns)), 1.0), max(float(np.min(Ps)), 1.0)  # invalid values: check_domain says so
    lam_hat = max(stability_estimate(float(a), M_CAP, n_min, p_min) for a in alphas if a > 0) if np.any(alphas > 0) else 1.0
    lr = LR_FRACTION / lam_hat
    exp10 = math.floor(math.log10(lr)) - 1
    return float(f"{math.floor(lr / 10.0**exp10) * 10.0**exp10:.2g}")


def _resolved(params: Any, N: np.ndarray, P: float, t: np.ndarray, alpha: float) -> Params:
    if not isinstance(params, Params):
        params = Params(**dict(params))
    if params.lr is None:
        params = params.model_copy(update={"lr": resolve_lr(alpha, N, P)})
    if params.M is None:
        sizes = _finite(N)
        t_max = float(np.max(t)) if np.size(t) else 0.0
        M = resolve_M(max(sizes) if sizes else math.inf, P, t_max, alpha, params.lr)
        params = params.model_copy(update={"M": M})
    return params


def resolve_params(params: Params, *, alpha: np.ndarray, beta: np.ndarray, N: np.ndarray, P: np.ndarray,
                   t: np.ndarray) -> Params:
    """Spec hook: write one lr (:func:`resolve_lr`) and one M for the whole grid into the resolved spec
    (the largest M that :func:`resolve_M` asks for over the grid), so no default stays silent."""
    if params.lr is None:
        params = params.model_copy(update={"lr": resolve_lr(alpha, N, P)})
    if params.M is not None:
        return params
    sizes = _finite(N)
    Ps = [float(p) for p in np.asarray(P, float)]
    M = max(resolve_M(max(sizes) if sizes else math.inf, p, float(np.max(t)), float(a), params.lr)
            for p in Ps for a in np.asarray(alpha, float))
    return params.model_copy(update={"M": int(M)})


def check_domain(alpha: float, beta: float, N: Any, P: float, t: Any, params: Any) -> None:
    r"""Raise :class:`SpecError`/:class:`DomainError` if (alpha, beta, N, P, t, params) is outside the model.

    Conditions (one-line message naming the failed one):

    * ``alpha > 0`` and :math:`a = 2(\alpha+\beta) > 1` (finite initial loss as M → ∞);
    * N: integers >= 1 or ``inf``; P: integer >= 1 or ``inf``; t: integers >= 0;
    * :math:`M \ge 2\max(N, P)` over finite values and
      :math:`M \ge 2\min((2\,\mathrm{lr}\,t_{max})^{1/b}, N, P)` (the modes learnable by
      t_max; otherwise the truncation, not the model, shapes the curves: docs/theory/bap.md §6.4);
    * ``lr * stability_estimate(...) < 1`` at the smallest N (discrete-GD stability).

    For :math:`2\alpha \le 1` (b <= 1: features not trace-class) the point is accepted but a
    ``UserWarning`` says that the results depend on M.
    """
    p = _resolved(params, np.atleast_1d(np.asarray(N, dtype=np.float64)), P, np.atleast_1d(t), alpha)
    if not (math.isfinite(alpha) and alpha > 0):
        raise SpecError(_where("alpha"), "alpha", alpha, "a finite float > 0 (lambda_k = k^(-2 alpha))")
    if not math.isfinite(beta):
        raise SpecError(_where("beta"), "beta", beta, "a finite float")
    if not 2.0 * (alpha + beta) > 1.0:
        raise DomainError(
            _where("beta"), "2(alpha+beta)", 2.0 * (alpha + beta),
            "a = 2(alpha+beta) > 1 (finite target power sum k^-a)", "Raise alpha or beta",
        )
    Ns = np.atleast_1d(np.asarray(N, dtype=np.float64))
    for n in Ns:
        if not (math.isinf(n) and n > 0) and not (n >= 1 and float(n).is_integer()):
            raise SpecError(_where("N"), "N", float(n), "an integer >= 1 or inf")
    if not (math.isinf(P) and P > 0) and not (P >= 1 and float(P).is_integer()):
        raise SpecError(_where("P"), "P", P, "an integer >= 1 or inf")
    ts = np.atleast_1d(np.asarray(t))
    if ts.size == 0 or np.any(ts < 0) or not np.all(np.equal(np.mod(ts, 1), 0)):
        raise SpecError(_where("t"), "t", ts.tolist()[:5], "integers >= 0 (GD steps)")
    M = int(p.M)
    sizes = _finite(list(Ns) + [P])
    if sizes and M < M_DATA_MIN * max(sizes):
        raise DomainError(
            _where("params.M"), "M", M, f">= {M_DATA_MIN}*max(N, P) = {M_DATA_MIN * max(sizes):g}",
            "Raise M (or leave it None); with M < 2 max(N,P) the plateau of the M = inf model disappears",
        )
    b = 2.0 * alpha
    tau_max = 2.0 * p.lr * float(np.max(ts))
    k_star = _k_star(tau_max, b, float(np.max(Ns)), P) if tau_max > 0 else 0.0
    if M < M_TIME_MIN * k_star:
        raise DomainError(
            _where("params.M"), "M", M,
            f">= {M_TIME_MIN}*min((2 lr t_max)^(1/b), N, P) = {M_TIME_MIN * k_star:.4g} (b = 2 alpha = {b:g})",
            "Raise M or lower t_max; otherwise every mode is learned and the truncation sets the loss",
        )
    n_small = float(np.min(Ns))
    lam_hat = stability_estimate(alpha, M, n_small, P)
    if p.lr * lam_hat >= 1.0:
        raise DomainError(
            _where("params.lr"), "lr", p.lr,
            f"lr < 1/lambda_max ~ {1.0 / lam_hat:.4g} (2 lr lambda_max < 2 at N={n_small:g}, P={P:g}, M={M})",
            "Lower lr",
        )
    if 2.0 * alpha <= 1.0:
        warnings.warn(
            f"bap: alpha={alpha!r} has b = 2 alpha <= 1 (features not trace-class): results depend on M={M}",
            UserWarning,
            stacklevel=2,
        )
