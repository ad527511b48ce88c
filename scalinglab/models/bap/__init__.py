r"""BAP: full-batch gradient descent on a random-feature model (Bordelon, Atanasov & Pehlevan 2024).

"A Dynamical Model of Neural Scaling Laws", arXiv:2402.01092 (ICML 2024). Theory note:
``docs/theory/bap.md``. Symbols: project ``alpha, beta`` map to the paper's

.. math::

    b = 2\alpha, \qquad a = 2\alpha + 2\beta, \qquad
    \lambda_k = k^{-b}, \qquad w^{*2}_k = k^{b-a} = k^{-2\beta}, \qquad k = 1..M,

so the per-mode target power is :math:`\lambda_k w^{*2}_k = k^{-a}`.

Model (bap.md §1). Gaussian features :math:`\psi = \Lambda^{1/2} z \in R^M`, target
:math:`y = w^* \cdot \psi`, student :math:`f = w \cdot A\psi/\sqrt N` with a fixed
:math:`A \in R^{N\times M}`, :math:`A_{ij} \sim N(0,1)`, and :math:`w \in R^N` trained from 0 by
full-batch gradient descent on P samples,

.. math::

    w \leftarrow w - \eta\,\frac{2}{P}\,\Phi^T(\Phi w - y), \qquad \Phi = \Psi A^T/\sqrt N,

with test loss :math:`L = E_x (f-y)^2 = v^T\Lambda v` and train loss
:math:`\hat L = \|\Psi v\|^2/P`, where :math:`v = w^* - A^T w/\sqrt N` (no factor 1/2).
``N = inf`` means no projection (w in R^M); ``P = inf`` means the population gradient
(:math:`\hat C = \Lambda`, no training set, ``train_loss`` is NaN).

**Time.** The simulation is the discrete GD above, exactly; so is the default theory tier. One step
maps :math:`v \mapsto (I - 2\eta K)v` with :math:`K = (A^TA/N)(\Psi^T\Psi/P)`, so in the eigenbasis of
the step matrix the discrete factor :math:`(1-2\eta e)^t` stands where gradient flow has
:math:`e^{-e\tau}`, :math:`\tau = 2\eta t`. The ``dmft`` tier integrates the DMFT kernel against that
factor (a z-transform in place of the Laplace transform; ``docs/theory/bap_discrete_time.md``) and
agrees with the simulation from t = 1; the flow tier ``dmft_flow`` agrees only after ~10–100 steps
(relative gap O(lr/τ); 10–50% at t = 1 with the default lr in the tested cells).

Theory tiers:

``"dmft"``
    The exact (deterministic-equivalent, finite-M) DMFT of bap.md §2 for discrete GD: its
    two-frequency kernel integrated against :math:`(1+2\eta s)^t(1+2\eta s')^t` on closed contours
    (``bap.discrete``; derivation in ``docs/theory/bap_discrete_time.md``).
``"dmft_flow"``
    The same DMFT for gradient flow at τ = 2·lr·t, inverted by a fixed-Talbot rule in both
    frequencies (``bap.dmft``); the lr → 0 limit at fixed τ.
``"late_time"`` (old name ``"limit"``)
    The :math:`\tau\to\infty` closed forms of bap.md §3 (:func:`late_time_loss`), constant in t
    (the same limit for GD and flow).

Simulation methods: ``"closed_form"`` (old name ``"eigen"``): discrete GD at every checkpoint from
one eigendecomposition of the design's Gram matrix; ``"gd"``: step by step (the reference).

What a unit's numbers depend on (its unit key, issue 10): alpha, beta, N, P, all params (M and
lr resolved from the grid: a different N or P range can change them, and then the unit), the seed
index and the root seed; not the other checkpoints (the discrete-time DMFT takes one contour per t,
the flow DMFT is inverted per τ, the closed-form GD is evaluated per t). The ``dmft`` theory units also
record ``dmft_time = "discrete"`` in their key, so they are never confused with (or reused from) cubes
written when ``dmft`` was the gradient-flow theory.

Scaling exponents (bap.md §3; the tests measure them from :func:`theory`): time
:math:`L \sim t^{-(a-1)/b}`; model size :math:`L \sim N^{-\min(a-1,\, b)}`. **The paper states
min(a-1, 2b) for the model exponent; the theory here and direct simulation give min(a-1, b),
so the two differ when b < a-1** (e.g. a = 5, b = 1.25). Data: :math:`P^{-\min(a-1, 2b)}`.
Compute-optimal (C = N t, m = min(a-1, b)): :math:`N^* \propto C^{(a-1)/(a-1+bm)}`, i.e.
:math:`C^{1/(1+b)}` when m = a-1.

Ensembles (``Params.ensemble = E``): E members with independent A and the same data; the
predictor is the mean of the members' outputs. Theory: :math:`L_E = X + (L_1 - X)/E` with the
shared-data cross-member kernel X (bap.md §4).

References
----------
B. Bordelon, A. Atanasov, C. Pehlevan, "A Dynamical Model of Neural Scaling Laws",
arXiv:2402.01092 (2024).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from scalinglab.errors import SpecError

from ..base import ModelBase, Point
from .params import (ALIASES, M_CAP, NAME, SIM_METHODS, THEORY_TIERS, Params, _resolved, _where, check_domain,
                     resolve_lr, resolve_M, resolve_params, stability_estimate)
from .discrete import _TALBOT_FROM
from .simulation import simulate
from .theory import late_time_loss, late_time_train_loss, theory

__all__ = [
    "MODEL", "BAP", "NAME", "Params", "resolve_M", "resolve_lr", "resolve_params", "check_domain",
    "theory_variables", "sim_variables", "theory", "simulate", "cost", "late_time_loss", "late_time_train_loss",
    "stability_estimate", "THEORY_TIERS", "SIM_METHODS", "ALIASES", "M_CAP",
]


def theory_variables(params: Any) -> tuple[str, ...]:
    """Names of the arrays :func:`theory` returns: ``("loss", "train_loss")``."""
    return ("loss", "train_loss")


def sim_variables(params: Any) -> tuple[str, ...]:
    """Names of the arrays :func:`simulate` returns: ``("loss", "train_loss")``."""
    return ("loss", "train_loss")


# ----------------------------------------------------------------------------- cost
#: Rough machine constants (one core of the 2-core dev machine, single-threaded BLAS):
#: seconds per real flop and per normal draw.
_SEC_PER_FLOP, _SEC_PER_DRAW = 5e-11, 1.5e-8


def cost(point: Point, method: str) -> float:
    """Rough wall time in seconds for one point (all N): theory tiers, or ONE seed of a simulation.

    Theory "dmft_flow": per checkpoint ~ 4·(2n-1)·n·h complex multiply-adds and the κ Newton
    solves, with h ≈ 2·min(N, P, τ^(1/b)) modes summed directly (the rest is a series);
    "dmft": the same per checkpoint with its own contour (n = talbot_nodes from t >= n/2, the circle's
    ~17.5 (t+1)/2 before), plus ~n sequential Newton solves per checkpoint and the spectrum's top edge;
    "late_time": negligible. Simulation: feature draws + forming Φ + one Gram eigendecomposition + n_t products
    ("closed_form"), or t_max matrix-vector pairs ("gd"). The generic names "theory" and
    "simulation" (used by the sweep's block sizing) mean the params' tier and method.
    """
    Ns, P, t = point.N, float(point.P), point.t
    p = _resolved(point.params, Ns, P, t, point.alpha)
    method = {"theory": p.theory, "simulation": p.simulation}.get(method, method)
    method = ALIASES.get(method, method)
    M, E, n = int(p.M), int(p.ensemble), int(p.talbot_nodes)
    nt = int(t.size)
    t_max = float(t.max()) if nt else 0.0
    total = 0.0
    for N in Ns:
        if method in ("dmft", "dmft_flow"):
            # modes summed directly per tau: ~3 k*, k* = min(N, P, tau^(1/b)); the rest is a series
            b = 2.0 * point.alpha
            tt = np.maximum(t.astype(np.float64), 1.0)
            tau = 2.0 * p.lr * tt
            h = np.minimum(M, 2.0 * np.minimum(min(float(N), P), tau ** (1.0 / b)) + 16.0)
            if method == "dmft":
                if math.isinf(float(N)) and math.isinf(P):
                    total += 1e-6 * M * nt
                    continue
                nodes = np.where(tt < _TALBOT_FROM * n, np.ceil((17.5 * (tt + 1.0) + 1.0) / 2.0), n)
                # per t: the real node's bracketing and overheads (~20 ms), ~4 Newton steps per node
                # (~0.6 ms), the sums; once per N: the top edge (~180 sums over M)
                per_tau = 2e-2 + 6e-4 * nodes + 8.0 * (4 * nodes * (2 * nodes - 1) + 20 * nodes) * h * _SEC_PER_FLOP
                total += 0.05 + 180 * (5e-9 * M + 5e-6) + float(np.sum(per_tau))
            else:
                per_tau = 5e-4 + 8.0 * (4 * n * (2 * n - 1) + 20 * n) * h * _SEC_PER_FLOP
                total += 0.01 + 2e-6 * M + float(np.sum(per_tau))
        elif method == "late_time":
            total += 1e-3 * M / 1000
        elif method in SIM_METHODS:
            finN, finP = math.isfinite(N), math.isfinite(P)
            D = N if finN else M
            rows = P if finP else M
            draws = (P if finP else 0) * M + (E * N * M if finN else 0)
            flops = 2.0 * (P if finP else 0) * M * (N if finN else 0) * E
            if method == "closed_form":  # (ALIASES has already mapped "eigen" here)
                flops += E * (6.0 * rows * D * min(rows, D) + 2.0 * M * D * nt + 2.0 * rows * min(rows, D) * nt)
            else:
                flops += E * t_max * (4.0 * rows * D if finP else 4.0 * M * D)
            total += draws * _SEC_PER_DRAW + flops * _SEC_PER_FLOP
        else:
            raise SpecError(_where("cost"), "method", method, f"one of {(*THEORY_TIERS, *SIM_METHODS)}")
    return float(total)


class BAP(ModelBase):
    """The BAP model object (the :class:`scalinglab.models.Model` protocol)."""

    name = NAME
    Params = Params
    theory_tiers = THEORY_TIERS
    sim_methods = SIM_METHODS
    aliases = ALIASES
    inert_fields = {"simulation": ("talbot_nodes",)}  # the Talbot inversion is theory only
    theory_fn = staticmethod(theory)  # deterministic: no tier samples
    simulate_fn = staticmethod(simulate)
    domain_fn = staticmethod(check_domain)
    cost_fn = staticmethod(cost)
    resolve_fn = staticmethod(resolve_params)
    theory_variables = staticmethod(theory_variables)
    sim_variables = staticmethod(sim_variables)

    def unit_params(self, params, kind: str) -> dict[str, Any]:
        d = super().unit_params(params, kind)
        if kind == "theory" and d.get("theory") == "dmft":
            d["dmft_time"] = "discrete"  # dmft was gradient flow before issue 10.9: other numbers, other key
        return d

    def depends_on_checkpoints(self, params, kind: str) -> bool:
        return False  # every tier and method evaluates each checkpoint on its own

    def plan_notes(self, params, *, P) -> list[str]:
        if any(math.isinf(float(x)) for x in np.atleast_1d(P)):
            return ["P = inf in a bap spec is gradient descent on the population loss (no finite sample set)"]
        return []

    def cube_attrs(self, params) -> dict[str, str]:
        return {"compute": "C = N * t (one full-batch GD step on P samples is counted as one step; B = 1)",
                "time": ("the simulation is discrete GD at step t; theory dmft is the DMFT of that discrete GD "
                         "(step factor (1 - 2 lr e)^t), dmft_flow is gradient flow at tau = 2 lr t")}


MODEL = BAP()
