"""Figures for one cell or one sweep: loss curves, compute frontier, fitted surface, residuals, phase map.

Every function takes plain numpy arrays (project symbols, CONVENTIONS.md), builds a
``matplotlib.figure.Figure`` without touching pyplot's global state (the Agg canvas renders
it), saves it as PNG when ``path`` is given, and returns it. matplotlib is imported inside the
functions so that ``import scalinglab`` never needs it (STYLE.md §9).
"""
from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from scalinglab.errors import SpecError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from scalinglab.analysis.fit import ScalingSurface
    from scalinglab.analysis.frontier import ComputeFrontier

__all__ = ["frontier_record", "plot_curves", "plot_frontier", "plot_surface", "plot_residuals", "plot_phase_map", "cell_title", "default_cell",
           "QUANTITY_LABELS"]

#: colour-coded N values up to this many get a discrete legend; more get a colorbar ticked at grid values
MAX_LEGEND_N = 8

#: what each measured exponent is, for colorbars and titles (approach 1: the minimum over N at
#: fixed compute; approach 3: from the fitted surface's exponents)
QUANTITY_LABELS = {
    "xi": "ξ  (N* ∝ C^ξ, approach 1)",
    "eta": "η  (L* ∝ C^(−η), approach 1)",
    "xi3": "ξ₃  (r_t/(r_t+r_N), approach 3)",
    "eta3": "η₃  (r_t r_N/(r_t+r_N), approach 3)",
    "ξ": "ξ  (N* ∝ C^ξ)",
    "η": "η  (L* ∝ C^(−η))",
}


def _new_figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (6.4, 4.6), **kw: Any):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)  # the Agg canvas, without pyplot or a global backend switch
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _save(fig: "Figure", path: str | None, metadata: dict[str, str] | None = None) -> "Figure":
    fig.scalinglab_data = dict(metadata or {})  # the numbers drawn, for readers of the Figure object
    if path is not None:
        fig.savefig(path, dpi=110, metadata=metadata)
    return fig


def _fmt(v: float | None) -> str:
    if v is None:
        return "?"
    if isinstance(v, (int, float, np.floating)) and math.isinf(v):
        return "∞"
    return f"{v:g}"


def default_cell(n_alpha: int, n_beta: int, n_P: int = 1) -> tuple[int, int, int]:
    """The (ia, ib, iP) cell drawn when none is chosen: the middle of the (alpha, beta) grid,
    first P (``scalinglab plot`` and ``scalinglab analyze`` draw the same one)."""
    return n_alpha // 2, n_beta // 2, 0


def cell_title(alpha: float | None, beta: float | None, P: float | None, model: str | None) -> str:
    """``"plrf: α = 1, β = 0.6, P = ∞"``: the model as the spec names it, then the cell."""
    head = f"{model}: " if model else ""
    parts = []
    if alpha is not None or beta is not None:
        parts.append(f"α = {_fmt(alpha)}, β = {_fmt(beta)}")
    if P is not None:
        parts.append(f"P = {_fmt(P)}")
    return head + ", ".join(parts)


def _n_colors(N: np.ndarray):
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm, Normalize

    N = np.asarray(N, dtype=float)
    finite = N[np.isfinite(N)]
    if finite.size and finite.min() > 0 and finite.max() > finite.min():
        norm = LogNorm(finite.min(), finite.max())
    else:
        norm = Normalize(0, max(len(N) - 1, 1))
    cmap = colormaps["viridis"]

    def color(i: int):
        v = N[i]
        if isinstance(norm, LogNorm) and np.isfinite(v):
            return cmap(0.9 * norm(v))
        if not np.isfinite(v):
            return "black"
        return cmap(0.9 * norm(i))

    return color, norm, cmap


