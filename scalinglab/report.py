"""One self-contained HTML page per cube: a paper's claims beside the measured numbers.

Pure: the page is built from plain data (tables of numbers, PNG bytes, the spec text, the
cube's provenance); nothing here reads a cube (``flows/report.py`` does) and matplotlib is
imported inside the figure functions (STYLE.md §9). Figures are embedded as base64 PNG, so
the page is one file that opens anywhere.

Also here: the closed forms each report compares against (project symbols, CONVENTIONS.md);
the measurements the claims need beyond the cube's ``analysis`` group, log–log slopes whose
interval is their *fit-window sensitivity* (the spread over sub-windows); and each paper's
claims as page sections (:func:`claim_sections`), computed from a cube *view* that
``flows/report.py`` provides (numpy arrays in, tables and PNGs out).

References
----------
Paquette, Paquette, Xiao, Pennington, arXiv:2405.15074 (PLRF); Bordelon, Atanasov, Pehlevan,
arXiv:2402.01092 (BAP); Lin, Wu, Kakade, Bartlett, Lee, arXiv:2406.08466 (LIN).
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["Figure", "Table", "Section", "render_html", "png_bytes", "loglog_slope", "Slope", "closed_forms",
           "frontier_window_spread", "two_term_fit", "TwoTerm", "claim_sections", "lin_effective_samples",
           "plot_slopes", "plot_measured_vs_predicted", "verdict"]


@dataclass
class Figure:
    """A PNG and its caption."""

    title: str
    png: bytes
    caption: str = ""


@dataclass
class Table:
    """Rows of cells (numbers are formatted by :func:`_cell`); ``note`` is printed under it."""

    title: str
    columns: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass
class Section:
    """A heading, a paragraph, then tables and figures."""

    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# measurements and closed forms


@dataclass(frozen=True)
class Slope:
    """A log–log slope with its fit-window interval ``[lo, hi]`` (min and max over sub-windows)."""

    value: float
    lo: float
    hi: float
    intercept: float
    n_points: int

    @property
    def spread(self) -> float:
        """Half-width of the fit-window interval."""
        return 0.5 * (self.hi - self.lo)


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> Slope:
    r"""Least-squares slope of :math:`\log y` against :math:`\log x`, with its fit-window sensitivity.

    The interval is the min and max of the slope over every window that drops up to a quarter
    of the points (at least one) from either end, keeping >= 3 points: how much the number
    depends on where the fit starts and stops, the dominant uncertainty of a deterministic
    theory curve.

    Parameters
    ----------
    x, y : array_like, shape (n,)
        Positive, finite values (others are dropped); n >= 3 after dropping.

    Returns
    -------
    Slope
        NaN everywhere when fewer than 3 points are usable.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    n = lx.size
    if n < 3:
        return Slope(math.nan, math.nan, math.nan, math.nan, int(n))
    full = np.polyfit(lx, ly, 1)
    k = max(1, n // 4)
    slopes = [full[0]]
    for i in range(k + 1):
        for j in range(k + 1):
            if (i or j) and n - i - j >= 3:
                slopes.append(np.polyfit(lx[i:n - j], ly[i:n - j], 1)[0])
    return Slope(float(full[0]), float(min(slopes)), float(max(slopes)), float(full[1]), int(n))


def frontier_window_spread(N: np.ndarray, t: np.ndarray, loss: np.ndarray, batch_size: float = 1.0,
                           window: tuple[float, float] | None = None) -> tuple[float, float, float, float]:
    r"""Fit-window sensitivity of the approach-1 exponents: ``(xi, eta, s_xi, s_eta)``.

    ``xi``, ``eta`` are fitted on ``window`` (default: the frontier's own), ``s_xi``, ``s_eta``
    the largest change when the fit keeps only the lower two thirds, the upper two thirds or the
    middle two thirds of that window in :math:`\log C`: how much the exponent moves with where
    the fit sits, the dominant uncertainty of a deterministic theory curve.

    Parameters
    ----------
    N : ndarray, shape (n_N,)
    t : ndarray, shape (n_t,)
    loss : ndarray, shape (n_N, n_t) or (n_N, n_seed, n_t)
    """
    from scalinglab.analysis.frontier import ComputeFrontier

    full = ComputeFrontier(window=window, n_bootstrap=0, random_state=0).fit(N, t, loss, batch_size)
    lo, hi = full.window_
    r = math.log(hi / lo)
    dx, de = [0.0], [0.0]
    for f0, f1 in ((0.0, 2 / 3), (1 / 3, 1.0), (1 / 6, 5 / 6)):
        try:
            sub = ComputeFrontier(window=(lo * math.exp(f0 * r), lo * math.exp(f1 * r)), n_bootstrap=0,
                                  random_state=0).fit(N, t, loss, batch_size)
        except ValueError:  # too few frontier points in the sub-window
            continue
        dx.append(abs(sub.xi_ - full.xi_))
        de.append(abs(sub.eta_ - full.eta_))
    return float(full.xi_), float(full.eta_), float(max(dx)), float(max(de))


@dataclass(frozen=True)
class TwoTerm:
    """``y = c1 x1^-k1 + c2 x2^-k2`` fitted in log space, with fit-window intervals of k1, k2."""

    k1: float
    k1_lo: float
    k1_hi: float
    k2: float
    k2_lo: float
    k2_hi: float
    c1: float
    c2: float


def two_term_fit(x1: np.ndarray, x2: np.ndarray, y: np.ndarray) -> TwoTerm:
    r"""Fit :math:`y(x_1, x_2) = c_1 x_1^{-k_1} + c_2 x_2^{-k_2}` on a grid, least squares on :math:`\log y`.

    The form of Lin et al.'s risk, :math:`M^{-(a-1)} + N_{\rm eff}^{-(a-1)/a}`, fitted over the whole
    (M, N_eff) grid as the paper fits its Fig. 1 (σ² is known and subtracted, not fitted). The
    intervals are the fit-window sensitivity: min and max of each exponent over the fits that drop
    the smallest or the largest value of either axis.

    Parameters
    ----------
    x1 : ndarray, shape (n1,)
    x2 : ndarray, shape (n2,)
    y : ndarray, shape (n1, n2)
        Positive.
    """
    from scipy.optimize import least_squares

    x1, x2, y = np.asarray(x1, float), np.asarray(x2, float), np.asarray(y, float)

    def fit(i1: slice, i2: slice) -> np.ndarray:
        X1, X2 = np.meshgrid(np.log(x1[i1]), np.log(x2[i2]), indexing="ij")
        ly = np.log(y[i1, i2])
        ok = np.isfinite(ly)

        def res(p: np.ndarray) -> np.ndarray:
            return (np.logaddexp(p[0] - p[1] * X1, p[2] - p[3] * X2) - ly)[ok]

        p0 = np.array([float(np.max(ly)) + 1.0, 0.5, float(np.max(ly)) + 1.0, 0.5])
        return least_squares(res, p0, bounds=([-50, 0, -50, 0], [50, 5, 50, 5])).x

    best = fit(slice(None), slice(None))
    others = [fit(a, b) for a, b in ((slice(1, None), slice(None)), (slice(None, -1), slice(None)),
                                     (slice(None), slice(1, None)), (slice(None), slice(None, -1)))]
    k1s = [best[1]] + [o[1] for o in others]
    k2s = [best[3]] + [o[3] for o in others]
    return TwoTerm(float(best[1]), float(min(k1s)), float(max(k1s)), float(best[3]), float(min(k2s)), float(max(k2s)),
                   float(np.exp(best[0])), float(np.exp(best[2])))


def verdict(measured: float, lo: float, hi: float, predicted: float, tol: float = 0.0) -> str:
    """``"agrees"`` when ``predicted`` lies in ``[lo - tol, hi + tol]``, else ``"differs by Δ"``."""
    if not np.isfinite(predicted):
        return "no closed form here"
    if not np.isfinite(measured):
        return "not measured"
    lo, hi = (lo, hi) if np.isfinite(lo) and np.isfinite(hi) else (measured, measured)
    if lo - tol <= predicted <= hi + tol:
        return "agrees"
    return f"differs by {measured - predicted:+.3f}"


def closed_forms(model: str, alpha: float, beta: float) -> dict[str, tuple[float, str]]:
    r"""The exponents each paper predicts, in project symbols: ``{name: (value, formula)}``.

    Names: ``r_t`` (:math:`L\sim t^{-r_t}`), ``r_N`` (:math:`L\sim N^{-r_N}`, t, P → ∞), ``xi``
    (:math:`N^*\propto C^\xi`), ``eta`` (:math:`L^*\propto C^{-\eta}`), and for BAP also
    ``r_N_paper`` (the paper's min(a−1, 2b)) and ``t_star`` (:math:`t^*\propto C^{1-\xi}`).

    .. math::

        r_t = \frac{2\alpha+2\beta-1}{2\alpha},\qquad r_N = \min(2\alpha,\ 2\alpha+2\beta-1)

    PLRF's ξ, η are the 4+3 table (``scalinglab.models.plrf.phases``); BAP's are
    ξ = (a−1)/(a−1+b m), η = (a−1)m/(a−1+b m) with m = r_N, a = 2α+2β, b = 2α; LIN's (isotropic
    prior, logarithms dropped) ξ = 1/(a+1), η = (b−1)/(a+1) with a = 2α, b = 2α+2β.
    """
    a2, s = 2.0 * alpha, 2.0 * alpha + 2.0 * beta - 1.0
    out: dict[str, tuple[float, str]] = {
        "r_t": (s / a2, "(2α+2β−1)/(2α)"),
        "r_N": (min(a2, s), "min(2α, 2α+2β−1)"),
    }
    if a2 <= 1.0:  # CONVENTIONS.md states these for 2α > 1 only (below, v ∝ N and the step size scales with N)
        out["r_t"] = (math.nan, "stated for 2α > 1 only")
        out["r_N"] = (math.nan, "stated for 2α > 1 only")
    if model == "plrf":
        from scalinglab.models.plrf import phases

        xi, eta = phases.exponents(alpha, beta)
        ph = phases.phase(alpha, beta)
        out["xi"] = (xi, f"4+3 table, phase {ph}")
        out["eta"] = (eta, f"4+3 table, phase {ph}")
    elif model == "bap":
        b, am1 = a2, s  # paper symbols: b = 2α, a − 1 = 2α + 2β − 1
        m = min(am1, b)
        out["r_t"] = (am1 / b, "(a−1)/b")
        out["r_N"] = (m, "min(a−1, b) (this project)")
        out["r_N_paper"] = (min(am1, 2 * b), "min(a−1, 2b) (paper)")
        out["xi"] = (am1 / (am1 + b * m), "(a−1)/(a−1+b·m), m = min(a−1, b); = 1/(1+b) if a−1 ≤ b")
        out["eta"] = (am1 * m / (am1 + b * m), "(a−1)m/(a−1+b·m); = (a−1)/(1+b) if a−1 ≤ b")
        out["t_star"] = (b * m / (am1 + b * m), "b·m/(a−1+b·m); = b/(1+b) if a−1 ≤ b")
    elif model == "lin":
        a, bb = a2, a2 + 2.0 * beta
        out["r_M"] = ((bb - 1.0), "a−1 (isotropic prior; b−1 with source b)")
        out["r_Neff"] = ((bb - 1.0) / a, "(a−1)/a (risk ∝ N_eff^(−(a−1)/a), N_eff = N/log N)")
        out["xi"] = (1.0 / (a + 1.0), "1/(a+1) (logs dropped)")
        out["eta"] = ((bb - 1.0) / (a + 1.0), "(a−1)/(a+1) (logs dropped)")
    return out


# ---------------------------------------------------------------------------------------------
# figures (PNG bytes; matplotlib imported inside)


def png_bytes(fig: Any, dpi: int = 110) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _figure(ncols: int = 1, size: tuple[float, float] = (6.4, 4.4)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def plot_slopes(panels: Sequence[dict[str, Any]], *, title: str | None = None) -> bytes:
    """Log–log panels of measured series, each with its fitted slope (solid) and the closed form (dashed).

    Parameters
    ----------
    panels : sequence of dict
        Each: ``xlabel``, ``ylabel``, ``series`` (list of dicts with ``x``, ``y``, ``label``,
        optional ``band`` = (lo, hi) arrays drawn as a band, ``marker``, ``fit`` (a
        :class:`Slope`) and ``fit_x`` (the x range fitted), ``theory`` (a predicted slope drawn
        dashed through the fitted line's middle), ``paper`` (a second predicted slope, dotted)),
        optional ``vlines`` = list of (x, label), ``title``, ``theory_label``, ``paper_label``.
        Two panels per row.

    Returns
    -------
    bytes
        The PNG.
    """
    from matplotlib.lines import Line2D

    from matplotlib.ticker import LogLocator, NullFormatter

    ncols = min(len(panels), 2)
    nrows = -(-len(panels) // ncols)
    wide = 2.6 if any(len(p["series"]) + 2 * any(x.get("fit") is not None for x in p["series"]) > 6
                      for p in panels) else 0.0
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=((5.6 + wide) * ncols, 4.5 * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.subplots(nrows, ncols, squeeze=False)
    axes = list(grid.ravel())
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    colors = ["#1b6ca8", "#d1495b", "#2a9d8f", "#8d6a9f", "#e09f3e", "#4a4e69"]
    for ax, panel in zip(axes, panels):
        for i, s in enumerate(panel["series"]):
            c = s.get("color", colors[i % len(colors)])
            x, y = np.asarray(s["x"], float), np.asarray(s["y"], float)
            ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
            ax.plot(x[ok], y[ok], s.get("marker", "o-"), color=c, ms=4, lw=1.2, label=s["label"])
            if s.get("band") is not None:
                lo, hi = (np.asarray(v, float) for v in s["band"])
                ax.fill_between(x[ok], lo[ok], hi[ok], color=c, alpha=0.2, lw=0)
            fit: Slope | None = s.get("fit")
            if fit is not None and np.isfinite(fit.value):
                fx = np.asarray(s.get("fit_x", x[ok]), float)
                xx = np.geomspace(fx.min(), fx.max(), 50)
                ax.plot(xx, np.exp(fit.intercept) * xx ** fit.value, "-", color=c, lw=2.4, alpha=0.5)
                xm = math.sqrt(fx.min() * fx.max())
                ym = math.exp(fit.intercept) * xm ** fit.value
                if s.get("theory") is not None:
                    ax.plot(xx, ym * (xx / xm) ** s["theory"], "--", color="black", lw=1.1)
                if s.get("paper") is not None:
                    ax.plot(xx, ym * (xx / xm) ** s["paper"], ":", color="dimgray", lw=1.4)
        for xv, lab in panel.get("vlines", []):
            ax.axvline(xv, color="gray", ls=":", lw=1)
            ax.annotate(lab, (xv, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -12),
                        textcoords="offset points", fontsize=7, color="dimgray", rotation=90, va="top")
        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):  # decades only: minor labels (2×10¹, 3×10¹, …) collide
            axis.set_major_locator(LogLocator(base=10.0))
            axis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(panel["xlabel"])
        ax.set_ylabel(panel["ylabel"])
        ax.grid(True, which="major", alpha=0.3)
        if panel.get("title"):
            ax.set_title(panel["title"], fontsize=10)
        handles, labels = ax.get_legend_handles_labels()
        if any(s.get("fit") is not None for s in panel["series"]):
            handles += [Line2D([], [], color="gray", lw=2.4, alpha=0.5),
                        Line2D([], [], color="black", ls="--", lw=1.1)]
            labels += ["fitted slope", panel.get("theory_label", "closed-form slope")]
        if any(s.get("paper") is not None for s in panel["series"]):
            handles.append(Line2D([], [], color="dimgray", ls=":", lw=1.4))
            labels.append(panel.get("paper_label", "paper's slope"))
        if len(labels) > 6:  # many series: the key beside the axes, never over the curves
            ax.legend(handles, labels, fontsize=7.5, framealpha=0.85, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                      borderaxespad=0.0)
        else:
            ax.legend(handles, labels, fontsize=7.5, framealpha=0.85, loc=panel.get("legend_loc", "best"))
    if title:
        fig.suptitle(title, fontsize=11)
    return png_bytes(fig)


def plot_measured_vs_predicted(rows: Sequence[tuple[str, float, float, float, float]], *, quantity: str,
                               title: str | None = None) -> bytes:
    """Measured against predicted exponent, one point per cell, interval bars, the diagonal dashed.

    Parameters
    ----------
    rows : sequence of (label, predicted, measured, lo, hi)
        ``label`` groups points by colour (e.g. the phase).
    """
    fig, axes = _figure(size=(5.4, 4.8))
    ax = axes[0]
    groups = sorted({r[0] for r in rows})
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    allv = [v for r in rows for v in r[1:3] if np.isfinite(v)]
    for gi, g in enumerate(groups):
        pts = np.array([r[1:] for r in rows if r[0] == g and np.isfinite(r[1]) and np.isfinite(r[2])], float)
        if not pts.size:
            continue
        err = np.abs(np.stack([pts[:, 1] - pts[:, 2], pts[:, 3] - pts[:, 1]]))
        err = np.where(np.isfinite(err), err, 0.0)
        ax.errorbar(pts[:, 0], pts[:, 1], yerr=err, fmt="o", ms=4.5, color=cmap(gi % 10), capsize=2, lw=0.9,
                    label=f"{g} ({len(pts)})")
    if allv:
        lo, hi = min(allv) - 0.03, max(allv) + 0.03
        ax.plot([lo, hi], [lo, hi], "--", color="black", lw=1, label="measured = predicted")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
    ax.set_xlabel(f"closed-form {quantity}")
    ax.set_ylabel(f"measured {quantity} (90% interval)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7.5, framealpha=0.85, loc="upper left", title="phase (cells)", title_fontsize=7.5)
    if title:
        ax.set_title(title, fontsize=10)
    return png_bytes(fig)


# ---------------------------------------------------------------------------------------------
# the papers' claims, from a cube view (numpy only; flows/report.py reads the cube)


def _f(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _g(v: float) -> str:
    return "∞" if math.isinf(v) else f"{v:g}"


#: Public names of the two helpers, for flows/report.py.
as_float, axis_text = _f, _g


def _c(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.3f}"


def _phase_maps(c: Any) -> list[Figure]:
    from scalinglab import plots

    phases = c.phase_diagram
    if not c.has_analysis or phases is None or c.alpha.size < 2 or c.beta.size < 2 or "theory" not in c.methods():
        return []
    a, b = c.alpha, c.beta
    pad_a, pad_b = 0.5 * np.ptp(a) / (a.size - 1), 0.5 * np.ptp(b) / (b.size - 1)
    a_rng, b_rng = (a.min() - pad_a, a.max() + pad_a), (b.min() - pad_b, b.max() + pad_b)
    bounds = [(x, y) for _, x, y in phases.boundaries(a_rng, b_rng)]
    labels = [(n, x, y, pr) for n, x, y, pr in phases.labels() if a_rng[0] <= x <= a_rng[1] and b_rng[0] <= y <= b_rng[1]]
    unproven = list(getattr(phases, "unproven", lambda a, b: [])(a_rng, b_rng))
    da, db = np.diff(a), np.diff(b)
    def steps(d: np.ndarray) -> str:
        lo, hi = f"{d.min():.2g}", f"{d.max():.2g}"
        return lo if lo == hi else f"{lo}–{hi}"

    coarse = (f"{a.size} × {b.size} cells, Δα {steps(da)}, Δβ {steps(db)}: "
              "one square per cell")
    figs = []
    for q, sym in (("xi", "ξ"), ("eta", "η")):
        meas = c.measured_map(q, "theory", 0)
        fig = plots.plot_phase_map(a, b, meas, boundaries=bounds, labels=labels, unproven=unproven, quantity=q,
                                   title=f"measured {sym}, {c.tier} tier, 4+3 boundaries\n{coarse}")
        figs.append(Figure(f"Phase map of measured {sym}", png_bytes(fig),
                              f"Measured {sym} per cell: a coarse grid ({coarse}); the boundaries are the exact "
                              "closed-form lines, so a square straddling one mixes two phases. Hatched: rows that "
                              "are derived or conditional, not proven in the paper."))
    return figs


# ---------------------------------------------------------------------------------------------
# the papers' claims


def _plrf(c: Any) -> list[Section]:
    from scalinglab.models.plrf import phases

    if not c.has_analysis or "theory" not in c.methods():
        return []
    secs = []
    rows, scatter = [], {"xi": [], "eta": []}
    by_phase: dict[str, list] = {}
    for ia, a in enumerate(c.alpha):
        for ib, b in enumerate(c.beta):
            if not c.done(ia, ib, 0):
                continue
            ph = phases.phase(a, b)
            xi_p, eta_p = phases.exponents(a, b)
            xi, xlo, xhi = c.value("theory", "xi", ia, ib, 0)
            eta, elo, ehi = c.value("theory", "eta", ia, ib, 0)
            scatter["xi"].append((ph, xi_p, xi, xlo, xhi))
            scatter["eta"].append((ph, eta_p, eta, elo, ehi))
            by_phase.setdefault(ph, []).append((a, b, xi, xlo, xhi, xi_p, eta, elo, ehi, eta_p))
    order = [p for p in phases.PHASES if p in by_phase]
    for ph in order:
        cells = by_phase[ph]
        dxi = np.array([r[2] - r[5] for r in cells])
        deta = np.array([r[6] - r[9] for r in cells])
        # the representative cell: the one whose measured (xi, eta) is nearest the prediction's median behaviour
        # is cherry-picking; take instead the cell farthest from every boundary (largest min distance in the grid)
        rep = max(cells, key=lambda r: _boundary_distance(r[0], r[1]))
        a, b, xi, xlo, xhi, xi_p, eta, elo, ehi, eta_p = rep
        rows.append([ph + ("" if phases.PROVEN[ph] else " (derived)"), len(cells), f"({a:g}, {b:g})",
                     f"{xi:.3f} [{_c(xlo)}, {_c(xhi)}]", xi_p, f"{eta:.3f} [{_c(elo)}, {_c(ehi)}]", eta_p,
                     float(np.nanmedian(np.abs(dxi))), float(np.nanmedian(np.abs(deta))),
                     "agrees" if (xlo - 0.02 <= xi_p <= xhi + 0.02 and elo - 0.02 <= eta_p <= ehi + 0.02)
                     else f"differs (Δξ {xi - xi_p:+.3f}, Δη {eta - eta_p:+.3f})"])
    extra = []
    for a0, b0 in ((0.7, 0.7),):
        ia = np.flatnonzero(np.isclose(c.alpha, a0))
        ib = np.flatnonzero(np.isclose(c.beta, b0))
        if ia.size and ib.size:
            eta, elo, ehi = c.value("theory", "eta", int(ia[0]), int(ib[0]), 0)
            extra.append(["paper Fig. 3: η at α = β = 0.7 (II/III boundary)", "0.648 (paper, measured)",
                          f"{eta:.3f} [{_c(elo)}, {_c(ehi)}]", 1 - 1 / 2.8, verdict(eta, elo, ehi, 1 - 1 / 2.8)])
    tables = [Table("Measured against predicted compute-optimal exponents, per phase", [
        "phase", "cells", "representative (α, β)", "ξ measured [90%]", "ξ predicted", "η measured [90%]",
        "η predicted", "median |Δξ| (all cells)", "median |Δη| (all cells)", "verdict"], rows,
        note="The representative cell is the one farthest from every phase boundary (not chosen by its result); "
             "'agrees' allows 0.02 beyond the bootstrap interval. Medians run over every cell of the phase, "
             "boundary cells included (finite-size fits converge slowly there; plrf.md §6).")]
    if extra:
        tables.append(Table("The paper's own measured-vs-theory row", ["claim", "paper", "here [90%]",
                                                                          "closed form", "verdict"], extra))
    figs = [Figure(f"Measured against predicted {sym}", plot_measured_vs_predicted(
        scatter[q], quantity=sym, title=f"{sym}: every cell, {c.tier} tier"), "One point per (α, β) cell, coloured "
        "by phase; bars are the 90% bootstrap intervals of approach 1.") for q, sym in (("xi", "ξ"), ("eta", "η"))]
    secs.append(Section("Paquette et al.: the 4+3 phases of compute-optimal scaling", (
        "The claim: at compute C = N·t·B the optimal model size is N* ∝ C^ξ and the optimal loss L* ∝ C^−η, "
        "with (ξ, η) given by one of seven rows depending on the phase of (α, β) (plrf.md §5). Each cell below "
        f"is measured by Chinchilla approach 1 on the {c.tier} tier, N from {c.N.min():g} to {c.N.max():g}."),
        tables, figs + _phase_maps(c)))
    if "simulation" in c.methods():
        secs.append(_theory_vs_sim(c))
    return secs


def _boundary_distance(a: float, b: float) -> float:
    from scalinglab.models.plrf import phases

    d = [abs(2 * a - 1) / 2, abs(2 * b - 1) / 2, abs(a + b - 0.5), abs(a - 0.25), abs(a - phases.ALPHA_IV_SPLIT)]
    if a > 0.5 and b > 0.5:
        d.append(abs(a - b))
    return min(d)


def _theory_vs_sim(c: Any) -> Section:
    rows = []
    for ia, a in enumerate(c.alpha):
        for ib, b in enumerate(c.beta):
            for ip, P in enumerate(c.P):
                if not c.done(ia, ib, ip):
                    continue
                ph = ""
                if c.model == "plrf":
                    from scalinglab.models.plrf import phases

                    ph = phases.phase(a, b)
                rel, z = c.stat("resid_max_rel", ia, ib, ip), c.stat("resid_max_z", ia, ib, ip)
                frac, expect = c.stat("resid_frac_z3", ia, ib, ip), c.stat("resid_frac_z3_expected", ia, ib, ip)
                tr, trl, trh = c.value("theory", "r_t", ia, ib, ip)
                sr, srl, srh = c.value("simulation", "r_t", ia, ib, ip)
                tx = c.value("theory", "xi", ia, ib, ip)
                sx = c.value("simulation", "xi", ia, ib, ip)
                rows.append([f"{a:g}", f"{b:g}", _g(P), ph, rel, z, frac, expect, f"{tr:.3f} [{_c(trl)}, {_c(trh)}]",
                             f"{sr:.3f} [{_c(srl)}, {_c(srh)}]", f"{tx[0]:.3f} [{_c(tx[1])}, {_c(tx[2])}]",
                             f"{sx[0]:.3f} [{_c(sx[1])}, {_c(sx[2])}]"])
    return Section("Theory against simulation", (
        f"The same cells computed twice: {c.label('theory')} and {c.label('simulation')}. The residual columns "
        "compare the curves point by point over the (N, t ≥ t_min) grid: z = (theory − simulation) / SE, with the "
        "paired difference where the theory is paired with the seeds (seed s's theory for seed s's draw), "
        "its SE from the seeds or, where each seed averages several SGD runs on its draw (replicas), from "
        "those runs; the fraction of |z| > 3 is shown beside what a Student-t with that SE's degrees of "
        "freedom expects when the theory is right. The exponent columns compare what each gives when fitted the "
        "same way."), [Table(
        "Theory and simulation, per cell", ["α", "β", "P", "phase", "max |rel. diff|", "max |z|",
                                            "fraction |z| > 3", "expected (Student-t)",
                                            "r_t theory", "r_t simulation", "ξ theory", "ξ simulation"], rows)])


def _late(curve: np.ndarray) -> np.ndarray:
    """The last checkpoint's value (late time), per N (curve shape (n_N, ..., n_t))."""
    return curve[..., -1]


def _bap(c: Any) -> list[Section]:
    secs = []
    a_list, b_list = c.alpha, c.beta
    inf = [ip for ip, P in enumerate(c.P) if math.isinf(P)]
    # compute-optimal rule at P = inf
    if c.has_analysis and inf:
        ip = inf[0]
        rows = []
        for ia, al in enumerate(a_list):
            for ib, be in enumerate(b_list):
                if not c.done(ia, ib, ip):
                    continue
                cf = closed_forms("bap", al, be)
                a_p, b_p = 2 * al + 2 * be, 2 * al
                if a_p - 1 > b_p + 1e-12:  # the paper's rule is stated for a - 1 < b; the next section covers the rest
                    continue
                for m in c.methods():
                    xi, xlo, xhi = c.value(m, "xi", ia, ib, ip)
                    eta, elo, ehi = c.value(m, "eta", ia, ib, ip)
                    rows.append([f"({a_p:g}, {b_p:g})", m, "N* ∝ C^ξ", f"{xi:.3f} [{_c(xlo)}, {_c(xhi)}]", cf["xi"][0],
                                 verdict(xi, xlo, xhi, cf["xi"][0], 0.01)])
                    rows.append([f"({a_p:g}, {b_p:g})", m, "t* ∝ C^(1−ξ)", f"{1 - xi:.3f} [{_c(1 - xhi)}, {_c(1 - xlo)}]",
                                 cf["t_star"][0], verdict(1 - xi, 1 - xhi, 1 - xlo, cf["t_star"][0], 0.01)])
                    rows.append([f"({a_p:g}, {b_p:g})", m, "L* ∝ C^−η", f"{eta:.3f} [{_c(elo)}, {_c(ehi)}]", cf["eta"][0],
                                 verdict(eta, elo, ehi, cf["eta"][0], 0.01)])
                for m, s, name in _bap_direct_slopes(c, ia, ib, ip):
                    q = "r_t" if "∝ t" in name else "r_N"
                    rows.append([f"({a_p:g}, {b_p:g})", m, name, f"{-s.value:.3f} [{-s.hi:.3f}, {-s.lo:.3f}]",
                                 cf[q][0], verdict(-s.value, -s.hi, -s.lo, cf[q][0], 0.01)])
        if rows:
            secs.append(Section("Bordelon et al.: the asymmetric compute-optimal rule", (
                "The claim (paper symbols a = 2α+2β, b = 2α, a − 1 < b): N* ∝ C^(1/(1+b)), t* ∝ C^(b/(1+b)), "
                "L* ∝ C^(−(a−1)/(1+b)): time should grow faster than the model by the factor b. ξ and η are "
                "Chinchilla approach 1 (C = N·t) at P = ∞, from the analysis group, with their 90% bootstrap "
                "intervals. The time exponent r_t = (a−1)/b is the slope of the largest-N curve while the modes learned, "
                "(2ηt)^(1/b), number at most N/4; at these N the model-size term N^−(a−1) already adds to the loss "
                "there and flattens that slope (it is low by 0.06–0.14 below; subtracting the late-time value instead "
                "overshoots by similar amounts), so r_t is the least certain number here. The model-size exponent r_N "
                "is the slope of the "
                "late-time loss against N; their intervals are the fit-window sensitivity. 'agrees' allows 0.01 "
                "beyond the interval."),
                [Table("Compute-optimal exponents (P = ∞)", ["(a, b)", "method", "law", "measured [90%]",
                                                                "closed form", "verdict"], rows)]))
    # model-size exponent where the paper and this project differ (a - 1 > b), from the late-time loss
    if inf:
        ip = inf[0]
        rows, panels = [], []
        for ia, al in enumerate(a_list):
            for ib, be in enumerate(b_list):
                if not c.done(ia, ib, ip):
                    continue
                a_p, b_p = 2 * al + 2 * be, 2 * al
                if not a_p - 1 > b_p:
                    continue
                d = c.cell(ia, ib, ip)
                series = []
                ours, paper = min(a_p - 1, b_p), min(a_p - 1, 2 * b_p)
                for m, curve in (("theory", d["theory"]), ("simulation", d["sim"])):
                    if curve is None:
                        continue
                    late = _late(curve) if curve.ndim == 2 else _late(curve).mean(axis=1)
                    s = loglog_slope(d["N"], late)
                    rows.append([f"({a_p:g}, {b_p:g})", c.label(m), f"{-s.value:.3f} [{-s.hi:.3f}, {-s.lo:.3f}]",
                                 paper, ours, _decide(-s.value, -s.hi, -s.lo, paper, ours)])
                    series.append({"x": d["N"], "y": late, "label": c.label(m), "fit": s, "marker": "o-" if m == "theory" else "s",
                                   "theory": -ours, "paper": -paper if m == "theory" else None})
                panels.append({"xlabel": "N (trained parameters)", "ylabel": f"late-time test loss L(t = {c.t[-1]:.3g})",
                               "series": series, "title": f"(a, b) = ({a_p:g}, {b_p:g}): paper −{paper:g}, ours −{ours:g}",
                               "theory_label": f"ours: slope −min(a−1, b) = −{ours:g}",
                               "paper_label": f"paper: slope −min(a−1, 2b) = −{paper:g}", "legend_loc": "lower left"})
        if rows:
            secs.append(Section("Bordelon et al.: the model-size exponent, min(a−1, 2b) or min(a−1, b)?", (
                "The paper states L ~ N^−min(a−1, 2b); this project's derivation gives N^−min(a−1, b). They differ "
                "only where a − 1 > b. Here the late-time loss (last checkpoint, every mode the model can learn "
                "learned) is fitted against N; the interval is the fit-window sensitivity (sub-windows dropping "
                "up to a quarter of the N values at either end). The simulation decides."),
                [Table("Model-size exponent at a − 1 > b", ["(a, b)", "source", "measured r_N [window]",
                                                                "paper min(a−1, 2b)", "ours min(a−1, b)", "decision"], rows)],
                [Figure("Late-time loss against N", plot_slopes(panels),
                           "Dashed: this project's slope −min(a−1, b); dotted: the paper's −min(a−1, 2b); both drawn "
                           "through the middle of the line fitted to the theory.")]))
    # finite P: data bottleneck and the N = P peak
    fin = [ip for ip, P in enumerate(c.P) if math.isfinite(P)]
    if fin:
        for ia, al in enumerate(a_list):
            for ib, be in enumerate(b_list):
                sec = _bap_finite_p(c, ia, ib, fin)
                if sec is not None:
                    secs.append(sec)
    return secs


def _bap_direct_slopes(c: Any, ia: int, ib: int, ip: int) -> list[tuple[str, Slope, str]]:
    """r_t from the largest-N curve (time-limited part) and r_N from the late-time loss against N."""
    params = c.params
    lr = float(params.get("lr") or 0.5)
    b = 2 * c.alpha[ia]
    d = c.cell(ia, ib, ip)
    out = []
    for m, curve in (("theory", d["theory"]), ("simulation", d["sim"])):
        if curve is None:
            continue
        mean = curve if curve.ndim == 2 else np.exp(np.log(curve).mean(axis=1))
        tt = (c.t >= 10) & ((2 * lr * c.t) ** (1 / b) <= c.N[-1] / 4)
        out.append((m, loglog_slope(c.t[tt], mean[-1, tt]),
                    f"L ∝ t^−r_t (N = {c.N[-1]:g}, t ∈ [{c.t[tt].min():.3g}, {c.t[tt].max():.3g}])"))
        out.append((m, loglog_slope(c.N, mean[:, -1]), f"L ∝ N^−r_N (late time, t = {c.t[-1]:.3g})"))
    return out


def _decide(v: float, lo: float, hi: float, paper: float, ours: float) -> str:
    if not np.isfinite(v):
        return "not measured"
    d_paper, d_ours = abs(v - paper), abs(v - ours)
    inside = [name for name, x in (("ours", ours), ("paper", paper)) if lo - 0.05 <= x <= hi + 0.05]
    nearer = "ours, min(a−1, b)" if d_ours < d_paper else "paper, min(a−1, 2b)"
    return f"{nearer} (|Δ| {min(d_ours, d_paper):.3f} vs {max(d_ours, d_paper):.3f}; within window+0.05: {', '.join(inside) or 'neither'})"


def _bap_finite_p(c: Any, ia: int, ib: int, fin: list[int]) -> Section | None:
    al, be = c.alpha[ia], c.beta[ib]
    a_p, b_p = 2 * al + 2 * be, 2 * al
    series, peak_rows, vlines = [], [], []
    for ip in fin + [i for i, P in enumerate(c.P) if math.isinf(P)]:
        if not c.done(ia, ib, ip):
            continue
        d = c.cell(ia, ib, ip)
        P = c.P[ip]
        for m, curve in (("theory", d["theory"]), ("simulation", d["sim"])):
            if curve is None:
                continue
            if curve.ndim == 3:
                logc = np.log(_late(curve))
                late = np.exp(logc.mean(axis=1))
                se = logc.std(axis=1, ddof=1) / math.sqrt(curve.shape[1]) if curve.shape[1] > 1 else 0 * late
                band = (late * np.exp(-2 * se), late * np.exp(2 * se))
            else:
                late, band = _late(curve), None
            series.append({"x": d["N"], "y": late, "label": f"P = {_g(P)}, {c.label(m)}", "band": band,
                           "marker": "o-" if m == "theory" else "s:", "color": _pcolor(fin, ip)})
            if math.isfinite(P):
                k = int(np.nanargmax(late))
                peak_rows.append([_g(P), c.label(m), int(d["N"][k]), float(late[k]),
                                  "agrees" if np.isclose(d["N"][k], P) else f"peak at N = {d['N'][k]:g}"])
        if math.isfinite(P):
            vlines.append((P, f"N = P = {P:g}"))
    if not peak_rows:
        return None
    tables = [Table(f"Late-time peak at N = P, (a, b) = ({a_p:g}, {b_p:g})",
                       ["P", "source", "N at the peak", "peak loss", "verdict"], peak_rows,
                       note=f"Late time: the last checkpoint t = {c.t[-1]:.3g}. The late-time loss diverges at N = P "
                            "without label noise (bap.md §3); on a grid the peak lands on the grid N nearest P.")]
    rows = []
    if c.has_analysis:
        for m in c.methods():
            v, lo, hi = c.value(m, "data_r_P", ia, ib, None)
            if np.isfinite(v):
                pred = min(a_p - 1, 2 * b_p)
                rows.append([f"{c.label(m)}: data-term surface over P (analysis group; every N, the N = P peaks "
                             "included)", f"{v:.3f} [{_c(lo)}, {_c(hi)}]", pred, verdict(v, lo, hi, pred, 0.01)])
    # directly: the late-time loss at the largest N against the P with N >= 4P (data-limited, away from the peak)
    Ps = [ip for ip in fin if c.done(ia, ib, ip) and c.N[-1] >= 4 * c.P[ip]]
    if len(Ps) >= 3:
        cells = [c.cell(ia, ib, ip) for ip in Ps]
        for m, key in (("theory", "theory"), ("simulation", "sim")):
            if cells[0][key] is None:
                continue
            y = np.array([float(np.exp(np.log(d[key][-1, ..., -1]).mean())) for d in cells])
            s = loglog_slope(c.P[Ps], y)
            pred = min(a_p - 1, 2 * b_p)
            rows.append([f"{c.label(m)}: late-time loss at N = {c.N[-1]:g} against P ≤ N/4 "
                         f"({', '.join(f'{c.P[i]:g}' for i in Ps)}); fit-window interval",
                         f"{-s.value:.3f} [{-s.hi:.3f}, {-s.lo:.3f}]", pred, verdict(-s.value, -s.hi, -s.lo, pred, 0.02)])
    if rows:
        tables.append(Table("Data exponent r_P (L ~ P^−r_P, N, t → ∞)", ["source", "measured [90%]",
                                                                          "closed form min(a−1, 2b)", "verdict"], rows))
    fig = plot_slopes([{"xlabel": "N (trained parameters)", "ylabel": f"late-time test loss L(t = {c.t[-1]:.3g})",
                           "series": series, "vlines": vlines, "legend_loc": "lower left",
                           "title": f"(a, b) = ({a_p:g}, {b_p:g}): late-time loss against N at fixed P"}])
    return Section(f"Bordelon et al.: the data bottleneck and the N = P peak, (a, b) = ({a_p:g}, {b_p:g})", (
        "At finite P the loss stops improving with N once N passes P (the data is the bottleneck), and at late "
        "times it peaks at N = P: double descent without label noise. Simulation bands: ±2 SE of log L over seeds."),
        tables, [Figure("Late-time loss against N, one curve per P", fig,
                           "Solid with circles: theory; squares: simulation (geometric seed mean, ±2 SE band in "
                           "log space). Dotted verticals: N = P.")])


def _pcolor(fin: list[int], ip: int) -> str:
    colors = ["#1b6ca8", "#d1495b", "#2a9d8f", "#8d6a9f", "#e09f3e", "#4a4e69"]
    return colors[ip % len(colors)]


def lin_effective_samples(t: np.ndarray) -> np.ndarray:
    """N_eff = t / ⌈log₂ t⌉: the length of one step-decay phase (the model's schedule)."""
    t = np.asarray(t, float)
    return t / np.maximum(np.ceil(np.log2(np.maximum(t, 2.0))), 1.0)


def _lin(c: Any) -> list[Section]:
    if c.theory_array("loss", 0, 0, 0) is None:
        return []
    params = c.params
    lr = float(params.get("lr", 0.1))
    rows, panels_M, panels_N, panels_V = [], [], [], []
    for ia, al in enumerate(c.alpha):
        for ib, be in enumerate(c.beta):
            if not c.done(ia, ib, 0):
                continue
            cf = closed_forms("lin", al, be)
            a = 2 * al
            risk, approx, var = (c.theory_array(v, ia, ib, 0) for v in ("loss", "approx", "var"))
            neff = lin_effective_samples(c.t)
            neff = lin_effective_samples(c.t)
            # the paper's fit: risk = c1 M^-k1 + c2 N_eff^-k2 over the whole (M, N_eff) grid
            tt = c.t >= 16
            two = two_term_fit(c.N, neff[tt], risk[:, tt])
            sA = loglog_slope(c.N, approx[:, -1])
            # risk vs N_eff at the largest M: only t with M >= 4 (N_eff γ)^(1/a) (lin.md §6.4)
            okN = (c.N[-1] >= 4 * (lr * neff) ** (1 / a)) & tt
            sN = loglog_slope(neff[okN], risk[-1, okN])
            # variance flat in M once M exceeds the k* = (N_eff γ)^(1/a) directions SGD resolves
            kstar = (lr * neff[-1]) ** (1 / a)
            flat = c.N >= 2 * kstar
            vratio = float(np.nanmax(var[flat, -1]) / np.nanmin(var[flat, -1])) if flat.sum() >= 2 else math.nan
            grid_txt = f"M ∈ [{c.N.min():g}, {c.N.max():g}], N_eff ∈ [{neff[tt].min():.3g}, {neff[tt].max():.3g}]"
            rows.append([f"{a:g}", "risk = c₁M^−k₁ + c₂N_eff^−k₂: k₁", grid_txt, f"{two.k1:.3f} [{two.k1_lo:.3f}, {two.k1_hi:.3f}]",
                         cf["r_M"][0], verdict(two.k1, two.k1_lo, two.k1_hi, cf["r_M"][0], 0.02)])
            rows.append([f"{a:g}", "risk = c₁M^−k₁ + c₂N_eff^−k₂: k₂", grid_txt, f"{two.k2:.3f} [{two.k2_lo:.3f}, {two.k2_hi:.3f}]",
                         cf["r_Neff"][0], verdict(two.k2, two.k2_lo, two.k2_hi, cf["r_Neff"][0], 0.02)])
            rows.append([f"{a:g}", "approximation error vs M", f"all M, t = {c.t[-1]:g}",
                         f"{-sA.value:.3f} [{-sA.hi:.3f}, {-sA.lo:.3f}]", cf["r_M"][0],
                         verdict(-sA.value, -sA.hi, -sA.lo, cf["r_M"][0], 0.02)])
            rows.append([f"{a:g}", "risk vs N_eff at the largest M", f"M = {c.N[-1]:g}, N_eff ∈ [{neff[okN].min():.3g}, {neff[okN].max():.3g}]",
                         f"{-sN.value:.3f} [{-sN.hi:.3f}, {-sN.lo:.3f}]", cf["r_Neff"][0],
                         verdict(-sN.value, -sN.hi, -sN.lo, cf["r_Neff"][0], 0.02)])
            rows.append([f"{a:g}", "variance max/min over M ≥ 2k*", f"k* = (N_eff γ)^(1/a) = {kstar:.3g}, t = {c.t[-1]:g}",
                         vratio, 1.0, "flat (within ×1.5)" if vratio <= 1.5 else f"varies ×{vratio:.2f}"])
            sM = Slope(-two.k1, -two.k1_hi, -two.k1_lo, math.log(two.c1), c.N.size)
            okM = np.ones(c.N.size, bool)
            panels_M.append({"x": c.N, "y": risk[:, -1], "label": f"a = {a:g}: risk − σ² (t = {c.t[-1]:g})",
                             "marker": "o-"})
            panels_M.append({"x": c.N, "y": two.c1 * c.N ** -two.k1, "label": f"a = {a:g}: fitted M-term c₁M^−k₁",
                             "marker": "-", "fit": sM, "theory": -cf["r_M"][0]})
            panels_M.append({"x": c.N, "y": approx[:, -1], "label": f"a = {a:g}: approximation error", "fit": sA,
                             "marker": "^:", "theory": -cf["r_M"][0]})
            panels_N.append({"x": neff, "y": risk[-1], "label": f"a = {a:g}, M = {c.N[-1]:g}", "fit": sN,
                             "fit_x": neff[okN], "theory": -cf["r_Neff"][0]})
            panels_V.append({"x": c.N, "y": var[:, -1], "label": f"a = {a:g}: variance", "marker": "s-"})
            panels_V.append({"x": c.N, "y": risk[:, -1], "label": f"a = {a:g}: risk − σ²", "marker": "o:"})
    if not rows:
        return []
    fig = plot_slopes([
        {"xlabel": "M (trained parameters; the grid's N)", "ylabel": f"excess risk at N = {c.t[-1]:g} samples",
         "series": panels_M, "title": "against model size M"},
        {"xlabel": "N_eff = N / ⌈log₂ N⌉ (samples per step-decay phase)", "ylabel": f"excess risk at M = {c.N[-1]:g}",
         "series": panels_N, "title": "against effective sample size"}])
    figv = plot_slopes([{"xlabel": "M (trained parameters)", "ylabel": f"at N = {c.t[-1]:g} samples",
                            "series": panels_V, "title": "the variance term stays flat in M"}])
    return [Section("Lin et al.: risk against model size and data, and the flat variance", (
        "The claim (a = 2α, isotropic prior): E R − σ² ≂ M^−(a−1) + N_eff^−(a−1)/a with N_eff = N/log N, and the "
        f"variance term does not grow with M. Exact tier given the sketch ({c.tier}), γ = {lr:g}, σ² = "
        f"{params.get('sigma2', 1.0)} (subtracted, not fitted). As in the paper's Fig. 1, the excess risk over the "
        "whole (M, N_eff) grid is fitted by c₁M^−k₁ + c₂N_eff^−k₂ (least squares on log risk; interval: the "
        "fits dropping the smallest or largest M or N_eff). Beside it, two one-term slopes where the other "
        "term is not the bottleneck: the approximation error against M, and the risk against N_eff at the "
        "largest M where M ≥ 4 (N_eff γ)^(1/a) (lin.md §6.4), with their fit-window intervals. The variance is "
        "compared over M ≥ 2k*, k* = (N_eff γ)^(1/a) the directions SGD resolves (below k* it grows with M, as "
        "the theorem's min{M, k*}/N_eff says). 'agrees' allows 0.02 beyond the interval (lin.md: expect 5–10% "
        "off at a = 1.5 over two decades)."),
        [Table("Fitted slopes against the closed forms", ["a", "law", "fit range", "measured exponent [window]",
                                                              "closed form", "verdict"], rows)],
        [Figure("Risk against M and against N_eff", fig, "Thick translucent: the fitted slope over the fit range; "
                   "dashed: the closed-form slope through its middle."),
         Figure("Variance against M", figv, "Variance and total excess risk at the largest sample size.")])]


_CLAIMS = {"plrf": _plrf, "bap": _bap, "lin": _lin}


def claim_sections(c: Any) -> list[Section]:
    """The model's paper claims as sections, from a cube *view* (``flows/report.py``'s reader): its
    grid (``alpha``, ``beta``, ``N``, ``P``, ``t``), ``model``, ``tier``, ``method``, ``seeds``,
    ``params``, ``phase_diagram``, ``has_analysis``, and the accessors ``done``, ``cell``, ``value``,
    ``stat``, ``label``, ``methods``, ``measured_map``, ``theory_array`` (numpy in, numpy out)."""
    return list(_CLAIMS.get(c.model, lambda c: [])(c))


# ---------------------------------------------------------------------------------------------
# HTML

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1180px;
       padding: 1.5em 2em 4em; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0 0.3em; font-size: 0.88em; }
th, td { border: 1px solid #d5d5d5; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th { background: #f2f4f7; } td:first-child, th:first-child { text-align: left; }
tr.differs td { background: #fff1f0; } tr.agrees td.v { color: #1a7f37; }
td.v { white-space: normal; min-width: 9em; max-width: 22em; text-align: left; }
.tw { overflow-x: auto; max-width: 100%; }
.note { color: #555; font-size: 0.85em; margin: 0.2em 0 1em; }
figure { margin: 1em 0 1.6em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.88em; margin-top: 0.3em; }
pre { background: #f7f7f9; border: 1px solid #e3e3e8; padding: 0.8em; overflow-x: auto; font-size: 0.82em; }
ul.flags li { margin: 0.15em 0; } dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { font-weight: 600; } dd { margin: 0; font-family: monospace; font-size: 0.9em; }
nav a { margin-right: 1em; }
"""


def _cell(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        return f"{v:.3f}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3g}"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return html.escape(str(v))


def _table_html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = []
    vcol = t.columns.index("verdict") if "verdict" in t.columns else -1
    for r in t.rows:
        cls = ""
        if vcol >= 0:
            cls = ' class="differs"' if str(r[vcol]).startswith("differs") else ' class="agrees"'
        cells = "".join(f'<td{" class=v" if i == vcol else ""}>{_cell(v)}</td>' for i, v in enumerate(r))
        body.append(f"<tr{cls}>{cells}</tr>")
    note = f'<p class="note">{html.escape(t.note)}</p>' if t.note else ""
    return (f"<h3>{html.escape(t.title)}</h3><div class='tw'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>{note}")


def _figure_html(f: Figure) -> str:
    data = base64.b64encode(f.png).decode("ascii")
    cap = f"<figcaption><b>{html.escape(f.title)}.</b> {html.escape(f.caption)}</figcaption>"
    return f'<figure><img alt="{html.escape(f.title)}" src="data:image/png;base64,{data}">{cap}</figure>'


def render_html(title: str, *, subtitle: str = "", sections: Sequence[Section] = (), flags: Sequence[str] = (),
                spec_text: str = "", provenance: dict[str, Any] | None = None) -> str:
    """The page: title, what was flagged or excluded, the sections (tables, figures), the spec, provenance.

    Every figure is a ``data:image/png;base64`` URI: the page is one self-contained file.
    """
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    if subtitle:
        parts.append(f'<p class="sub">{html.escape(subtitle)}</p>')
    nav = [("flags", "Flagged or excluded")] + [(f"s{i}", s.title) for i, s in enumerate(sections)]
    nav += [("spec", "Spec"), ("provenance", "Provenance")]
    parts.append("<nav>" + "".join(f'<a href="#{k}">{html.escape(v)}</a>' for k, v in nav) + "</nav>")
    parts.append('<h2 id="flags">Flagged or excluded</h2>')
    if flags:
        parts.append('<ul class="flags">' + "".join(f"<li>{html.escape(f)}</li>" for f in flags) + "</ul>")
    else:
        parts.append("<p>Nothing: every unit is done and every cell was measured.</p>")
    for i, s in enumerate(sections):
        parts.append(f'<h2 id="s{i}">{html.escape(s.title)}</h2>')
        if s.text:
            parts.append("".join(f"<p>{html.escape(p)}</p>" for p in s.text.split("\n\n")))
        parts.extend(_table_html(t) for t in s.tables)
        parts.extend(_figure_html(f) for f in s.figures)
    parts.append(f'<h2 id="spec">Spec</h2><pre>{html.escape(spec_text)}</pre>')
    prov = dict(provenance or {})
    prov.setdefault("report written", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    parts.append('<h2 id="provenance">Provenance</h2><dl>')
    parts.extend(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>" for k, v in prov.items())
    parts.append("</dl></body></html>")
    return "\n".join(parts)
