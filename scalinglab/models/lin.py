"""LIN: one-pass SGD on a Gaussian random sketch (Lin, Wu, Kakade, Bartlett, Lee 2024).

Lin et al., "Scaling Laws in Linear Regression: Compute, Parameters, and Data",
arXiv 2406.08466 (NeurIPS 2024). Theory note: ``shared/theory/lin.md``.

Model, in project symbols (CONVENTIONS.md) with Lin's in brackets:

.. math::

    x \\sim \\mathcal N(0, H),\\ H = \\operatorname{diag}(i^{-2\\alpha})\\ [a = 2\\alpha],\\qquad
    y = \\langle x, w^*\\rangle + \\varepsilon,\\ \\varepsilon \\sim \\mathcal N(0, \\sigma^2),

    w^*_i \\sim \\mathcal N(0, i^{-2\\beta})\\ \\ [\\lambda_i \\mathbb E w_i^{*2} = i^{-b},\\ b = 2\\alpha + 2\\beta],

    f_v(x) = \\langle v, S x\\rangle,\\ S \\in \\mathbb R^{N\\times d},\\ S_{ji} \\sim \\mathcal N(0, 1/N)\\ \\ [N = M],

    v_s = v_{s-1} + \\gamma_s (y_s - \\langle v_{s-1}, S x_s\\rangle) S x_s,\\quad s = 1..t\\ \\ [t = \\text{Lin's } N],

one pass (P = inf). The stored ``loss`` is the EXCESS risk (no factor 1/2)

.. math::

    L - \\sigma^2 = \\mathbb E\\,(S^\\top v_t - w^*)^\\top H (S^\\top v_t - w^*)
                 = \\underbrace{A}_{\\text{approx}} + \\underbrace{\\mu\\cdot c_t^{\\rm bias}}_{\\text{bias}}
                 + \\underbrace{\\mu\\cdot c_t^{\\rm var}}_{\\text{var}},

with sigma^2 kept in ``params.sigma2``. Note this is Lin's Approx + Excess, not Lin's Excess.

Schedule and horizon
--------------------
``step-decay`` (default): a run of horizon T has L = ceil(log2 T) phases (at least 1); step s
(1-based) is in phase l = (s L - 1) // T and uses lr / 2^l, i.e. phases of N_eff = T/L steps
(Lin et al. §1 / Wu et al. 2022). The loss at checkpoint t is therefore the risk of the run
**whose horizon is t**: one run per checkpoint, not one trajectory (:data:`HORIZON_NOTE`).
``constant``: one trajectory with step lr, read at every checkpoint.

Truncation
----------
The ambient dimension is d (``params.d``; unset -> :func:`resolve_d`: 64 N_max at a <= 1.5,
16 N_max at a >= 2, geometric in between). The modes i > d are modelled as unlearnable: their
target power tau = sum_{i>d} i^-b (Hurwitz zeta) adds to the risk and to the label noise.
This is exact for the truncated model and is the tail correction of lin.md §6.

Tiers and methods
-----------------
theory ``"exact"``: for a drawn S, the exact second-moment recursion in G = S H S^T's eigenbasis
(lin.md §6), averaged analytically over w* (``target="prior"``) or for the drawn w*
(``"fixed"``); no Monte Carlo, one closed-form step per phase; averaged over
``params.sketches`` sketches. theory ``"de"``: the random-feature ridge deterministic
equivalent (Atanasov et al., arXiv 2405.00592) at ridge c(a)/(N_eff lr) -- OUR SGD->ridge
bridge (lin.md §5, c fitted for ceil(log2 t) phases and lr = 0.1), not the paper's theory.
simulate ``"ambient"``: faithful SGD with x in R^d. ``"eigen"``: the reduced simulation, exact in
law given (S, w*), O(N) per step.

Randomness: each generator yields, in this order, w* (d normals), S (column blocks), then
data. theory draws the same (w*, S) as simulate from the same generator (w* is drawn and
discarded for ``target="prior"``), so equal seeds give equal sketches (paired comparisons).
"""
from __future__ import annotations

import math
from typing import Literal, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy.special import zeta

from scalinglab.errors import DomainError, SpecError

