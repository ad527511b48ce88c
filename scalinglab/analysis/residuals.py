"""Theory against simulation for one (alpha, beta, P) cell: relative and standardised differences.

With ``K`` seeds ``L_s(N, t)`` (shape ``(n_N, K, n_t)``) and a theory curve ``T(N, t)`` (shape
``(n_N, n_t)``):

.. math::

    \\bar L = \\frac1K \\sum_s L_s, \\qquad
    \\mathrm{SE} = \\frac{\\operatorname{sd}_s(L_s)}{\\sqrt K}\\ (\\text{ddof} = 1),

    \\text{relative difference} = \\frac{T - \\bar L}{\\bar L}, \\qquad
    z = \\frac{T - \\bar L}{\\mathrm{SE}}.

Under "theory is the mean of the simulation" each ``z`` is approximately Student-t with
``K - 1`` degrees of freedom; :func:`max_standardized_deviation` is the statistic the model
tests bound (STYLE.md §5).

:func:`residual_map` is what the analysis reports (the residual map, ``resid_*`` fields). It
picks the standard error that fits how the theory was made:

* **paired** — the theory carries the seed axis, seed ``s``'s theory uses seed ``s``'s draws
  (PLRF/LIN ``exact_given_draw``): ``d_s = T_s - L_s``, ``z = mean(d) / (sd(d)/sqrt(K))``,
  Student-t with ``K - 1`` dof; the draw-to-draw spread of the projection cancels;
* **paired, replica SE** — as paired, where each seed's value is the mean of R SGD runs on its own
  draw (PLRF ``replicas``): ``z = mean(d) / (sqrt(sum_s SE_s^2) / K)``, ``K (R - 1)`` dof;
* **theory spread + seed SE** — a theory with its own spread (a seed axis not paired with the
  simulation's, or a given ``theory_se``): ``SE^2 = SE_sim^2 + SE_theory^2`` (Welch dof);
* **seed SE** — a deterministic theory: the simulation's seed SE alone, ``K - 1`` dof.

Only checkpoints ``t >= t_min`` (the fits' window) count; values flagged by the theory tier or
non-finite are excluded and counted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from scalinglab.errors import SpecError

__all__ = [
    "seed_mean_se",
    "relative_difference",
    "standardized_deviation",
    "max_standardized_deviation",
    "max_relative_difference",
    "ResidualMap",
    "residual_map",
    "SE_KINDS",
]

#: how the standard error of z was made (the residual figure and the analysis group say which)
SE_KINDS = {
    "paired": "paired difference (theory_s - sim_s, same draws per seed), its own seed SE",
    "paired+replicas": ("paired difference (theory_s - sim_s, same draws per seed), SE from each seed's "
                        "replica runs on its draw"),
    "theory+seed": "unpaired: SE^2 = seed SE of the simulation^2 + the theory's own SE^2",
    "seed": "seed SE of the simulation alone (deterministic theory)",
    "none": "no standard error (fewer than 2 seeds)",
}


def _check(theory: np.ndarray, sim: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    theory = np.asarray(theory, dtype=np.float64)
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 3:
        raise SpecError(where, "sim.shape", sim.shape, "(n_N, n_seed, n_t)")
    if theory.shape != (sim.shape[0], sim.shape[2]):
        raise SpecError(where, "theory.shape", theory.shape, f"{(sim.shape[0], sim.shape[2])} to match sim {sim.shape}")
    if not (np.all(np.isfinite(theory)) and np.all(np.isfinite(sim))):
        raise SpecError(where, "values", "non-finite", "finite theory and simulation values")
    return theory, sim


def seed_mean_se(sim: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seed mean and standard error ``sd(ddof=1)/sqrt(K)`` of ``sim`` (shape (n_N, K, n_t)).

    Returns
    -------
    mean, se : ndarray, shape (n_N, n_t)
    """
    sim = np.asarray(sim, dtype=np.float64)
    if sim.ndim != 3 or sim.shape[1] < 2:
        raise SpecError("seed_mean_se", "sim.shape", sim.shape, "(n_N, n_seed, n_t) with n_seed >= 2")
    K = sim.shape[1]
    return sim.mean(axis=1), sim.std(axis=1, ddof=1) / np.sqrt(K)


