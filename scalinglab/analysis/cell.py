"""Everything a scaling-law paper reports about one (alpha, beta, P) cell, from its curves.

For each method present (theory curves ``(n_N, n_t)``, or ``(n_N, n_seed, n_t)`` when paired with
the simulation; simulation curves ``(n_N, n_seed, n_t)``):

- the scaling surface ``L(t, N) = L0 + a_t t^(-r_t) + a_N N^(-r_N)`` (:class:`ScalingSurface`,
  Huber on log residuals);
- the compute-optimal frontier by Chinchilla approach 1 (:class:`ComputeFrontier`,
  ``C = N t B``): ``xi`` (N* ∝ C^xi) and ``eta`` (L* ∝ C^-eta) with intervals and the window;

intervals are confidence intervals from a bootstrap over seeds where the data have seeds, and for
a deterministic theory curve the range over a stated set of fit windows (:data:`INTERVAL_KINDS`);
- approach 3 from the fitted surface: ``xi3 = r_t/(r_t+r_N)``, ``eta3 = r_t r_N/(r_t+r_N)``;

and, where both exist, theory-vs-simulation residuals (:func:`residuals.residual_map`: paired where
the theory carries the seed axis). Checkpoints below ``t_min``, values the theory tier flags and
non-finite values are left out of all of them and counted; a fit outside the stated physical
ranges is flagged and left out. Every table and figure reads this one computation.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# fit/frontier/residuals pull scipy: imported inside the functions that fit, so that the grid's
# prerequisites and the settings cost nothing to import (`scalinglab plan`)

__all__ = ["AnalysisSettings", "analyze_cell", "analyze_data_surface", "prerequisites", "FIT_FIELDS", "RESIDUAL_FIELDS",
           "DATA_FIELDS", "MIN_SURFACE_POINTS", "FRONTIER_CURVE", "INTERVAL_KINDS", "EXPONENT_RANGE", "AMPLITUDE_FACTOR",
           "XI_RANGE", "ETA_RANGE", "excluded_note"]

#: a surface L0 + a_t t^-r_t + a_N N^-r_N has 5 parameters: it needs at least this many (N, t) points
MIN_SURFACE_POINTS = 6

#: per-method result fields (NaN when not computable)
FIT_FIELDS = (
    "L0", "L0_lo", "L0_hi", "a_t", "r_t", "r_t_lo", "r_t_hi", "a_N", "r_N", "r_N_lo", "r_N_hi", "fit_loss",
    "xi", "xi_lo", "xi_hi", "eta", "eta_lo", "eta_hi", "C_lo", "C_hi", "edge_hit", "xi3", "eta3",
    "n_values", "n_excluded", "surface_flag", "frontier_flag",
)
RESIDUAL_FIELDS = ("resid_max_rel", "resid_max_z", "resid_frac_z3", "resid_frac_z3_expected", "resid_dof", "resid_n",
                   "resid_excluded")
#: frontier arrays stored per cell and method (length ``n_compute``), which the frontier figure draws
FRONTIER_CURVE = ("C", "N_star", "L_star", "in_window", "edge")

#: stated physical ranges of a fitted surface; a fit outside them is flagged and left out
EXPONENT_RANGE = (0.01, 5.0)
#: a term's value at the grid's smallest x may exceed the largest observed loss by at most this factor
AMPLITUDE_FACTOR = 100.0
#: the approach-1 exponents' physical ranges (N* <= C/B: 0 <= xi <= 1)
XI_RANGE, ETA_RANGE = (0.0, 1.0), (0.0, 5.0)

#: what an interval means, per kind (attrs of the analysis group, table headers)
INTERVAL_KINDS = {
    "seed-bootstrap": "{conf:.0%} confidence interval, bootstrap over seeds",
    "window-range": "window sensitivity (not a confidence interval): min..max of the estimate over the fit windows "
                    "{{full, first 2/3, middle 2/3, last 2/3}} of the compute window (frontier) or over "
                    "{{all, without the first/last third of t, without the smallest/largest N}} (surface)",
    "none": "no interval",
}


@dataclass(frozen=True)
class AnalysisSettings:
    """Fit settings, stored in the analysis group's attrs."""

    t_min: float = 10.0  # checkpoints below are transient (the loss plateau before SGD starts to learn)
    n_bootstrap_fit: int = 20
    n_bootstrap_frontier: int = 100
    n_compute: int = 40
    confidence: float = 0.9
    delta: float = 1e-3
    random_state: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _usable(N: np.ndarray, t: np.ndarray, t_min: float) -> tuple[np.ndarray, np.ndarray]:
    n_ok = np.isfinite(N) & (N > 0)
    t_ok = (t >= t_min) & (t > 0)
    return n_ok, t_ok