from ._lin_core import draw_setup, n_phases, phase_lengths, recursion, spectrum, step_sizes
from ._lin_de import BRIDGE_C, bridge_c, de_curves
from ._lin_sim import simulate_ambient, simulate_eigen
from .base import Curves, Point

__all__ = [
    "NAME", "Params", "HORIZON_NOTE", "COMPUTE_NOTE", "BRIDGE_C", "TIERS", "METHODS",
    "check_domain", "theory_variables", "sim_variables", "theory", "simulate", "cost",
    "resolve_d", "resolve_params", "max_lr", "bridge_c", "n_phases", "phase_lengths", "step_sizes",
]

NAME = "lin"
TIERS = ("exact", "de")
METHODS = ("eigen", "ambient")

#: For the cube's attrs: what a checkpoint means under each schedule.
HORIZON_NOTE = (
    "schedule='step-decay': the value at checkpoint t is the excess risk of a separate one-pass "
    "SGD run whose horizon is t (ceil(log2 t) phases of t/ceil(log2 t) steps, step lr/2^l in "
    "phase l), not a point on one trajectory; schedule='constant': one trajectory read at each t."
)
#: For the cube's attrs (lin.md §6 pitfall 6).
COMPUTE_NOTE = (
    "C = N t: one SGD step costs O(N) in sketch space; the O(N d) cost of forming S x is not counted."
)


class Params(BaseModel):
    """The ``[params]`` of a LIN sweep.

    Attributes
    ----------
    lr : float
        Initial step gamma (Lin's gamma). Domain: lr <= 1/(2 zeta(2 alpha)) (see :func:`max_lr`).
    schedule : {"step-decay", "constant"}
        ceil(log2 t) halving phases (one run per checkpoint horizon) or a constant step.
    sigma2 : float
        Label-noise variance sigma^2 >= 0 (irreducible; the stored loss excludes it).
    target : {"prior", "fixed"}
        "prior": the theory averages analytically over w* ~ N(0, diag(i^-2beta));
        "fixed": the theory uses one drawn w* per sketch (simulations always draw w*).
    d : int or None
        Truncation; None -> :func:`resolve_d` (64 N_max at a <= 1.5, 16 N_max at a >= 2).
    sketches : int
        Number of sketches S the exact theory averages over.
    """

    model_config = ConfigDict(extra="forbid")

    lr: float = Field(0.1, gt=0, allow_inf_nan=False)
    schedule: Literal["step-decay", "constant"] = "step-decay"
    sigma2: float = Field(1.0, ge=0, allow_inf_nan=False)
    target: Literal["prior", "fixed"] = "prior"
    d: int | None = Field(None, ge=1)
    sketches: int = Field(1, ge=1)


# ---------------------------------------------------------------------------------------------
# domain
# ---------------------------------------------------------------------------------------------
def d_factor(alpha: float) -> float:
    """d / N_max of the truncation rule (lin.md §6): 64 at a <= 1.5, 16 at a >= 2, 2^(6-4(a-1.5)) between."""
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
    """Largest allowed lr: 1/(2 tr H) with tr H = zeta(2 alpha) (lin.md §6 pitfall 1).

    The second-moment map loses stability near lr tr H ~ 1.3-1.6; the factor-2 margin covers
    the fluctuation of tr G = tr S H S^T around tr H. The exact per-sketch condition
    (all eigenvalues of the map < 1) is re-checked at run time and flagged.
    """
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
                              "(lin.md §6 truncation rule: 64 N_max at 2 alpha <= 1.5, 16 N_max at 2 alpha >= 2)",
                              "raise d or leave it unset")
    lim = max_lr(alpha)
    if params.lr > lim:
        raise DomainError("lin.params", "lr", params.lr,
                          f"lr <= 1/(2 tr H) = 1/(2 zeta(2 alpha)) = {lim:.4g} at alpha={alpha:g}", "lower lr")


def theory_variables(params: Params) -> tuple[str, ...]:
    """("loss", "approx", "bias", "var"); loss = approx + bias + var = E R - sigma^2."""
    return ("loss", "approx", "bias", "var")


