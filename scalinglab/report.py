"""One self-contained HTML page per cube: a paper's claims beside the measured numbers.

Pure: the page is built from plain data (tables of numbers, PNG bytes, the spec text, the
cube's provenance); nothing here reads a cube (``flows/report.py`` does) and matplotlib is
imported inside the figure functions (STYLE.md §9). Figures are embedded as base64 PNG, so
the page is one file that opens anywhere.

Also here: the closed forms each report compares against (project symbols, CONVENTIONS.md)
and the one measurement the claims need beyond the cube's ``analysis`` group, a log–log slope
whose interval is its *fit-window sensitivity* (the spread of the slope over sub-windows).

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
           "frontier_window_spread", "two_term_fit", "TwoTerm",
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