def _n_key(fig, ax, N: np.ndarray, color, norm, cmap, *, legend_ax=None, loc: str = "upper right") -> None:
    """Which colour is which N: a discrete legend of the grid's N values (a few of them), or a
    colorbar ticked at the grid's N values (many)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.lines import Line2D

    N = np.asarray(N, dtype=float)
    if len(N) <= MAX_LEGEND_N:
        target = legend_ax if legend_ax is not None else (ax[0] if isinstance(ax, list) else ax)
        from matplotlib.legend import Legend

        handles = [Line2D([], [], color=color(i), lw=2.0) for i in range(len(N))]
        labels = [f"N = {_fmt(float(n))}" for n in N]
        # a second legend beside the axes' own one (ax.legend would replace it)
        target.add_artist(Legend(target, handles, labels, loc=loc, fontsize=8, framealpha=0.85,
                                 title="N (parameters)", title_fontsize=8))
        return
    sub = LinearSegmentedColormap.from_list("sub", cmap(np.linspace(0, 0.9, 256)))
    sm = ScalarMappable(norm=norm, cmap=sub)
    cb = fig.colorbar(sm, ax=ax, label="N (trained parameters)", pad=0.01)
    finite = N[np.isfinite(N)]
    step = max(1, int(math.ceil(len(finite) / MAX_LEGEND_N)))
    ticks = finite[::step]
    cb.set_ticks(ticks)
    cb.set_ticklabels([_fmt(float(x)) for x in ticks])
    cb.minorticks_off()


def plot_curves(
    t: np.ndarray,
    N: np.ndarray,
    sim: np.ndarray | None = None,
    theory: np.ndarray | None = None,
    *,
    alpha: float | None = None,
    beta: float | None = None,
    P: float | None = None,
    model: str | None = None,
    n_se: float = 2.0,
    tier: str | None = None,
    method: str | None = None,
    path: str | None = None,
    replicas: int = 1,
) -> "Figure":
    """Loss against t, one colour per N (log–log): simulation mean ± ``n_se`` SE, theory dashed.

    Parameters
    ----------
    t : ndarray, shape (n_t,)
        Checkpoints (t = 0 is dropped from the log axis).
    N : ndarray, shape (n_N,)
    sim : ndarray, shape (n_N, n_seed, n_t), optional
        Simulated losses. The line is the geometric mean over seeds and the band
        ``exp(mean log L ± n_se · SE(log L))`` (none for one seed): drawn in log space, so it never
        crosses zero on the log axis.
    theory : ndarray, shape (n_N, n_t), optional
    alpha, beta, P, model : optional
        Shown in the title.
    tier, method : str, optional
        The theory tier and simulation method, named in the legend.
    path : str, optional
        Save a PNG there.
    replicas : int
        SGD runs averaged into each seed's value (named in the legend when > 1).
    """
    t = np.asarray(t, dtype=float)
    N = np.asarray(N, dtype=float)
    if sim is None and theory is None:
        raise SpecError("plot_curves", "sim/theory", None, "at least one of sim, theory")
    if sim is not None:
        sim = np.asarray(sim, dtype=float)
        if sim.shape[0] != len(N) or sim.shape[-1] != len(t) or sim.ndim != 3:
            raise SpecError("plot_curves", "sim.shape", sim.shape, f"({len(N)}, n_seed, {len(t)})")
    if theory is not None:
        theory = np.asarray(theory, dtype=float)
        if theory.shape != (len(N), len(t)):
            raise SpecError("plot_curves", "theory.shape", theory.shape, f"({len(N)}, {len(t)})")
    from matplotlib.lines import Line2D

    fig, axes = _new_figure(size=(7.0, 4.8))
    ax = axes[0, 0]
    color, norm, cmap = _n_colors(N)
    keep = t > 0
    for i in range(len(N)):
        c = color(i)
        if sim is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                logs = np.log(np.where(sim[i] > 0, sim[i], np.nan))
            m = np.exp(np.nanmean(logs, axis=0))
            ax.plot(t[keep], m[keep], color=c, lw=1.6)
            if sim.shape[1] >= 2:  # the band in log space: exp(mean log L ± n_se SE(log L)), never below 0
                se = np.nanstd(logs, axis=0, ddof=1) / np.sqrt(sim.shape[1])
                ax.fill_between(t[keep], (m * np.exp(-n_se * se))[keep], (m * np.exp(n_se * se))[keep], color=c,
                                alpha=0.25, lw=0)
        if theory is not None:
            ax.plot(t[keep], theory[i][keep], color="black" if sim is not None else c,
                    ls="--", lw=1.0 if sim is not None else 1.6, alpha=0.85)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("t (optimizer steps)")
    ax.set_ylabel("test loss L")
    handles = []
    if sim is not None:
        k = sim.shape[1]
        name = f"simulation{f' ({method})' if method else ''}"
        runs = f" × {replicas} runs each" if replicas > 1 else ""
        lab = f"{name}: geometric mean ± {n_se:g} SE of log L, {k} seeds{runs}" if k >= 2 else f"{name}, 1 seed{runs}"
        handles.append(Line2D([], [], color="gray", lw=1.6, label=lab))
    if theory is not None:
        handles.append(Line2D([], [], color="black" if sim is not None else "gray", ls="--",
                              label=f"theory ({tier} tier)" if tier else "theory"))
    ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.8)
    ax.set_title(cell_title(alpha, beta, P, model), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    _n_key(fig, ax, N, color, norm, cmap)
    return _save(fig, path)


def plot_frontier(
    N: np.ndarray,
    t: np.ndarray,
    loss: np.ndarray,
    batch_size: float = 1.0,
    *,
    frontier: "ComputeFrontier | None" = None,
    title: str | None = None,
    path: str | None = None,
) -> "Figure":
    """Compute frontier (Chinchilla Approach 1): L against C = N t B for every N, the minimum
    over N bold, and the fitted ``L* ∝ C^(-eta)`` / ``N* ∝ C^xi``.

    Parameters
    ----------
    N : ndarray, shape (n_N,)
    t : ndarray, shape (n_t,)
    loss : ndarray, shape (n_N, n_t) or (n_N, n_seed, n_t)
    batch_size : float
        B in ``C = N t B``.
    frontier : mapping or ComputeFrontier, optional
        The stored computation to draw (``frontier_record``: the analysis group's numbers and
        frontier arrays for the cell); by default the analysis's own computation
        (:func:`scalinglab.analysis.cell.analyze_cell`, default settings), never a refit with
        other defaults. The numbers drawn are written into the PNG's ``Description`` (JSON).
    title : str, optional
    path : str, optional
    """
    N = np.asarray(N, dtype=float)
    t = np.asarray(t, dtype=float)
    loss = np.asarray(loss, dtype=float)
    with np.errstate(invalid="ignore"):
        mean = loss if loss.ndim == 2 else loss.mean(axis=1)
    if frontier is None:
        import dataclasses

        from scalinglab.analysis.cell import AnalysisSettings, analyze_cell

        settings = dataclasses.replace(AnalysisSettings(), n_bootstrap_fit=0)
        res = analyze_cell(N, t, **({"sim": loss} if loss.ndim == 3 else {"theory": loss}), batch=batch_size,
                           settings=settings)
        method = "simulation" if loss.ndim == 3 else "theory"
        frontier = frontier_record(res, method, settings.confidence)
    if isinstance(frontier, str):  # not measurable here: the curves, and why
        return _unmeasured_frontier(N, t, mean, batch_size, frontier, title, path)
    f = _frontier_view(frontier)
    fig, axes = _new_figure(ncols=2, size=(11.5, 4.6))
    fig.get_layout_engine().set(wspace=0.08)
    ax, bx = axes[0, 0], axes[0, 1]
    color, norm, cmap = _n_colors(N)
    keep = t > 0
    for i in range(len(N)):
        ax.plot(N[i] * t[keep] * batch_size, mean[i][keep], color=color(i), lw=1.0, alpha=0.45)
    inw = f.in_window_
    out = np.isfinite(f.N_star_) & ~inw
    ax.plot(f.C_[inw], f.L_star_[inw], "o", color="crimson", ms=4.5, label="frontier L*(C) (fit window)")
    if out.any():
        ax.plot(f.C_[out], f.L_star_[out], "o", mfc="none", color="crimson", ms=4.5, alpha=0.7,
                label="frontier outside window")
    Cw = np.geomspace(f.window_[0], f.window_[1], 50)
    lc = np.log(f.C_[inw])
    icept = float(np.mean(np.log(f.L_star_[inw] - f.L0) + f.eta_ * lc))
    ax.plot(Cw, f.L0 + np.exp(icept - f.eta_ * np.log(Cw)), "-", color="black", lw=2.0,
            label=f"fit L* − L0 ∝ C^(−η), η = {f.eta_:.3f} [{f.eta_ci_[0]:.3f}, {f.eta_ci_[1]:.3f}]")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C = N·t·B")
    ax.set_ylabel("test loss L")
    ax.legend(loc="lower left", fontsize=8, framealpha=0.85)
    ax.grid(True, which="major", alpha=0.3)
    _n_key(fig, ax, N, color, norm, cmap)

    bx.plot(f.C_[inw], f.N_star_[inw], "o", color="crimson", ms=4.5, label="N*(C) (fit window)")
    if out.any():
        bx.plot(f.C_[out], f.N_star_[out], "o", mfc="none", color="crimson", ms=4.5, alpha=0.7, label="outside window")
    icept_n = float(np.mean(np.log(f.N_star_[inw]) - f.xi_ * lc))
    bx.plot(Cw, np.exp(icept_n + f.xi_ * np.log(Cw)), "-", color="black", lw=2.0,
            label=f"fit N* ∝ C^ξ, ξ = {f.xi_:.3f} [{f.xi_ci_[0]:.3f}, {f.xi_ci_[1]:.3f}]")
    for k, n in enumerate((N[0], N[-1])):
        bx.axhline(n, color="gray", ls=":", lw=1, label="grid edges N_min, N_max" if k == 0 else None)
    bx.set_xscale("log")
    bx.set_yscale("log")
    _grid_ticks(bx, N)
    bx.set_xlabel("compute C = N·t·B")
    bx.set_ylabel("compute-optimal N*")
    bx.legend(loc="upper left", fontsize=8, framealpha=0.85)
    bx.grid(True, which="major", alpha=0.3)
    conf = {"seed-bootstrap": f"[ ]: {int(round(100 * f.confidence))}% intervals, bootstrap over seeds",
            "window-range": "[ ]: window sensitivity (range over sub-windows), not a confidence interval",
            "regression": f"[ ]: {int(round(100 * f.confidence))}% regression intervals"}.get(f.interval_method_,
                                                                                              "no interval")
    note = f"window C ∈ [{f.window_[0]:.3g}, {f.window_[1]:.3g}]; {conf}"
    if f.edge_hit_:
        note += "; WARNING: N* at grid edge inside window"
    fig.suptitle((title + "\n" if title else "") + note, fontsize=10)
    meta = {"xi": f.xi_, "xi_lo": f.xi_ci_[0], "xi_hi": f.xi_ci_[1], "eta": f.eta_, "eta_lo": f.eta_ci_[0],
            "eta_hi": f.eta_ci_[1], "C_lo": f.window_[0], "C_hi": f.window_[1], "interval": f.interval_method_}
    return _save(fig, path, {"Description": json.dumps({k: (float(v) if k != "interval" else v)
                                                        for k, v in meta.items()})})


def frontier_record(result: dict, method: str, confidence: float = 0.9,
                    stored: dict | None = None) -> "dict | str":
    """What the frontier figure draws, from one computation: ``analyze_cell``'s result, or a
    cell of the analysis group (``stored``: :func:`storage.analysis.stored_cell`'s dict). A
    string (the reason) where the frontier was not measured."""
    if stored is not None:
        fields, curve, interval, why = stored["fields"], stored["curve"], stored["interval"], stored["why"]
    else:
        fields, curve = result.get(method, {}), result.get("curve", {}).get(method)
        interval, why = result.get("interval", {}).get(method, {}), result.get("why", {}).get(method, {})
    if curve is None or not np.isfinite(fields.get("xi", np.nan)):
        return why.get("frontier", "not measured")
    return {**{k: np.asarray(v, float) for k, v in curve.items()}, **{k: float(fields[k]) for k in
            ("xi", "xi_lo", "xi_hi", "eta", "eta_lo", "eta_hi", "C_lo", "C_hi", "edge_hit")},
            "interval": interval.get("frontier", "none"), "confidence": confidence}


def _frontier_view(fr: Any):
    """A ComputeFrontier, or a :func:`frontier_record` mapping, as the attributes the figure reads."""
    from types import SimpleNamespace

    if not isinstance(fr, dict):
        return fr
    C = np.asarray(fr["C"], float)
    keep = np.isfinite(C)
    return SimpleNamespace(C_=C[keep], N_star_=np.asarray(fr["N_star"], float)[keep],
                           L_star_=np.asarray(fr["L_star"], float)[keep],
                           in_window_=np.asarray(fr["in_window"], float)[keep] > 0.5, window_=(fr["C_lo"], fr["C_hi"]),
                           L0=0.0, xi_=fr["xi"], xi_ci_=(fr["xi_lo"], fr["xi_hi"]), eta_=fr["eta"],
                           eta_ci_=(fr["eta_lo"], fr["eta_hi"]), edge_hit_=bool(fr["edge_hit"]),
                           interval_method_=fr.get("interval", "none"), confidence=fr.get("confidence", 0.9))


def _grid_ticks(ax, N: np.ndarray) -> None:
    """Ticks of a log N axis at the grid's N values (at most MAX_LEGEND_N labels), not at 10^k."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    finite = np.asarray(N, dtype=float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if not finite.size:
        return
    step = max(1, int(math.ceil(len(finite) / MAX_LEGEND_N)))
    ticks = finite[::step]
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FixedFormatter([_fmt(float(x)) for x in ticks]))
    ax.yaxis.set_minor_locator(NullLocator())