def sim_variables(params: Params) -> tuple[str, ...]:
    """("loss",): the excess risk R - sigma^2 in closed form, per seed."""
    return ("loss",)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _prepare(point: Point) -> tuple[Params, np.ndarray, np.ndarray, object]:
    params = point.params if isinstance(point.params, Params) else Params.model_validate(dict(point.params))
    Ns = np.asarray(point.N, dtype=np.float64)
    t = np.asarray(point.t, dtype=np.int64)
    check_domain(point.alpha, point.beta, Ns, point.P, t, params)
    if t.size > 1 and np.any(np.diff(t) <= 0):
        raise SpecError("lin", "t", t.tolist(), "strictly increasing checkpoints")
    d = params.d if params.d is not None else resolve_d(point.alpha, Ns.max())
    spec = spectrum(2.0 * point.alpha, 2.0 * (point.alpha + point.beta), int(d))
    return params, Ns.astype(np.int64), t, spec


# ---------------------------------------------------------------------------------------------
# theory
# ---------------------------------------------------------------------------------------------
def theory(point: Point, *, tier: str = "exact", rngs: Sequence[np.random.Generator] | None = None) -> Curves:
    """Expected excess risk E R(v_t) - sigma^2 and its split, shape (n_N, n_t) each.

    Parameters
    ----------
    point : Point
        alpha, beta, P = inf, N (sketch sizes), t (checkpoints), params (:class:`Params`).
    tier : {"exact", "de"}
        "exact": the second-moment recursion for ``params.sketches`` drawn sketches
        (rngs[i] draws them for N index i; same draw order as :func:`simulate`).
        "de": the deterministic equivalent at ridge c(a)/(N_eff lr) (our bridge, lin.md §5;
        step-decay only; flagged where a is outside [1.5, 2], beta != 0, lr != 0.1 or
        sigma2 != 1, where c was not fitted: at sigma2 = 0 the best c is 0.35 / 0.32 at
        a = 1.5 / 2 and the fitted c errs by 2.5-4.5%).
    rngs : sequence of numpy.random.Generator, optional
        One per N; required by "exact".

    Returns
    -------
    Curves
        values "loss", "approx", "bias", "var"; loss = approx + bias + var (to rounding).
        "exact": approx = E Approx (prior) or Approx(w*) (fixed), + tau; bias = mu.c_t with
        c_0 = (v~*)^2 (or its prior mean) and no noise; var = mu.c_t with c_0 = 0 and noise
        sigma^2 + approx. flags["loss"] marks values where the map's spectral radius was >= 1.
    """
    params, Ns, t, spec = _prepare(point)
    n_N, n_t = Ns.size, t.size
    out = {k: np.empty((n_N, n_t)) for k in ("loss", "approx", "bias", "var")}
    flag = np.zeros((n_N, n_t), dtype=bool)
    if tier == "de":
        if params.schedule != "step-decay":
            raise SpecError("lin.theory", "tier", tier,
                            "'exact' for schedule='constant' (the bridge is fitted for step decay)")
        for i, N in enumerate(Ns):
            v = de_curves(spec, int(N), t, params.sigma2, params.lr)
            for k in out:
                out[k][i] = v[k]
        a = spec.a
        calibrated = (1.5 - 1e-12 <= a <= 2.0 + 1e-12 and point.beta == 0 and abs(params.lr - 0.1) < 1e-12
                      and params.sigma2 == 1.0)
        flag[:] = not calibrated
        return Curves(values=out, source="de", flags={"loss": flag})
    if tier != "exact":
        raise SpecError("lin.theory", "tier", tier, f"one of {list(TIERS)}")
    if rngs is None or len(rngs) != n_N:
        raise SpecError("lin.theory", "rngs", None if rngs is None else f"{len(rngs)} generators",
                        f"one numpy Generator per N ({n_N}); tier 'exact' draws the sketches")
    prior = params.target == "prior"
    for i, N in enumerate(Ns):
        acc = {k: np.zeros(n_t) for k in ("approx", "bias", "var")}
        for _ in range(params.sketches):
            st = draw_setup(rngs[i], int(N), spec, prior=prior)
            if prior:
                apx, c0 = st.approx_prior + spec.tail, st.c0_prior
            else:
                apx, c0 = st.approx_w + spec.tail, st.vstar**2
            b, v, unstable = recursion(st.mu, c0, params.sigma2 + apx, params.lr, params.schedule, t)
            acc["approx"] += apx
            acc["bias"] += b
            acc["var"] += v
            if unstable:
                flag[i, t > 0] = True
        for k in acc:
            out[k][i] = acc[k] / params.sketches
        out["loss"][i] = out["approx"][i] + out["bias"][i] + out["var"][i]
    return Curves(values=out, source="exact", flags={"loss": flag})


