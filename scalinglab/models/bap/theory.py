r"""BAP theory tiers: ``dmft`` (the finite-M DMFT of the discrete GD the simulation runs), ``dmft_flow``
(the same DMFT for gradient flow at τ = 2·lr·t) and ``late_time`` (τ → ∞ closed forms).

See :mod:`scalinglab.models.bap`, ``docs/theory/bap.md`` §2–§3 and ``docs/theory/bap_discrete_time.md``.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from scalinglab.errors import SpecError

from ..base import Curves, Point
from . import discrete as _discrete
from . import dmft as _dmft
from .params import ALIASES, THEORY_TIERS, _resolved, _where

__all__ = ["late_time_loss", "late_time_train_loss", "theory"]


def late_time_loss(alpha: float, beta: float, N: float, P: float, M: int, ensemble: int = 1) -> float:
    r"""Test loss as :math:`\tau\to\infty` (docs/theory/bap.md §3), closed form.

    With :math:`\mathrm{df}(\kappa)=\sum_k\lambda_k/(\lambda_k+\kappa)`, κ solving
    :math:`\mathrm{df}(\kappa) = \min(N, P)`, :math:`E_1 = \kappa^2\sum\lambda w^2/(\kappa+\lambda)^2`,
    :math:`E_2 = \kappa\sum\lambda^2w^2/(\kappa+\lambda)^2`, :math:`df_2=\sum\lambda^2/(\kappa+\lambda)^2`:

    .. math::

        L_\infty = \begin{cases}
          \frac{P}{P-N}\,\kappa\sum_k \frac{\lambda_k w_k^{*2}}{\kappa+\lambda_k} & N < P \\
          \frac{P}{N-P}\Big[\frac{N-df_2}{P-df_2}E_1 + E_2\Big] & P < N \\
          \infty & N = P
        \end{cases}

    (N = inf: :math:`E_1/(1-df_2/P)`, the ridgeless kernel formula; P = inf: the rank-N
    projection error; both inf: 0.) For E > 1: :math:`X + (L_\infty - X)/E`,
    :math:`X = E_1/(1-df_2/P)`.
    """
    lam, ws = _dmft.spectrum(alpha, beta, int(M))
    return _dmft.late_time(lam, ws, float(N), float(P), int(ensemble))[0]


def late_time_train_loss(alpha: float, beta: float, N: float, P: float, M: int, ensemble: int = 1) -> float:
    r"""Train loss as :math:`\tau\to\infty`: :math:`R_1(0)^2 L_\infty` with :math:`R_1(0) = 1-\min(N,P)/P`.

    So :math:`(1-N/P)^2 L_\infty` for N < P, 0 for N > P (interpolation), inf at N = P, NaN
    for P = inf.
    """
    lam, ws = _dmft.spectrum(alpha, beta, int(M))
    return _dmft.late_time(lam, ws, float(N), float(P), int(ensemble))[1]


def theory(point: Point, *, tier: str | None = None, rngs: Sequence[np.random.Generator] | None = None) -> Curves:
    r"""Deterministic BAP learning curves at GD step t (learning rate lr); shape ``(n_N, n_t)``.

    Parameters
    ----------
    point : Point
        ``alpha, beta, P, N (n_N,), t (n_t,)`` and ``params`` (:class:`Params`).
    tier : {"dmft", "dmft_flow", "late_time"}, optional (default: the params' tier)
        ``"dmft"``: the DMFT of the discrete GD the simulation runs (docs/theory/bap_discrete_time.md):
        the kernel :math:`C_0(s,s')` of docs/theory/bap.md §2 integrated against the step factor
        :math:`(1+2\,\mathrm{lr}\,s)^t(1+2\,\mathrm{lr}\,s')^t` on a closed contour (a circle in
        :math:`z = 1+2\,\mathrm{lr}\,s` for t < talbot_nodes/2, the fixed-Talbot contour mapped by
        :math:`s = (e^w-1)/(2\,\mathrm{lr})` after), one checkpoint at a time; N = P = inf is the exact
        :math:`\sum_k\lambda_kw_k^{*2}(1-2\,\mathrm{lr}\,\lambda_k)^{2t}`. ``"dmft_flow"``: gradient flow at
        :math:`\tau = 2\,\mathrm{lr}\,t` (docs/theory/bap.md §2), fixed-Talbot double inversion, cost
        O(n_t · talbot_nodes² · h) per N, where h ≲ min(M, ~2 min(N, P, τ^(1/b))) modes are summed
        directly and the remaining small-λ tail by a convergent series in λ/κ (exact to < 1e-17
        relative; see ``bap.dmft._Tail``); it is the lr → 0 limit at fixed τ and parts from discrete
        GD by O(lr/τ) (10–50% at t = 1 with the default lr in the tested cells). ``"late_time"`` (old
        name ``"limit"``): the τ → ∞ closed forms of :func:`late_time_loss` (the same for GD and flow), repeated over t.
    rngs : unused (the theory is deterministic).

    Returns
    -------
    Curves
        ``values["loss"]``, ``values["train_loss"]`` (NaN for P = inf), shape
        ``(n_N, n_t)``. ``flags[name]`` is True where the inversion is ill-conditioned:
        the contour double sum lost more than ~10 of 16 digits, Newton for κ(s) failed, or
        the N ≈ P resonance :math:`|D(s_0,s_0)| < 0.05` dominates (late times near N = P,
        where the loss grows like √τ; finite-size fluctuations there exceed the
        deterministic equivalent's accuracy); for ``dmft`` also where the deterministic
        equivalent's top edge makes GD unstable (:math:`|1-2\,\mathrm{lr}\,e_{max}| \ge 1`) or where
        overshooting modes (:math:`2\,\mathrm{lr}\,e > 1`) left out by the mapped contour still weigh
        more than 1e-9 (only past t = 128; bap_discrete_time.md §3). t = 0 gives
        :math:`L(0)=\sum_k\lambda_kw^{*2}_k`.
    """
    tier = ALIASES.get(tier or getattr(point.params, "theory", "dmft"), tier or getattr(point.params, "theory", "dmft"))
    if tier not in THEORY_TIERS:
        raise SpecError(_where("theory"), "tier", tier, f"one of {tuple(THEORY_TIERS)}")
    Ns, P, t = point.N, float(point.P), point.t
    p = _resolved(point.params, Ns, P, t, point.alpha)
    lam, ws = _dmft.spectrum(point.alpha, point.beta, int(p.M))
    L0 = float(np.sum(lam * ws**2))
    shape = (Ns.size, t.size)
    loss, train = np.empty(shape), np.full(shape, np.nan)
    fl, flt = np.zeros(shape, bool), np.zeros(shape, bool)
    pos = t > 0
    for i, n in enumerate(Ns):
        if tier == "late_time":
            Linf, Lhinf = _dmft.late_time(lam, ws, float(n), P, p.ensemble)
            loss[i], train[i] = Linf, Lhinf
            fl[i] = ~np.isfinite(loss[i])
            flt[i] = ~np.isfinite(train[i]) & math.isfinite(P)
            continue
        loss[i, ~pos] = L0
        if math.isfinite(P):
            train[i, ~pos] = L0
        if not pos.any():
            continue
        if tier == "dmft" and math.isinf(float(n)) and math.isinf(P):
            loss[i, pos] = _discrete.exact_losses_infinite(lam, ws, p.lr, t[pos])
            continue
        if tier == "dmft":
            r = _discrete.discrete_losses(lam, ws, float(n), P, t[pos], p.lr, n_nodes=p.talbot_nodes,
                                          ensemble=p.ensemble)
        else:
            tau = 2.0 * p.lr * t[pos].astype(np.float64)
            r = _dmft.dmft_losses(lam, ws, float(n), P, tau, n_nodes=p.talbot_nodes, ensemble=p.ensemble)
        loss[i, pos], train[i, pos] = r["loss"], r["train_loss"]
        fl[i, pos], flt[i, pos] = r["flag_loss"], r["flag_train_loss"]
    flags = {"loss": fl}
    if math.isfinite(P):
        flags["train_loss"] = flt
    return Curves(values={"loss": loss, "train_loss": train}, source=tier, flags=flags)