def prerequisites(N: np.ndarray, t: np.ndarray, settings: AnalysisSettings = AnalysisSettings(),
                  batch: float = 1.0) -> list[str]:
    """What the grid alone makes unmeasurable, for every cell: each problem as one sentence.

    The compute frontier (approach 1) needs >= 3 finite N and >= 2 checkpoints at
    ``t >= settings.t_min`` whose compute ranges ``[N t_min B, N t_max B]`` of 3 N curves
    overlap; the scaling surface needs >= :data:`MIN_SURFACE_POINTS` (N, t) points.
    """
    N, t = np.asarray(N, float), np.asarray(t, float)
    n_ok, t_ok = _usable(N, t, settings.t_min)
    Nu, tu = N[n_ok], t[t_ok]
    problems = []
    if Nu.size < 3:
        problems.append(f"{Nu.size} finite N value(s) ({', '.join(f'{x:g}' for x in Nu)}); the compute frontier needs >= 3")
    if tu.size < 2:
        problems.append(f"{tu.size} checkpoint(s) at t >= {settings.t_min:g}; the compute frontier needs >= 2")
    elif Nu.size >= 3:
        c_lo, c_hi = np.sort(Nu * tu[0] * batch)[2], np.sort(Nu * tu[-1] * batch)[-3]
        if not c_lo < c_hi:
            problems.append(f"checkpoints t in [{tu[0]:g}, {tu[-1]:g}] too short for 3 N curves to share a compute "
                            f"value (C = N t B); extend t or add N values")
    if Nu.size * tu.size < MIN_SURFACE_POINTS:
        problems.append(f"{Nu.size} N x {tu.size} checkpoints at t >= {settings.t_min:g}; the scaling surface needs "
                        f">= {MIN_SURFACE_POINTS} points")
    return problems


def _surface_problems(model, X: np.ndarray, y: np.ndarray) -> list[str]:
    """Why a fitted surface is not a result: exponents or amplitudes outside the stated ranges."""
    lo, hi = EXPONENT_RANGE
    ymax = float(np.max(y))
    out = []
    for v in ("t", "N"):
        r, a = model.exponents_[v], model.coefficients_[v]
        if not lo <= r <= hi:
            out.append(f"r_{v} = {r:.4g} outside [{lo:g}, {hi:g}]")
        col = X[:, ("N", "t").index(v)]
        term = a * float(col.min()) ** (-r)
        if not (np.isfinite(term) and term <= AMPLITUDE_FACTOR * ymax):
            out.append(f"a_{v} = {a:.3g} makes a_{v} {v}_min^-r_{v} = {term:.3g} > {AMPLITUDE_FACTOR:g} x the largest "
                       f"loss {ymax:.3g}")
    if not model.L0_ <= ymax:
        out.append(f"L0 = {model.L0_:.3g} above the largest loss {ymax:.3g}")
    return out