# ---------------------------------------------------------------------------------------------
# simulation
# ---------------------------------------------------------------------------------------------
def simulate(point: Point, rngs: Sequence[Sequence[np.random.Generator]], *, method: str = "eigen") -> Curves:
    """Excess risk R(v_t) - sigma^2 of simulated one-pass SGD, shape (n_N, n_seed, n_t).

    Parameters
    ----------
    point : Point
    rngs : rngs[i][s]
        Draws w*, S and the data for N index i, seed s (in that order).
    method : {"eigen", "ambient"}
        "eigen": the reduced simulation in G's eigenbasis (exact in law, O(N) per step).
        "ambient": the faithful simulation with x in R^d (O(N d) per step).

    Notes
    -----
    Step decay: one run per checkpoint horizon, the runs of one seed sharing its sample stream
    (each checkpoint has the law of an independent run). Constant step: one run.
    """
    params, Ns, t, spec = _prepare(point)
    if method not in METHODS:
        raise SpecError("lin.simulate", "method", method, f"one of {list(METHODS)}")
    if len(rngs) != Ns.size:
        raise SpecError("lin.simulate", "rngs", f"{len(rngs)} lists", f"one list of generators per N ({Ns.size})")
    n_seed = len(rngs[0]) if len(rngs) else 0
    if any(len(r) != n_seed for r in rngs) or n_seed < 1:
        raise SpecError("lin.simulate", "rngs", [len(r) for r in rngs], "the same number (>= 1) of seeds for every N")
    fn = simulate_eigen if method == "eigen" else simulate_ambient
    loss = np.empty((Ns.size, n_seed, t.size))
    for i, N in enumerate(Ns):
        loss[i] = fn(spec, int(N), rngs[i], t, params.sigma2, params.lr, params.schedule)
    return Curves(values={"loss": loss}, source=method)


# ---------------------------------------------------------------------------------------------
# cost
# ---------------------------------------------------------------------------------------------
def cost(point: Point, method: str) -> float:
    """Rough wall seconds for one point (all N): theory per call, simulation per seed.

    ``method``: "theory"/"exact", "de", "simulation"/"eigen", "ambient". Constants measured on a
    2-core machine (bench/lin.py); the set-up (drawing S, Gram products) is O(N d + N^2 d).
    """
    params = point.params if isinstance(point.params, Params) else Params.model_validate(dict(point.params))
    Ns = np.asarray(point.N, dtype=np.float64)
    Ns = Ns[np.isfinite(Ns)]
    t = np.asarray(point.t, dtype=np.int64)
    if Ns.size == 0:
        return 0.0
    d = params.d if params.d is not None else resolve_d(point.alpha, Ns.max())
    n_t = max(1, t.size)
    T = int(t.max()) if t.size else 0
    Lmax = n_phases(max(T, 1))
    total = 0.0
    for N in Ns:
        setup = 1.5e-8 * N * d + 5e-11 * N * N * d
        if method in ("theory", "exact"):
            phases = Lmax if params.schedule == "step-decay" else 1
            rec = phases * (2e-5 * N + 2e-8 * N * N) + 4e-9 * N * N * n_t * Lmax
            total += params.sketches * (setup + rec)
        elif method == "de":
            total += 4e-9 * d * n_t * 140 + 5e-3
        elif method in ("simulation", "eigen"):
            steps = float(t.sum()) if params.schedule == "step-decay" else float(T)
            total += setup + 3e-5 * T + 3e-9 * N * steps
        elif method == "ambient":
            steps = float(t.sum()) if params.schedule == "step-decay" else float(T)
            total += setup + T * (1.5e-8 * d + 2e-10 * N * d) + 3e-9 * N * steps + 2e-5 * T
        else:
            raise SpecError("lin.cost", "method", method,
                            "one of ['theory', 'exact', 'de', 'simulation', 'eigen', 'ambient']")
    return float(total)
