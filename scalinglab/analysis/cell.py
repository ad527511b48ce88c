"""Everything a scaling-law paper reports about one (alpha, beta, P) cell, from its curves.

For each method present (theory curves ``(n_N, n_t)``, simulation curves ``(n_N, n_seed, n_t)``):

- the scaling surface ``L(t, N) = L0 + a_t t^(-r_t) + a_N N^(-r_N)`` (:class:`ScalingSurface`,
  Huber on log residuals, bootstrap intervals over points, or over seeds for simulations);
- the compute-optimal frontier by Chinchilla approach 1 (:class:`ComputeFrontier`,
  ``C = N t B``): ``xi`` (N* ∝ C^xi) and ``eta`` (L* ∝ C^-eta) with intervals and the window;
- approach 3 from the fitted surface: ``xi3 = r_t/(r_t+r_N)``, ``eta3 = r_t r_N/(r_t+r_N)``;

and, where both exist, theory-vs-simulation residuals (max relative difference and max
deviation in seed standard errors).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

# fit/frontier/residuals pull scipy: imported inside the functions that fit, so that the grid's
# prerequisites and the settings cost nothing to import (`scalinglab plan`)

__all__ = ["AnalysisSettings", "analyze_cell", "analyze_data_surface", "prerequisites", "FIT_FIELDS", "RESIDUAL_FIELDS",
           "DATA_FIELDS", "MIN_SURFACE_POINTS"]

#: a surface L0 + a_t t^-r_t + a_N N^-r_N has 5 parameters: it needs at least this many (N, t) points
MIN_SURFACE_POINTS = 6

#: per-method result fields (NaN when not computable)
FIT_FIELDS = (
    "L0", "L0_lo", "L0_hi", "a_t", "r_t", "r_t_lo", "r_t_hi", "a_N", "r_N", "r_N_lo", "r_N_hi", "fit_loss",
    "xi", "xi_lo", "xi_hi", "eta", "eta_lo", "eta_hi", "C_lo", "C_hi", "edge_hit", "xi3", "eta3",
)
RESIDUAL_FIELDS = ("resid_max_rel", "resid_max_z")


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


def _fit_surface(N, t, loss, s: AnalysisSettings, seed_axis: int | None) -> dict[str, float]:
    from .fit import ScalingSurface, grid_points

    out = {k: np.nan for k in FIT_FIELDS[:12]}
    X, y = grid_points([N, t], loss, seed_axis=seed_axis)
    good = np.all(np.isfinite(y) & (y > 0), axis=1) if y.ndim == 2 else np.isfinite(y) & (y > 0)
    if good.sum() < MIN_SURFACE_POINTS:
        out["why"] = f"{int(good.sum())} finite positive (N, t) points; the surface needs >= {MIN_SURFACE_POINTS}"
        return out
    model = ScalingSurface(variables=("N", "t"), delta=s.delta, n_bootstrap=s.n_bootstrap_fit, n_starts_bootstrap=1,
                           confidence=s.confidence, random_state=s.random_state).fit(X[good], y[good])
    out.update(L0=model.L0_, a_t=model.coefficients_["t"], r_t=model.exponents_["t"], a_N=model.coefficients_["N"],
               r_N=model.exponents_["N"], fit_loss=model.loss_)
    if s.n_bootstrap_fit:
        out.update(L0_lo=model.L0_ci_[0], L0_hi=model.L0_ci_[1],
                   r_t_lo=model.exponents_ci_["t"][0], r_t_hi=model.exponents_ci_["t"][1],
                   r_N_lo=model.exponents_ci_["N"][0], r_N_hi=model.exponents_ci_["N"][1])
    return out


def _frontier(N, t, loss, batch: float, s: AnalysisSettings) -> dict[str, float]:
    from .frontier import ComputeFrontier

    out: dict[str, Any] = {k: np.nan for k in ("xi", "xi_lo", "xi_hi", "eta", "eta_lo", "eta_hi", "C_lo", "C_hi",
                                                "edge_hit")}
    if N.size < 3:
        out["why"] = f"{N.size} N value(s); the compute frontier needs >= 3"
        return out
    try:
        fr = ComputeFrontier(n_compute=s.n_compute, n_bootstrap=s.n_bootstrap_frontier, confidence=s.confidence,
                             random_state=s.random_state).fit(N, t, loss, batch_size=batch)
    except ValueError as err:  # too few N reach a common compute window
        out["why"] = str(err)
        return out
    out.update(xi=fr.xi_, xi_lo=fr.xi_ci_[0], xi_hi=fr.xi_ci_[1], eta=fr.eta_, eta_lo=fr.eta_ci_[0],
               eta_hi=fr.eta_ci_[1], C_lo=fr.window_[0], C_hi=fr.window_[1], edge_hit=float(fr.edge_hit_))
    return out


def analyze_cell(N: np.ndarray, t: np.ndarray, *, theory: np.ndarray | None = None, sim: np.ndarray | None = None,
                 batch: float = 1.0, settings: AnalysisSettings = AnalysisSettings()) -> dict[str, dict[str, float]]:
    """Fits, frontiers and residuals of one cell.

    Parameters
    ----------
    N : ndarray, shape (n_N,)
    t : ndarray, shape (n_t,)
    theory : ndarray, shape (n_N, n_t), optional
    sim : ndarray, shape (n_N, n_seed, n_t), optional
    batch : float
        B in C = N t B.

    Returns
    -------
    dict
        ``{"theory": {field: value}, "simulation": {...}, "residuals": {...}}`` for what exists,
        and ``"why": {method: {"surface": reason, "frontier": reason}}`` for what could not be
        measured (its fields are NaN).
    """
    from .frontier import frontier_exponents
    from .residuals import max_relative_difference, max_standardized_deviation

    N, t = np.asarray(N, float), np.asarray(t, float)
    n_ok, t_ok = _usable(N, t, settings.t_min)
    out: dict[str, dict[str, float]] = {}
    for method, data, seed_axis in (("theory", theory, None), ("simulation", sim, 1)):
        if data is None:
            continue
        d = np.asarray(data, float)[n_ok][..., t_ok]
        if not np.isfinite(d).any():
            out.setdefault("why", {})[method] = {"surface": "no finite values", "frontier": "no finite values"}
            continue
        res = _fit_surface(N[n_ok], t[t_ok], d, settings, seed_axis)
        why = {"surface": res.pop("why")} if "why" in res else {}
        fr = _frontier(N[n_ok], t[t_ok], d, batch, settings)
        if "why" in fr:
            why["frontier"] = fr.pop("why")
        res.update(fr)
        if why:
            out.setdefault("why", {})[method] = why  # type: ignore[assignment]
        if np.isfinite(res["r_t"]) and np.isfinite(res["r_N"]) and res["r_t"] > 0 and res["r_N"] > 0:
            res["xi3"], res["eta3"] = frontier_exponents(res["r_t"], res["r_N"])
        else:
            res["xi3"] = res["eta3"] = np.nan
        out[method] = {k: float(res[k]) for k in FIT_FIELDS}
    if theory is not None and sim is not None:
        th, sm = np.asarray(theory, float)[:, t > 0], np.asarray(sim, float)[..., t > 0]
        out["residuals"] = {"resid_max_rel": max_relative_difference(th, sm),
                            "resid_max_z": max_standardized_deviation(th, sm)}
    return out


DATA_FIELDS = ("L0", "a_t", "r_t", "a_N", "r_N", "a_P", "r_P", "r_P_lo", "r_P_hi", "fit_loss")


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
    out.update(L0=model.L0_, fit_loss=model.loss_, **{f"a_{v}": model.coefficients_[v] for v in ("t", "N", "P")},
               **{f"r_{v}": model.exponents_[v] for v in ("t", "N", "P")})
    if settings.n_bootstrap_fit:
        out.update(r_P_lo=model.exponents_ci_["P"][0], r_P_hi=model.exponents_ci_["P"][1])
    return {k: float(v) for k, v in out.items()}
