"""LIN: one-pass SGD on a Gaussian random sketch (Lin, Wu, Kakade, Bartlett, Lee 2024).

Lin et al., "Scaling Laws in Linear Regression: Compute, Parameters, and Data",
arXiv 2406.08466 (NeurIPS 2024). Theory note: ``docs/theory/lin.md``.

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
theory ``"exact_given_draw"`` (old name ``"exact"``): for a drawn S, the exact second-moment
recursion in G = S H S^T's eigenbasis (lin.md §6), averaged analytically over w*
(``target="prior_mean"``) or for the drawn w* (``"prior"``, ``"fixed"``); no Monte Carlo, one
closed-form step per phase. A sweep pairs it with the seeds (issue 10.2): seed s's theory is for seed
s's sketch (and, unless ``prior_mean``, its w*), the draws its simulation trains on; ``theory()``
called directly averages ``params.sketches`` sketches of its own stream (analytically over w* for
``prior`` and ``prior_mean``). theory ``"ridge_bridge"`` (old name ``"de"``):
the random-feature ridge deterministic equivalent (Atanasov et al., arXiv 2405.00592) at ridge
c(a)/(N_eff lr) -- OUR FITTED SGD->ridge bridge (lin.md §5, c fitted for ceil(log2 t) phases and
lr = 0.1), not the paper's theory. simulate ``"ambient"``: faithful SGD with x in R^d. ``"eigen"``:
the reduced simulation, exact in law given (S, w*), O(N) per step.

What a unit's numbers depend on (its unit key, issue 10): alpha, beta, N, the params (d resolved
from the grid's N_max: a different N range can change it, and then the unit), the seed index and
the root seed. Under step decay the value at checkpoint t is the run whose horizon is t: it depends
on t itself, not on the other checkpoints (data are drawn in whole chunks of 256 steps).

Randomness: each generator yields, in this order, w* (d normals), S (column blocks), then
data. theory draws the same (w*, S) as simulate from the same generator (w* is drawn and
discarded for ``target="prior"``), so equal seeds give equal sketches (paired comparisons).
"""
from __future__ import annotations

import numpy as np

from scalinglab.errors import SpecError

from ..base import ModelBase, Point
from .core import n_phases, phase_lengths, step_sizes
from .de import BRIDGE_C, bridge_c
from .params import (ALIASES, COMPUTE_NOTE, HORIZON_NOTE, METHODS, NAME, TIERS, Params, canonical, check_domain,
                     d_factor, max_lr, resolve_d, resolve_params)
from .simulation import simulate
from .theory import paired_theory, theory

__all__ = [
    "MODEL", "LIN", "NAME", "Params", "HORIZON_NOTE", "COMPUTE_NOTE", "BRIDGE_C", "TIERS", "METHODS", "ALIASES",
    "check_domain", "theory_variables", "sim_variables", "theory", "simulate", "cost", "resolve_d",
    "resolve_params", "max_lr", "bridge_c", "n_phases", "phase_lengths", "step_sizes", "d_factor",
]


def theory_variables(params: Params) -> tuple[str, ...]:
    """("loss", "approx", "bias", "var"); loss = approx + bias + var = E R - sigma^2."""
    return ("loss", "approx", "bias", "var")


def sim_variables(params: Params) -> tuple[str, ...]:
    """("loss",): the excess risk R - sigma^2 in closed form, per seed."""
    return ("loss",)


def cost(point: Point, method: str) -> float:
    """Rough wall seconds for one point (all N): theory per call, simulation per seed.

    ``method``: "theory"/"simulation" (the params' tier/method) or a tier or method name. Constants measured on a
    2-core machine (bench/lin.py); the set-up (drawing S, Gram products) is O(N d + N^2 d).
    """
    params = point.params if isinstance(point.params, Params) else Params.model_validate(dict(point.params))
    Ns = np.asarray(point.N, dtype=np.float64)
    Ns = Ns[np.isfinite(Ns)]
    t = np.asarray(point.t, dtype=np.int64)
    if Ns.size == 0:
        return 0.0
    d = params.d if params.d is not None else resolve_d(point.alpha, Ns.max())
    method = {"theory": canonical(params.theory), "simulation": params.simulation}.get(method, canonical(method))
    n_t = max(1, t.size)
    T = int(t.max()) if t.size else 0
    Lmax = n_phases(max(T, 1))
    total = 0.0
    for N in Ns:
        setup = 1.5e-8 * N * d + 5e-11 * N * N * d
        if method == "exact_given_draw":
            phases = Lmax if params.schedule == "step-decay" else 1
            rec = phases * (2e-5 * N + 2e-8 * N * N) + 4e-9 * N * N * n_t * Lmax
            total += setup + rec  # one sketch (a sweep pairs one per seed)
        elif method == "ridge_bridge":
            total += 4e-9 * d * n_t * 140 + 5e-3
        elif method == "eigen":
            steps = float(t.sum()) if params.schedule == "step-decay" else float(T)
            total += setup + 3e-5 * T + 3e-9 * N * steps
        elif method == "ambient":
            steps = float(t.sum()) if params.schedule == "step-decay" else float(T)
            total += setup + T * (1.5e-8 * d + 2e-10 * N * d) + 3e-9 * N * steps + 2e-5 * T
        else:
            raise SpecError("lin.cost", "method", method,
                            "one of ['theory', 'simulation', *TIERS, *METHODS]")
    return float(total)


class LIN(ModelBase):
    """The LIN model object (the :class:`scalinglab.models.Model` protocol)."""

    name = NAME
    Params = Params
    theory_tiers = TIERS
    sim_methods = METHODS
    aliases = ALIASES
    sampling_tiers = ("exact_given_draw",)
    paired_tiers = ("exact_given_draw",)
    paired_fn = staticmethod(paired_theory)
    # `sketches` only steers lin.theory() called directly (a sweep pairs the theory with each seed's draw,
    # issue 10.2); `target` changes the simulation never (it always draws w*) and the theory only for
    # "prior_mean" (the analytic average over w* given seed s's S)
    inert_fields = {"simulation": ("sketches", "target"), "theory": ("sketches",)}

    def unit_params(self, params, kind: str) -> dict:
        d = super().unit_params(params, kind)
        if d.get("target") in ("prior", "fixed"):  # the same numbers: seed s's drawn w*
            d.pop("target")
        return d
    theory_fn = staticmethod(theory)
    simulate_fn = staticmethod(simulate)
    domain_fn = staticmethod(check_domain)
    cost_fn = staticmethod(cost)
    resolve_fn = staticmethod(resolve_params)
    theory_variables = staticmethod(theory_variables)
    sim_variables = staticmethod(sim_variables)

    def cube_attrs(self, params) -> dict[str, str]:
        return {"compute": COMPUTE_NOTE, "horizon": HORIZON_NOTE}


MODEL = LIN()