def _unmeasured_frontier(N, t, mean, batch_size, why: str, title: str | None, path: str | None) -> "Figure":
    """The loss-vs-compute curves of a cell whose frontier cannot be measured, saying why."""
    import textwrap

    fig, axes = _new_figure(size=(7.0, 4.8))
    ax = axes[0, 0]
    color, norm, cmap = _n_colors(N)
    keep = t > 0
    for i in range(len(N)):
        ax.plot(N[i] * t[keep] * batch_size, mean[i][keep], color=color(i), lw=1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("compute C = N·t·B")
    ax.set_ylabel("test loss L")
    ax.grid(True, which="major", alpha=0.3)
    _n_key(fig, ax, N, color, norm, cmap)
    note = "\n".join(textwrap.wrap(f"compute frontier not measurable: {why}", 90))
    fig.suptitle((title + "\n" if title else "") + note, fontsize=9)
    return _save(fig, path)


def plot_surface(
    t: np.ndarray,
    N: np.ndarray,
    loss: np.ndarray,
    surface: "ScalingSurface",
    *,
    title: str | None = None,
    path: str | None = None,
) -> "Figure":
    """Fitted surface against data: points per N with the fitted curve ``L(t, N)``, and the
    log residuals ``log(L_data / L_fit)`` below.

    Parameters
    ----------
    t : ndarray, shape (n_t,)
    N : ndarray, shape (n_N,)
    loss : ndarray, shape (n_N, n_t) or (n_N, n_seed, n_t)
        Data (the seed mean is plotted).
    surface : ScalingSurface
        Fitted, with variables ``"t"`` and ``"N"`` (in any order, no others).
    """
    t = np.asarray(t, dtype=float)
    N = np.asarray(N, dtype=float)
    loss = np.asarray(loss, dtype=float)
    mean = loss if loss.ndim == 2 else loss.mean(axis=1)
    names = tuple(surface.variables)
    if set(names) != {"t", "N"}:
        raise SpecError("plot_surface", "surface.variables", names, "exactly ('t', 'N') in any order")
    if mean.shape != (len(N), len(t)):
        raise SpecError("plot_surface", "loss.shape", loss.shape, f"({len(N)}, {len(t)}) or ({len(N)}, n_seed, {len(t)})")

    def pred(tv: np.ndarray, n: float) -> np.ndarray:
        cols = {"t": tv, "N": np.full_like(tv, n)}
        return surface.predict(np.stack([cols[v] for v in names], axis=1))

    fig, axes = _new_figure(nrows=2, size=(7.0, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax, rx = axes[0, 0], axes[1, 0]
    color, norm, cmap = _n_colors(N)
    keep = t > 0
    tt = np.geomspace(t[keep].min(), t[keep].max(), 200)
    for i in range(len(N)):
        c = color(i)
        ax.plot(t[keep], mean[i][keep], "o", color=c, ms=3.5, alpha=0.8)
        ax.plot(tt, pred(tt, N[i]), "-", color=c, lw=1.3)
        rx.plot(t[keep], np.log(mean[i][keep] / pred(t[keep], N[i])), "o-", color=c, ms=2.5, lw=0.6)
    from matplotlib.lines import Line2D

    e, a = surface.exponents_, surface.coefficients_
    formula = (f"fit: L = {surface.L0_:.3g} + {a['t']:.3g}·t^(−{e['t']:.3f}) + {a['N']:.3g}·N^(−{e['N']:.3f})")
    ax.legend(handles=[Line2D([], [], ls="none", marker="o", color="gray", label="data (seed mean)"),
                       Line2D([], [], color="gray", label=formula)], loc="lower left", fontsize=8, framealpha=0.85)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("test loss L")
    ax.grid(True, which="major", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    rx.axhline(0, color="black", lw=0.8)
    rx.set_xlabel("t (optimizer steps)")
    rx.set_ylabel("log(L_data / L_fit)")
    rx.grid(True, alpha=0.3)
    _n_key(fig, [ax, rx], N, color, norm, cmap, legend_ax=ax)
    return _save(fig, path)


def _edges(v: np.ndarray, log: bool) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    if len(v) == 1:
        return np.array([v[0] / 1.5, v[0] * 1.5]) if log else np.array([v[0] - 0.5, v[0] + 0.5])
    x = np.log(v) if log else v
    mid = 0.5 * (x[1:] + x[:-1])
    e = np.concatenate([[x[0] - (mid[0] - x[0])], mid, [x[-1] + (x[-1] - mid[-1])]])
    return np.exp(e) if log else e


def plot_residuals(
    t: np.ndarray,
    N: np.ndarray,
    theory: np.ndarray,
    sim: np.ndarray,
    *,
    t_min: float = 0.0,
    theory_flag: np.ndarray | None = None,
    title: str | None = None,
    path: str | None = None,
    sim_se: np.ndarray | None = None,
    sim_se_dof: float | None = None,
) -> "Figure":
    """Map of the standardised residual z over (t, N), and beside it the distribution of z
    against the Student-t (and normal) it follows when the theory is the simulation's mean.

    z is :func:`scalinglab.analysis.residuals.residual_map`'s: the paired difference where the
    theory carries the seed axis, else with the theory's own spread where it has one, else the
    seed SE alone; the figure says which. Checkpoints below ``t_min`` and flagged or non-finite
    values are grey (not compared).

    Parameters
    ----------
    t : ndarray, shape (n_t,)
    N : ndarray, shape (n_N,)
    theory : ndarray, shape (n_N, n_t) or (n_N, n_seed, n_t)
    sim : ndarray, shape (n_N, n_seed, n_t)
    t_min : float
        The fits' window: only ``t >= t_min`` is compared.
    theory_flag : ndarray of bool, optional
        Values flagged by the theory tier.
    sim_se, sim_se_dof : ndarray, shape like ``sim``, and float, optional
        Each seed's standard error over its replica runs and its dof (PLRF ``replicas``).
    """
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.ticker import NullLocator
    from scipy import stats

    from scalinglab.analysis.residuals import SE_KINDS, residual_map

    t = np.asarray(t, dtype=float)
    N = np.asarray(N, dtype=float)
    th = np.asarray(theory, float)
    paired = th.ndim == 3 and th.shape[1] == np.asarray(sim).shape[1]
    rm = residual_map(th, sim, t=t, t_min=t_min, theory_flag=theory_flag, paired=paired, sim_se=sim_se,
                      sim_se_dof=sim_se_dof)
    keep = t > 0
    z = rm.z[:, keep]
    tk = t[keep]
    fig, axes = _new_figure(ncols=2, size=(11.0, 4.6), gridspec_kw={"width_ratios": [3, 2]})
    ax, hx = axes[0, 0], axes[0, 1]
    zf = z[np.isfinite(z)]
    lim = max(3.5, min(float(np.max(np.abs(zf))) if zf.size else 3.5, 8.0))
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-lim, vmax=lim)
    logN = bool(np.all(N > 0) and np.all(np.isfinite(N)) and len(N) > 1 and N[-1] / N[0] > 4)
    Ny = N if np.all(np.isfinite(N)) else np.arange(len(N), dtype=float)
    ax.set_facecolor("0.85")  # not compared: t < t_min, flagged or non-finite
    mesh = ax.pcolormesh(_edges(tk, True), _edges(Ny, logN), np.ma.masked_invalid(np.clip(z, -lim, lim)),
                         cmap="RdBu_r", norm=norm, shading="flat")
    ax.set_xscale("log")
    if logN:
        ax.set_yscale("log")
    # one band per grid N: tick each band at its N (at most MAX_LEGEND_N labels)
    step = max(1, int(math.ceil(len(N) / MAX_LEGEND_N)))
    ax.set_yticks(Ny[::step], [_fmt(float(n)) for n in N[::step]])
    ax.yaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("t (optimizer steps)" + (f"; grey: t < t_min = {t_min:g}, flagged or non-finite" if t_min else ""))
    ax.set_ylabel("N (trained parameters)")
    fig.colorbar(mesh, ax=ax, label=f"z = (theory − sim) / SE  (clipped at ±{lim:.3g})")
    summ = rm.summary()
    if zf.size:
        bins = np.linspace(-lim, lim, 25)
        hx.hist(np.clip(zf, -lim, lim), bins=bins, density=True, color="tab:blue", alpha=0.55,
                label=f"z of this cell ({zf.size} values)")
        x = np.linspace(-lim, lim, 300)
        if np.isfinite(rm.dof):
            hx.plot(x, stats.t.pdf(x, rm.dof), color="black", lw=1.5, label=f"Student-t, {rm.dof:g} dof")
        hx.plot(x, stats.norm.pdf(x), color="gray", ls="--", lw=1.0, label="normal")
        for c in (-3, 3):
            hx.axvline(c, color="crimson", ls=":", lw=1)
        hx.legend(loc="upper left", fontsize=8, framealpha=0.85)
        hx.set_title(f"|z| > 3: {summ['resid_frac_z3']:.1%} observed, {summ['resid_frac_z3_expected']:.1%} expected",
                     fontsize=9)
    hx.set_xlabel("z")
    hx.set_ylabel("density")
    runs = f" × {round(rm.dof / rm.n_seeds) + 1} runs each" if rm.kind == "paired+replicas" else ""
    sub = (f"SE: {SE_KINDS[rm.kind]}; {rm.n_seeds} seeds{runs}; max |z| = {summ['resid_max_z']:.2f}, "
           f"max |rel. diff.| = {summ['resid_max_rel']:.3g}")
    if rm.n_excluded:
        sub += f"; {rm.n_excluded} of {rm.n_values} values flagged or non-finite, excluded"
    import textwrap

    fig.suptitle((title + "\n" if title else "") + "\n".join(textwrap.wrap(sub, 120)), fontsize=9)
    return _save(fig, path, {"Description": json.dumps({**summ, "resid_kind": rm.kind})})


def plot_phase_map(
    alpha_grid: np.ndarray,
    beta_grid: np.ndarray,
    measured: np.ndarray,
    *,
    boundaries: Sequence[Any] = (),
    labels: Sequence[tuple[str, float, float, bool]] = (),
    unproven: Sequence[Any] = (),
    quantity: str = "ξ",
    title: str | None = None,
    path: str | None = None,
) -> "Figure":
    """Measured compute-optimal exponent over the (alpha, beta) plane with theoretical phase
    boundaries and labels; regions whose theory is unproven are hatched.

    Parameters
    ----------
    alpha_grid : ndarray, shape (n_alpha,)
    beta_grid : ndarray, shape (n_beta,)
    measured : ndarray, shape (n_alpha, n_beta)
        The measured exponent (``xi`` or ``eta``); NaN cells (e.g. outside 2(α+β) > 1) stay blank.
    boundaries : sequence of (alphas, betas)
        Theory boundary polylines, each a pair of equal-length sequences (α values, β values).
    labels : sequence of (str, float, float, bool)
        ``(label, alpha, beta, proven)``; unproven labels are drawn in italics with a "?".
    unproven : sequence of polygons
        Closed regions, each a pair ``(alphas, betas)`` of its vertices, hatched as unproven.
    quantity : str
        ``"xi"``, ``"eta"`` (approach 1), ``"xi3"``, ``"eta3"`` (approach 3), or ``"ξ"``/``"η"``;
        any other string is used as the colorbar label as is. The colorbar and the title name
        the approach.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Polygon

    a = np.asarray(alpha_grid, dtype=float)
    b = np.asarray(beta_grid, dtype=float)
    meas = np.asarray(measured, dtype=float)
    if meas.shape != (len(a), len(b)):
        raise SpecError("plot_phase_map", "measured.shape", meas.shape, f"(n_alpha, n_beta) = {(len(a), len(b))}")

    def poly(p: Any) -> np.ndarray:
        if len(p) != 2:
            raise SpecError("plot_phase_map", "polyline", p, "a pair (alphas, betas) of equal-length sequences")
        x, y = (np.asarray(v, dtype=float).ravel() for v in p)
        if len(x) != len(y) or len(x) < 2:
            raise SpecError("plot_phase_map", "polyline lengths", (len(x), len(y)), "equal lengths >= 2")
        return np.stack([x, y], axis=1)

    fig, axes = _new_figure(size=(7.2, 5.6))
    ax = axes[0, 0]
    label = QUANTITY_LABELS.get(quantity, quantity)
    if title and quantity in ("xi3", "eta3") and "approach 3" not in title:
        title = f"{title} (approach 3: from the fitted surface)"
    mesh = ax.pcolormesh(_edges(a, False), _edges(b, False), np.ma.masked_invalid(meas.T), cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label=f"measured {label}")
    for p in unproven:
        ax.add_patch(Polygon(poly(p), closed=True, fill=False, hatch="///", edgecolor=(0.0, 0.0, 0.0, 0.45), lw=0.0))
    for p in boundaries:
        v = poly(p)
        ax.plot(v[:, 0], v[:, 1], color="white", lw=3.0, alpha=0.9)
        ax.plot(v[:, 0], v[:, 1], color="black", lw=1.3)
    (x0, x1), (y0, y1) = _edges(a, False)[[0, -1]], _edges(b, False)[[0, -1]]
    for text, x, y, proven in labels:
        # keep every label inside the axes (a label on the edge was cut in half)
        x = min(max(x, x0 + 0.07 * (x1 - x0)), x1 - 0.07 * (x1 - x0))
        y = min(max(y, y0 + 0.06 * (y1 - y0)), y1 - 0.06 * (y1 - y0))
        ax.text(x, y, text if proven else f"{text}?", ha="center", va="center", fontsize=10, clip_on=True,
                fontweight="bold" if proven else "normal", style="normal" if proven else "italic",
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "black" if proven else "gray",
                      "ls": "-" if proven else "--", "alpha": 0.8})
    ax.set_xlim(_edges(a, False)[[0, -1]])
    ax.set_ylim(_edges(b, False)[[0, -1]])
    ax.set_xlabel("α  (data complexity: λ_j = j^(−2α))")
    ax.set_ylabel("β  (target complexity: b_j = j^(−β))")
    handles: list[Any] = [Line2D([], [], color="black", lw=1.3, label="theory boundary")]
    if len(unproven) or any(not pr for *_, pr in labels):
        handles.append(Patch(facecolor="white", edgecolor=(0.0, 0.0, 0.0, 0.6), hatch="///", label="unproven (conjectured)"))
    ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.85)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)