def _surface_windows(X: np.ndarray) -> list[np.ndarray]:
    """Point masks of the sub-windows of the window-sensitivity range (see INTERVAL_KINDS)."""
    N, t = X[:, 0], X[:, 1]
    tu, Nu = np.unique(t), np.unique(N)
    k_t = max(1, len(tu) // 3)
    masks = [t >= tu[k_t], t <= tu[-1 - k_t], N > Nu[0], N < Nu[-1]]
    return [m for m in masks if m.sum() >= MIN_SURFACE_POINTS and len(np.unique(N[m])) >= 3
            and len(np.unique(t[m])) >= 3]


def _fit_surface(N, t, loss, s: AnalysisSettings, seed_axis: int | None) -> dict[str, Any]:
    from .fit import ScalingSurface, grid_points

    out: dict[str, Any] = {k: np.nan for k in FIT_FIELDS[:12]}
    out["surface_flag"] = 0.0
    X, y = grid_points([N, t], loss, seed_axis=seed_axis)
    good = np.all(np.isfinite(y) & (y > 0), axis=1) if y.ndim == 2 else np.isfinite(y) & (y > 0)
    if good.sum() < MIN_SURFACE_POINTS:
        out["why"] = f"{int(good.sum())} finite positive (N, t) points; the surface needs >= {MIN_SURFACE_POINTS}"
        return out
    for j, v in enumerate(("N", "t")):
        k = len(np.unique(X[good, j]))
        if k < 3:
            out["why"] = (f"{k} distinct {v} value(s) left; a_{v} {v}^-r_{v} beside L0 needs >= 3 to be identified")
            out["surface_flag"] = 1.0
            return out
    Xg, yg = X[good], y[good]
    model = ScalingSurface(variables=("N", "t"), delta=s.delta, n_bootstrap=s.n_bootstrap_fit if y.ndim == 2 else 0,
                           n_starts_bootstrap=1, confidence=s.confidence, random_state=s.random_state).fit(Xg, yg)
    problems = _surface_problems(model, Xg, yg if yg.ndim == 1 else yg.mean(axis=1))
    if problems:
        out["why"] = "fit outside the physical ranges, not reported: " + "; ".join(problems)
        out["surface_flag"] = 1.0
        return out
    out.update(L0=model.L0_, a_t=model.coefficients_["t"], r_t=model.exponents_["t"], a_N=model.coefficients_["N"],
               r_N=model.exponents_["N"], fit_loss=model.loss_)
    if not s.n_bootstrap_fit:
        out["interval"] = "none"
    elif y.ndim == 2:  # a random quantity per seed: confidence intervals by resampling seeds
        out.update(L0_lo=model.L0_ci_[0], L0_hi=model.L0_ci_[1],
                   r_t_lo=model.exponents_ci_["t"][0], r_t_hi=model.exponents_ci_["t"][1],
                   r_N_lo=model.exponents_ci_["N"][0], r_N_hi=model.exponents_ci_["N"][1])
        out["interval"] = "seed-bootstrap"
    else:  # deterministic curves: resampling points measures misfit, not uncertainty; report the window range
        vals = {"L0": [model.L0_], "r_t": [model.exponents_["t"]], "r_N": [model.exponents_["N"]]}
        for m in _surface_windows(Xg):
            sub = ScalingSurface(variables=("N", "t"), delta=s.delta, n_starts=2,
                                 random_state=s.random_state).fit(Xg[m], yg[m])
            vals["L0"].append(sub.L0_)
            vals["r_t"].append(sub.exponents_["t"])
            vals["r_N"].append(sub.exponents_["N"])
        for k, v in vals.items():
            out[f"{k}_lo"], out[f"{k}_hi"] = float(np.min(v)), float(np.max(v))
        out["interval"] = "window-range"
    return out


def _frontier(N, t, loss, batch: float, s: AnalysisSettings) -> dict[str, Any]:
    from .frontier import ComputeFrontier

    out: dict[str, Any] = {k: np.nan for k in ("xi", "xi_lo", "xi_hi", "eta", "eta_lo", "eta_hi", "C_lo", "C_hi",
                                                "edge_hit")}
    out["frontier_flag"] = 0.0
    if N.size < 3:
        out["why"] = f"{N.size} N value(s); the compute frontier needs >= 3"
        return out
    seeds = loss.ndim == 3 and loss.shape[1] >= 2
    try:
        fr = ComputeFrontier(n_compute=s.n_compute, n_bootstrap=s.n_bootstrap_frontier, confidence=s.confidence,
                             random_state=s.random_state,
                             interval="bootstrap" if seeds else "window").fit(N, t, loss, batch_size=batch)
    except ValueError as err:  # too few N reach a common compute window
        out["why"] = str(err)
        return out
    bad = [f"{name} = {v:.4g} outside [{lo:g}, {hi:g}]" for name, v, (lo, hi) in
           (("xi", fr.xi_, XI_RANGE), ("eta", fr.eta_, ETA_RANGE)) if not lo <= v <= hi]
    if bad:
        out["why"] = "frontier exponents outside the physical ranges, not reported: " + "; ".join(bad)
        out["frontier_flag"] = 1.0
        return out
    out.update(xi=fr.xi_, xi_lo=fr.xi_ci_[0], xi_hi=fr.xi_ci_[1], eta=fr.eta_, eta_lo=fr.eta_ci_[0],
               eta_hi=fr.eta_ci_[1], C_lo=fr.window_[0], C_hi=fr.window_[1], edge_hit=float(fr.edge_hit_))
    out["interval"] = {"seed-bootstrap": "seed-bootstrap", "window-range": "window-range"}.get(fr.interval_method_,
                                                                                               "none")
    out["curve"] = {"C": fr.C_.tolist(), "N_star": fr.N_star_.tolist(), "L_star": fr.L_star_.tolist(),
                    "in_window": fr.in_window_.astype(float).tolist(), "edge": fr.edge_.astype(float).tolist()}
    return out


def excluded_note(n_excluded: float, n_values: float) -> str:
    """``"k of n values flagged or non-finite, excluded"``."""
    return f"{int(n_excluded)} of {int(n_values)} (N, t) values flagged or non-finite, excluded"


def analyze_cell(N: np.ndarray, t: np.ndarray, *, theory: np.ndarray | None = None, sim: np.ndarray | None = None,
                 theory_flag: np.ndarray | None = None, batch: float = 1.0,
                 settings: AnalysisSettings = AnalysisSettings(), sim_se: np.ndarray | None = None,
                 sim_se_dof: float | None = None) -> dict[str, Any]:
    """Fits, frontiers and residuals of one cell: the one computation every table and figure shows.

    Values at ``t < settings.t_min`` are not used; values flagged by the theory tier
    (``theory_flag``) or non-finite are excluded (from fits, frontiers and residuals) and counted
    (``n_values``, ``n_excluded``). Intervals: a bootstrap over seeds where the data carry a
    seed axis (simulation, paired theory); for a deterministic theory curve, the range of the
    estimate over a stated set of fit windows (:data:`INTERVAL_KINDS`), which is not a
    confidence interval.

    Parameters
    ----------
    N : ndarray, shape (n_N,)
    t : ndarray, shape (n_t,)
    theory : ndarray, shape (n_N, n_t) or (n_N, n_seed, n_t) (paired: one value per seed's draw), optional
    sim : ndarray, shape (n_N, n_seed, n_t), optional
    theory_flag : ndarray of bool, shape like ``theory`` or (n_N, n_t), optional
    batch : float
        B in C = N t B.
    sim_se, sim_se_dof : ndarray, shape like ``sim``, and float, optional
        Each seed's standard error over its replica runs (PLRF ``replicas``) and its dof: the
        paired residuals use it (:func:`~scalinglab.analysis.residuals.residual_map`).

    Returns
    -------
    dict
        ``{"theory": {field: value}, "simulation": {...}, "residuals": {...}}`` for what exists;
        ``"why": {method: {"surface": reason, "frontier": reason, "excluded": note}}`` for what
        could not be measured or was left out (its fields are NaN); ``"interval": {method:
        {"surface": kind, "frontier": kind}}``; ``"curve": {method: frontier arrays}`` (the
        frontier figure's data); ``"resid_kind"`` (key of ``residuals.SE_KINDS``).
    """
    from .frontier import frontier_exponents
    from .residuals import residual_map

    N, t = np.asarray(N, float), np.asarray(t, float)
    n_ok, t_ok = _usable(N, t, settings.t_min)
    out: dict[str, Any] = {}
    flag = None if theory_flag is None else np.asarray(theory_flag).astype(bool)
    for method, data in (("theory", theory), ("simulation", sim)):
        if data is None:
            continue
        d = np.array(data, dtype=float)
        seed_axis = 1 if d.ndim == 3 else None
        bad = ~np.isfinite(d) | ~(np.nan_to_num(d, nan=1.0) > 0)
        if method == "theory" and flag is not None:
            bad |= np.broadcast_to(flag if flag.ndim == d.ndim else (flag[:, None, :] if d.ndim == 3 else
                                                                      flag.any(axis=1)), d.shape)
        point_bad = bad.any(axis=1) if d.ndim == 3 else bad  # an (N, t) point is out if any seed's value is
        d = np.where(point_bad[:, None, :] if d.ndim == 3 else point_bad, np.nan, d)
        d = d[n_ok][..., t_ok]
        n_values = int(n_ok.sum() * t_ok.sum())
        n_excluded = int(point_bad[n_ok][:, t_ok].sum())
        why: dict[str, str] = {}
        if n_excluded:
            why["excluded"] = excluded_note(n_excluded, n_values)
        if not np.isfinite(d).any():
            why.update(surface="no usable values", frontier="no usable values")
            out.setdefault("why", {})[method] = why
            out[method] = {k: float("nan") for k in FIT_FIELDS} | {"n_values": float(n_values),
                                                                   "n_excluded": float(n_excluded)}
            continue
        res = _fit_surface(N[n_ok], t[t_ok], d, settings, seed_axis)
        if "why" in res:
            why["surface"] = res.pop("why")
        fr = _frontier(N[n_ok], t[t_ok], d, batch, settings)
        if "why" in fr:
            why["frontier"] = fr.pop("why")
        intervals = {"surface": res.pop("interval", "none"), "frontier": fr.pop("interval", "none")}
        curve = fr.pop("curve", None)
        res.update(fr)
        if why:
            out.setdefault("why", {})[method] = why
        out.setdefault("interval", {})[method] = intervals
        if curve is not None:
            out.setdefault("curve", {})[method] = curve
        if np.isfinite(res["r_t"]) and np.isfinite(res["r_N"]) and res["r_t"] > 0 and res["r_N"] > 0:
            res["xi3"], res["eta3"] = frontier_exponents(res["r_t"], res["r_N"])
        else:
            res["xi3"] = res["eta3"] = np.nan
        res.update(n_values=n_values, n_excluded=n_excluded)
        out[method] = {k: float(res[k]) for k in FIT_FIELDS}
    if theory is not None and sim is not None:
        th, sm = np.asarray(theory, float), np.asarray(sim, float)
        paired = th.ndim == 3 and th.shape[1] == sm.shape[1]  # one theory per seed's own draws
        rm = residual_map(th, sm, t=t, t_min=settings.t_min, theory_flag=flag, paired=paired, sim_se=sim_se,
                          sim_se_dof=sim_se_dof)
        out["residuals"] = rm.summary()
        out["resid_kind"] = rm.kind
    return out


DATA_FIELDS = ("L0", "a_t", "r_t", "a_N", "r_N", "a_P", "r_P", "r_P_lo", "r_P_hi", "fit_loss", "data_flag")


def analyze_data_surface(N: np.ndarray, P: np.ndarray, t: np.ndarray, loss: np.ndarray, *,
                         seed_axis: int | None = None,
                         settings: AnalysisSettings = AnalysisSettings()) -> dict[str, float]:
    """Fit ``L(t, N, P) = L0 + a_t t^-r_t + a_N N^-r_N + a_P P^-r_P`` over the finite P of one
    (alpha, beta) cell (the data term, where P varies).

    Parameters
    ----------
    N : ndarray, shape (n_N,)
    P : ndarray, shape (n_P,)
        Finite sample counts only.
    t : ndarray, shape (n_t,)
    loss : ndarray, shape (n_N, n_P, n_t), or (n_N, n_P, n_seed, n_t) with ``seed_axis=2``
    """
    from .fit import ScalingSurface, grid_points

    N, P, t = np.asarray(N, float), np.asarray(P, float), np.asarray(t, float)
    n_ok, t_ok = _usable(N, t, settings.t_min)
    out = {k: np.nan for k in DATA_FIELDS}
    d = np.asarray(loss, float)[n_ok][..., t_ok]
    if P.size < 3 or n_ok.sum() < 2:
        return out
    X, y = grid_points([N[n_ok], P, t[t_ok]], d, seed_axis=seed_axis)
    good = np.all(np.isfinite(y) & (y > 0), axis=1) if y.ndim == 2 else np.isfinite(y) & (y > 0)
    if good.sum() < 8:
        return out
    model = ScalingSurface(variables=("N", "P", "t"), delta=settings.delta, n_bootstrap=settings.n_bootstrap_fit,
                           n_starts_bootstrap=1, confidence=settings.confidence,
                           random_state=settings.random_state).fit(X[good], y[good])
    lo, hi = EXPONENT_RANGE
    ymax = float(np.max(y[good]))
    terms = [model.coefficients_[v] * float(X[good][:, j].min()) ** (-model.exponents_[v])
             for j, v in enumerate(("N", "P", "t"))]
    if (not all(lo <= model.exponents_[v] <= hi for v in ("N", "P", "t")) or model.L0_ > ymax
            or not all(np.isfinite(x) and x <= AMPLITUDE_FACTOR * ymax for x in terms)):
        out["data_flag"] = 1.0  # outside the stated physical ranges: not a result
        return {k: float(v) for k, v in out.items()}
    out["data_flag"] = 0.0
    out.update(L0=model.L0_, fit_loss=model.loss_, **{f"a_{v}": model.coefficients_[v] for v in ("t", "N", "P")},
               **{f"r_{v}": model.exponents_[v] for v in ("t", "N", "P")})
    if settings.n_bootstrap_fit:
        out.update(r_P_lo=model.exponents_ci_["P"][0], r_P_hi=model.exponents_ci_["P"][1])
    return {k: float(v) for k, v in out.items()}
