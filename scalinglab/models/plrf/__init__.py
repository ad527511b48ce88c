r"""PLRF: power-law random features trained by one-pass SGD.

Paquette, Paquette, Xiao, Pennington, "4+3 Phases of Compute-Optimal Neural Scaling Laws",
arXiv:2405.15074 (NeurIPS 2024). Notes: ``docs/theory/plrf.md``.

.. math::

    x_j = j^{-\alpha} z_j,\quad y = \langle x, b\rangle,\ b_j = j^{-\beta},\quad
    W \in \mathbb R^{v\times N},\ W_{ij}\sim N(0, 1/N),

    \theta_{r+1} = \theta_r - \gamma \sum_{i=1}^{B} W^T x_i(\langle W^T x_i,\theta_r\rangle - y_i),
    \qquad \mathcal P(\theta) = E_x(\langle W^T x,\theta\rangle - y)^2 \ (\text{no } 1/2).

Symbols: project ``N`` is the paper's d, ``t`` its r; ``v = v_ratio * N``;
:math:`\gamma = \text{lr\_scale} / \sum_{j\le v} j^{-2\alpha}`; ``C = N t B``.

Methods
-------
theory, tier ``"exact_given_draw"`` (old name ``"exact"``), :mod:`.theory`
    The exact expected loss given a drawn W: the per-mode recursion of plrf.md §3
    (with the Gaussian fourth-moment factor B(B+1)), advanced on a geometric time grid. A sweep
    pairs it with the seeds (issue 10.2): seed s's theory is the loss given seed s's W, the W its
    simulation trains on, and the mean over seeds is the W-averaged theory. (``theory()`` called
    directly still averages ``draws`` projections of its own stream.)
theory, tiers ``"deterministic_equivalent"`` (old ``"de"``) and ``"asymptotic"``, :mod:`.de`
    Sampling-free deterministic equivalent and the asymptotic terms (plrf.md §3–§4).
simulate, method ``"eigen"``
    SGD run in the eigenbasis of K = WᵀDW, exact in law (plrf.md §2), O(N) per sample. With
    ``replicas = R`` each seed runs R SGD runs on its W, each on its own data stream, and stores
    their mean: an estimate of E[loss | W_s], the paired theory, whose skew shrinks as 1/sqrt(R).
simulate, method ``"ambient"``
    The faithful simulation with x in R^v, O(vN) per sample: the reference.
analysis hook :data:`MODEL.phase_diagram <PLRF.phase_diagram>`
    The 4+3 phase diagram (:mod:`.phases`, plrf.md §5).

What a unit's numbers depend on (its unit key, issue 10): alpha, beta, N, the params below
except the other method's selector, the seed index and the root seed. The ``eigen`` simulation
draws W, then (x, noise) in whole chunks of 512 steps, so a checkpoint's value does not depend on
the other checkpoints. The ``exact_given_draw`` and ``deterministic_equivalent`` tiers advance
their recursions on a time grid that lands on every checkpoint, so their values depend on the
checkpoint list (to ~1e-4 relative): their unit key includes it.
"""
from __future__ import annotations

import numpy as np

from ..base import ModelBase, Point
from . import phases
from .de import ASYMPTOTIC_TERMS
from .params import (ALIASES, METHODS, NAME, TIERS, Params, ambient_dim, canonical_tier, check_domain, learning_rate,
                     max_lr_scale)
from .simulation import draw_ambient, simulate
from .theory import draw_problem, exact_loss, kernel_norm, loss_floor, paired_theory, theory

__all__ = [
    "MODEL", "PLRF", "NAME", "Params", "TIERS", "METHODS", "ALIASES", "check_domain", "theory_variables",
    "sim_variables", "theory", "simulate", "cost", "learning_rate", "ambient_dim", "draw_problem", "draw_ambient",
    "exact_loss", "loss_floor", "kernel_norm", "max_lr_scale", "canonical_tier",
]


def theory_variables(params: Params) -> tuple[str, ...]:
    """("loss",), plus the asymptotic terms for tier ``asymptotic``."""
    if canonical_tier(params.theory) == "asymptotic":
        return ("loss", *ASYMPTOTIC_TERMS)
    return ("loss",)


def sim_variables(params: Params) -> tuple[str, ...]:
    """("loss",), plus ("loss_se",), the standard error of a seed's replica mean, when ``replicas > 1``."""
    return ("loss", "loss_se") if params.replicas > 1 else ("loss",)


def cost(point: Point, method: str) -> float:
    """Rough wall-time (s) of one point on one core: projections O(vN^2) plus the time loop."""
    p: Params = point.params
    N = point.N.astype(float)
    setup = float(np.sum(p.v_ratio * N**3)) * 3e-10  # QR + SVD of the projection (spectra.project)
    t_max = float(point.t.max())
    if method == "theory":
        if canonical_tier(p.theory) == "exact_given_draw":
            steps = 512 + np.log(max(t_max, 512) / 512) / 0.005
            return setup + float(np.sum(steps * (N * 2e-8 + 2e-5)))  # one draw of W (a sweep pairs one per seed)
        return 0.01 * N.size
    # per mode and run: drawing the normal (~10 ns) and ~5 passes over it; measured 2.3e-8 s on the quickstart
    # (8 seeds, N = 64..512, 1e5 steps: 24 s a point at replicas = 1)
    per_step = 8e-6 + 2e-8 * float(np.sum(N)) * p.batch * p.replicas
    if p.simulation == "ambient":
        per_step += 2e-9 * float(np.sum(p.v_ratio * N**2)) * p.batch * p.replicas
    return setup + t_max * per_step


class PLRF(ModelBase):
    """The PLRF model object (the :class:`scalinglab.models.Model` protocol)."""

    name = NAME
    Params = Params
    theory_tiers = TIERS
    sim_methods = METHODS
    aliases = ALIASES
    phase_diagram = phases
    sampling_tiers = ("exact_given_draw",)
    paired_tiers = ("exact_given_draw",)
    paired_fn = staticmethod(paired_theory)
    theory_fn = staticmethod(theory)
    simulate_fn = staticmethod(simulate)
    domain_fn = staticmethod(check_domain)
    cost_fn = staticmethod(cost)
    theory_variables = staticmethod(theory_variables)
    sim_variables = staticmethod(sim_variables)
    #: params that change no stored number of a kind: `draws` (sweeps pair the exact tier with the
    #: seeds) and, for theory, `replicas` (the theory is E[loss | W], the mean the replicas estimate)
    inert_fields = {"theory": ("draws", "replicas"), "simulation": ("draws",)}

    def depends_on_checkpoints(self, params, kind: str) -> bool:
        return kind == "theory" and canonical_tier(params.theory) != "asymptotic"

    def samples_per_step(self, params) -> float:
        return float(params.batch)


MODEL = PLRF()