def relative_difference(theory: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """``(theory - sim_mean) / sim_mean`` over (N, t).

    Parameters
    ----------
    theory : ndarray, shape (n_N, n_t)
    sim : ndarray, shape (n_N, n_seed, n_t)

    Returns
    -------
    ndarray, shape (n_N, n_t)
    """
    theory, sim = _check(theory, sim, "relative_difference")
    mean = sim.mean(axis=1)
    if np.any(mean == 0):
        raise SpecError("relative_difference", "sim_mean", "zero entries", "non-zero seed means")
    return (theory - mean) / mean


def max_relative_difference(theory: np.ndarray, sim: np.ndarray) -> float:
    """``max_(N, t) |theory - sim_mean| / sim_mean``."""
    return float(np.max(np.abs(relative_difference(theory, sim))))


def standardized_deviation(theory: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """``(theory - sim_mean) / SE`` over (N, t), SE the seed standard error.

    Where SE = 0 the entry is 0 if theory equals the mean exactly and ``±inf`` otherwise.

    Parameters
    ----------
    theory : ndarray, shape (n_N, n_t)
    sim : ndarray, shape (n_N, n_seed, n_t), n_seed >= 2

    Returns
    -------
    ndarray, shape (n_N, n_t)
    """
    theory, sim = _check(theory, sim, "standardized_deviation")
    mean, se = seed_mean_se(sim)
    diff = theory - mean
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / se
    return np.where(se > 0, z, np.where(diff == 0, 0.0, np.copysign(np.inf, diff)))


def max_standardized_deviation(theory: np.ndarray, sim: np.ndarray) -> float:
    """``max_(N, t) |theory - sim_mean| / SE`` (SE from the seeds, ddof = 1)."""
    return float(np.max(np.abs(standardized_deviation(theory, sim))))


@dataclass(frozen=True)
class ResidualMap:
    """Theory against simulation over (N, t) for one cell (:func:`residual_map`).

    Attributes
    ----------
    z : ndarray, shape (n_N, n_t)
        ``(theory - sim) / SE``; NaN where excluded or ``t < t_min``.
    rel : ndarray, shape (n_N, n_t)
        ``(mean theory - mean sim) / mean sim``; NaN where z is.
    kind : str
        Key of :data:`SE_KINDS`.
    dof : float
        Degrees of freedom of the Student-t that z follows when theory is the simulation's mean.
    used : ndarray of bool, shape (n_t,)
        Checkpoints in the window (``t >= t_min``).
    n_values, n_excluded : int
        (N, t) values in the window, and how many of them were flagged or non-finite (excluded).
    n_seeds : int
    """

    z: np.ndarray
    rel: np.ndarray
    kind: str
    dof: float
    used: np.ndarray
    n_values: int
    n_excluded: int
    n_seeds: int

    def fraction_above(self, c: float = 3.0) -> float:
        """Fraction of the compared values with ``|z| > c`` (NaN if none)."""
        z = self.z[~np.isnan(self.z)]
        return float(np.mean(np.abs(z) > c)) if z.size else float("nan")

    def expected_fraction(self, c: float = 3.0) -> float:
        """``P(|T| > c)`` for T Student-t with :attr:`dof` (normal when dof is infinite)."""
        from scipy import special  # not scipy.stats: ~0.6 s to import

        if not self.dof > 0:
            return float("nan")
        return float(2.0 * (special.ndtr(-c) if np.isinf(self.dof) else special.stdtr(self.dof, -c)))

    def summary(self) -> dict[str, Any]:
        """The ``resid_*`` numbers the analysis group stores for the cell."""
        finite = self.z[~np.isnan(self.z)]
        rel = self.rel[~np.isnan(self.rel)]
        return {
            "resid_max_rel": float(np.max(np.abs(rel))) if rel.size else float("nan"),
            "resid_max_z": float(np.max(np.abs(finite))) if finite.size else float("nan"),
            "resid_frac_z3": self.fraction_above(3.0),
            "resid_frac_z3_expected": self.expected_fraction(3.0),
            "resid_dof": float(self.dof),
            "resid_n": float(self.n_values - self.n_excluded),
            "resid_excluded": float(self.n_excluded),
        }


def residual_map(theory: np.ndarray, sim: np.ndarray, *, t: np.ndarray | None = None, t_min: float = 0.0,
                 theory_flag: np.ndarray | None = None, paired: bool | None = None,
                 theory_se: np.ndarray | None = None, sim_se: np.ndarray | None = None,
                 sim_se_dof: float | None = None) -> ResidualMap:
    """Standardised theory-minus-simulation residuals with the standard error the pairing allows.

    .. math::

        \text{paired: } z = \frac{\bar d}{\operatorname{sd}(d)/\sqrt K},\ d_s = T_s - L_s;
        \qquad \text{paired, replicas: } z = \frac{\bar d}{\sqrt{\sum_s \mathrm{SE}_s^2}/K};
        \qquad \text{unpaired: } z = \frac{\bar T - \bar L}{\sqrt{\mathrm{SE}_L^2 + \mathrm{SE}_T^2}}

    With replicas (``sim_se``: seed s's value is the mean of R runs on its own draw, ``SE_s`` their
    standard error over data streams, ``R - 1`` dof each), the paired SE is estimated from all K R
    runs (``K (R - 1)`` dof) instead of from K seed values: under "T_s = E[L | draw s]" each
    ``d_s`` has mean 0 and variance ``SE_s^2``. One-pass SGD losses are skewed and power-law tailed
    (plrf.md §7.9); a standard error from 8 values is then too often small exactly where the mean
    is low, and the K R-run estimate is not.

    Parameters
    ----------
    theory : ndarray, shape (n_N, n_t) or (n_N, K_T, n_t)
        A seed axis means one theory value per draw; it is paired with the simulation's seeds
        (``K_T == K``) unless ``paired=False``.
    sim : ndarray, shape (n_N, K, n_t)
    t : ndarray, shape (n_t,), optional
        Checkpoints; with ``t_min`` only ``t >= t_min`` (and t > 0) are compared.
    theory_flag : ndarray of bool, shape like ``theory`` or (n_N, n_t), optional
        Values the theory tier flags as unreliable: excluded and counted.
    paired : bool, optional
        Default: True when ``theory`` has a seed axis.
    theory_se : ndarray, shape (n_N, n_t), optional
        The theory's own standard error (a theory without a seed axis that has a spread).
    sim_se, sim_se_dof : ndarray, shape (n_N, K, n_t), and float, optional
        Each seed's standard error over its replica runs on its own draw, and its dof (R - 1):
        used by the paired z (kind ``paired+replicas``); ignored when unpaired (a seed's replicas
        share its draw, so they do not measure the draw-to-draw spread an unpaired z needs).

    Returns
    -------
    ResidualMap
    """
    where = "residual_map"
    th = np.asarray(theory, dtype=np.float64)
    sm = np.asarray(sim, dtype=np.float64)
    if sm.ndim != 3:
        raise SpecError(where, "sim.shape", sm.shape, "(n_N, n_seed, n_t)")
    n_N, K, n_t = sm.shape
    if th.ndim == 2:
        if th.shape != (n_N, n_t):
            raise SpecError(where, "theory.shape", th.shape, f"{(n_N, n_t)} or {(n_N, K, n_t)} to match sim {sm.shape}")
    elif th.ndim == 3:
        if th.shape[0] != n_N or th.shape[2] != n_t:
            raise SpecError(where, "theory.shape", th.shape, f"{(n_N, K, n_t)} to match sim {sm.shape}")
    else:
        raise SpecError(where, "theory.ndim", th.ndim, "2 (N, t) or 3 (N, seed, t)")
    if paired is None:
        paired = th.ndim == 3
    if paired and (th.ndim != 3 or th.shape[1] != K):
        raise SpecError(where, "paired", paired, f"a theory with the simulation's {K} seeds on axis 1 (got {th.shape})")
    used = np.ones(n_t, bool) if t is None else (np.asarray(t, float) >= t_min) & (np.asarray(t, float) > 0)
    bad = ~np.all(np.isfinite(sm), axis=1)
    bad |= ~(np.all(np.isfinite(th), axis=1) if th.ndim == 3 else np.isfinite(th))
    if theory_flag is not None:
        fl = np.asarray(theory_flag).astype(bool)
        bad |= np.any(fl, axis=1) if fl.ndim == 3 else np.broadcast_to(fl, (n_N, n_t))
    if theory_se is not None:
        bad |= ~np.isfinite(np.asarray(theory_se, float))
    se_s = None
    if sim_se is not None and paired:
        se_s = np.asarray(sim_se, dtype=np.float64)
        if se_s.shape != sm.shape:
            raise SpecError(where, "sim_se.shape", se_s.shape, f"{sm.shape} (one standard error per seed's value)")
        if not (sim_se_dof is not None and sim_se_dof >= 1):
            raise SpecError(where, "sim_se_dof", sim_se_dof, "an integer >= 1 (replicas - 1)")
        bad |= ~np.all(np.isfinite(se_s), axis=1)
    n_values = int(n_N * used.sum())
    n_excluded = int((bad & used[None, :]).sum())
    keep = used[None, :] & ~bad
    sm0 = np.where(keep[:, None, :], sm, np.nan)
    if se_s is not None:
        se_s = np.where(keep[:, None, :], se_s, np.nan)
    th0 = np.where(keep[:, None, :] if th.ndim == 3 else keep, th, np.nan)
    th_mean = th0.mean(axis=1) if th.ndim == 3 else th0
    sim_mean = sm0.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (th_mean - sim_mean) / sim_mean
        if K < 2:
            kind, dof = "none", float("nan")
            z = np.full((n_N, n_t), np.nan)
        else:
            if se_s is not None:  # paired, SE from each seed's replica runs
                d = th0 - sm0
                kind, dof = "paired+replicas", float(K * sim_se_dof)
                diff, se = d.mean(axis=1), np.sqrt(np.sum(se_s**2, axis=1)) / K
            elif paired:
                d = th0 - sm0
                kind, dof = "paired", float(K - 1)
                diff, se = d.mean(axis=1), d.std(axis=1, ddof=1) / np.sqrt(K)
            else:
                diff = th_mean - sim_mean
                v_sim = sm0.var(axis=1, ddof=1) / K
                if th.ndim == 3 and th.shape[1] >= 2:
                    KT = th.shape[1]
                    v_th = th0.var(axis=1, ddof=1) / KT
                    kind = "theory+seed"
                    num, den = (v_sim + v_th) ** 2, v_sim**2 / (K - 1) + v_th**2 / (KT - 1)
                    dofs = num / den
                    dof = float(np.nanmin(dofs)) if np.isfinite(dofs).any() else float(K - 1)
                elif theory_se is not None:
                    v_th = np.asarray(theory_se, float) ** 2
                    kind, dof = "theory+seed", float(K - 1)
                else:
                    v_th = 0.0
                    kind, dof = "seed", float(K - 1)
                se = np.sqrt(v_sim + v_th)
            z = np.where(se > 0, diff / se, np.where(diff == 0, 0.0, np.copysign(np.inf, diff)))
            z = np.where(keep, z, np.nan)
    rel = np.where(keep, rel, np.nan)
    return ResidualMap(z=z, rel=rel, kind=kind, dof=dof, used=used, n_values=n_values, n_excluded=n_excluded,
                       n_seeds=int(K))
