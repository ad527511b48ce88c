"""``scalinglab report STORE``: one self-contained HTML page per cube.

Reads the cube, its ``analysis`` group (exponents are read from there, never refitted) and its
provenance, puts each paper's claims beside the measured numbers (``scalinglab.report`` builds
the page), and writes ``<out>/index.html``. No Prefect or Ray: the page is drawn in-process.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

import storage
from scalinglab import report as rp
from scalinglab.analysis.cell import AnalysisSettings
from scalinglab.models.base import replicas_of
from storage.analysis import PREFIX, positive_t, read_cell

__all__ = ["write_report", "default_report_dir", "build_sections"]

QUANTITIES = ("r_t", "r_N", "xi", "eta")
QUANTITY_NAMES = {"r_t": "time exponent r_t (L ~ t^-r_t, surface fit)",
                  "r_N": "model-size exponent r_N (L ~ N^-r_N, surface fit)",
                  "xi": "ξ (N* ∝ C^ξ, approach 1)", "eta": "η (L* ∝ C^-η, approach 1)"}


def default_report_dir(store: str) -> Path:
    """``results/x.zarr`` -> ``results/x_report``."""
    name = store.rstrip("/").split("/")[-1].removesuffix(".zarr")
    if "://" in store:
        return Path(f"{name}_report")
    return Path(store.rstrip("/")).parent / f"{name}_report"


def _fig(fig) -> bytes:
    return rp.png_bytes(fig)


_f, _g = rp.as_float, rp.axis_text  # one definition each (scalinglab/report.py)


class _Cube:
    """What the sections need, read once."""

    def __init__(self, store: str):
        self.store = store
        self.spec = storage.read_spec(store)
        self.ds = storage.open_cube(store)
        self.status = self.ds.status.values  # (alpha, beta, N, P)
        self.an = storage.open_analysis(store).load() if storage.analysis_exists(store) else None
        self.model = self.spec.model
        self.alpha, self.beta = self.ds.alpha.values.astype(float), self.ds.beta.values.astype(float)
        self.N, self.P, self.t = (self.ds.N.values.astype(float), self.ds.P.values.astype(float),
                                  self.ds.t.values.astype(float))
        params = json.loads(self.ds.attrs.get("spec", "{}")).get("params", {})
        self.tier = self.ds.theory_loss.attrs.get("source", params.get("theory", "theory")) if "theory_loss" in self.ds else None
        self.method = self.ds.sim_loss.attrs.get("source", params.get("simulation", "simulation")) if "sim_loss" in self.ds else None
        self.seeds = int(self.ds.sizes.get("seed", 0))
        self.batch = float(self.spec.model_module().samples_per_step(self.spec.params))
        self.params = params
        self.phase_diagram = self.spec.model_module().phase_diagram
        self.has_analysis = self.an is not None
        settings = json.loads(self.an.attrs.get("settings", "{}")) if self.an is not None else {}
        self.t_min = float(settings.get("t_min", AnalysisSettings().t_min))  # the fits' window: residuals use it too

    def done(self, ia: int, ib: int, ip: int) -> bool:
        return bool(np.all(self.status[ia, ib, :, ip] == storage.DONE))

    def cell(self, ia: int, ib: int, ip: int) -> dict[str, Any]:
        return read_cell(self.ds, ia, ib, ip)

    def methods(self) -> list[str]:
        return [m for m in PREFIX if self.an is not None and f"{PREFIX[m]}_xi" in self.an]

    def value(self, method: str, q: str, ia: int, ib: int, ip: int | None) -> tuple[float, float, float]:
        """(value, lo, hi) of ``q`` from the analysis group (NaN where absent); ``ip=None`` for the
        per-(alpha, beta) fields (the data-term surface ``data_r_P``)."""
        p = PREFIX[method]
        an = self.an
        if an is None or f"{p}_{q}" not in an:
            return math.nan, math.nan, math.nan
        c = an.isel(alpha=ia, beta=ib) if ip is None else an.isel(alpha=ia, beta=ib, P=ip)
        v = _f(c[f"{p}_{q}"])
        lo = _f(c[f"{p}_{q}_lo"]) if f"{p}_{q}_lo" in an else math.nan
        hi = _f(c[f"{p}_{q}_hi"]) if f"{p}_{q}_hi" in an else math.nan
        return v, lo, hi

    def stat(self, name: str, ia: int, ib: int, ip: int) -> float:
        """A per-cell analysis field without method prefix (``resid_max_rel``, ``resid_max_z``)."""
        if self.an is None or name not in self.an:
            return math.nan
        return _f(self.an[name].values[ia, ib, ip])

    def measured_map(self, q: str, method: str, ip: int) -> np.ndarray:
        """``q`` over the (alpha, beta) grid at P index ``ip`` (NaN where absent)."""
        name = f"{PREFIX[method]}_{q}"
        if self.an is None or name not in self.an:
            return np.full((self.alpha.size, self.beta.size), np.nan)
        return self.an[name].isel(P=ip).values

    def theory_array(self, var: str, ia: int, ib: int, ip: int) -> np.ndarray | None:
        """``theory_<var>`` of one cell, shape (n_N, n_t), or None when the cube has none. A theory paired
        with the seeds (one value per seed's draw) gives its mean over seeds: the draw-averaged theory."""
        name = f"theory_{var}"
        if name not in self.ds:
            return None
        da = self.ds[name].isel(alpha=ia, beta=ib, P=ip)
        if "seed" in da.dims:
            da = da.mean("seed")
        return da.transpose("N", "t").values

    def label(self, method: str) -> str:
        if method == "theory":
            return f"theory ({self.tier} tier)"
        return f"simulation ({self.method}, {self.seeds} seeds)"


# ---------------------------------------------------------------------------------------------
# flags


def _flags(c: _Cube) -> list[str]:
    out = []
    counts = {name: int(np.sum(c.status == code)) for name, code in
              (("pending", storage.PENDING), ("failed", storage.FAILED))}
    total = int(c.status.size)
    for name, k in counts.items():
        if k:
            out.append(f"{k} of {total} units {name}: their cells are excluded from every table and figure.")
    if c.an is None:
        out.append(f"no analysis group: run `scalinglab analyze {c.store}` for the fitted exponents; the tables "
                   "below show only what the curves give directly.")
        return out
    for m in c.methods():
        p = PREFIX[m]
        for ia, a in enumerate(c.alpha):
            for ib, b in enumerate(c.beta):
                for ip, P in enumerate(c.P):
                    cell = f"α={a:g}, β={b:g}, P={_g(P)}"
                    if not c.done(ia, ib, ip):
                        continue
                    xi = c.value(m, "xi", ia, ib, ip)[0]
                    rt = c.value(m, "r_t", ia, ib, ip)[0]
                    if math.isnan(xi):
                        out.append(f"{cell} ({m}): compute frontier not measurable (excluded from ξ, η; "
                                   f"`scalinglab frontier {c.store}` says why).")
                    if math.isnan(rt):
                        out.append(f"{cell} ({m}): scaling surface not measurable (excluded from r_t, r_N).")
                    edge = _f(c.an[f"{p}_edge_hit"].isel(alpha=ia, beta=ib, P=ip))
                    if edge == 1:
                        out.append(f"{cell} ({m}): N* reaches the edge of the N grid inside the compute window "
                                   "(ξ, η biased; flagged, kept).")
    if "resid_max_z" in c.an:
        z = c.an["resid_max_z"].values
        bad = np.argwhere(np.isfinite(z) & (z > 4))
        for ia, ib, ip in bad:
            rel = _f(c.an["resid_max_rel"].values[ia, ib, ip])
            out.append(f"α={c.alpha[ia]:g}, β={c.beta[ib]:g}, P={_g(c.P[ip])}: theory and simulation differ by up to "
                       f"{z[ia, ib, ip]:.1f} seed SE ({100 * rel:.1f}% relative) somewhere on the (N, t) grid.")
    return out


# ---------------------------------------------------------------------------------------------
# generic sections


def _exponent_table(c: _Cube) -> rp.Table | None:
    if c.an is None:
        return None
    rows = []
    for ia, a in enumerate(c.alpha):
        for ib, b in enumerate(c.beta):
            cf = rp.closed_forms(c.model, a, b)
            for ip, P in enumerate(c.P):
                if not c.done(ia, ib, ip):
                    continue
                for m in c.methods():
                    for q in QUANTITIES:
                        if q not in cf or (q in ("r_N", "xi", "eta") and math.isfinite(P)):
                            continue  # the N-exponents are stated for P = inf (data-rich; CONVENTIONS.md)
                        v, lo, hi = c.value(m, q, ia, ib, ip)
                        pred, formula = cf[q]
                        rows.append([f"{a:g}", f"{b:g}", _g(P), m, q, v, f"[{_c(lo)}, {_c(hi)}]", pred, formula,
                                     rp.verdict(v, lo, hi, pred)])
    conf = c.an.attrs.get("settings", {})
    if isinstance(conf, str):
        conf = json.loads(conf)
    level = conf.get("confidence", 0.9) if isinstance(conf, dict) else 0.9
    return rp.Table("Measured against closed-form exponents, every cell",
                    ["α", "β", "P", "method", "quantity", "measured", f"{level:.0%} interval", "closed form", "formula",
                     "verdict"], rows,
                    note="Measured values are the cube's analysis group (surface fit for r_t, r_N; Chinchilla approach 1 "
                         "for ξ, η); 'agrees' means the closed form lies inside the interval. The surface is fitted "
                         "on the finite grid, so r_N is an effective exponent where the floor terms mix.")


def _c(v: float) -> str:
    return "n/a" if not np.isfinite(v) else f"{v:.3f}"


def _cell_figures(c: _Cube) -> list[rp.Figure]:
    from scalinglab import plots

    ia, ib, ip = plots.default_cell(c.alpha.size, c.beta.size, c.P.size)
    if not c.done(ia, ib, ip):
        done = [(i, j, k) for i in range(c.alpha.size) for j in range(c.beta.size) for k in range(c.P.size)
                if c.done(i, j, k)]
        if not done:
            return []
        ia, ib, ip = done[0]
    d = positive_t(c.cell(ia, ib, ip))  # the log-t axis
    a, b, P = c.alpha[ia], c.beta[ib], c.P[ip]
    t, th, sm = d["t"], d["theory"], d["sim"]  # theory (N, t), or (N, seed, t) when paired
    figs = []
    th_curve = th.mean(axis=1) if th is not None and th.ndim == 3 else th  # paired: the draw-averaged theory
    fig = plots.plot_curves(t, d["N"], sim=sm, theory=th_curve, alpha=a, beta=b, P=P, model=c.model, tier=c.tier,
                            method=c.method, replicas=replicas_of(c.spec.params))
    figs.append(rp.Figure(f"Loss curves at α = {a:g}, β = {b:g}, P = {_g(P)}", _fig(fig),
                          "Test loss against optimizer steps, one colour per N (log–log). "
                          + (f"Theory ({c.tier} tier) dashed"
                             + (f", the mean over the {c.seeds} seeds' own draws. " if th is not None and th.ndim == 3
                                else ". ") if th is not None else "")
                          + (f"Simulation ({c.method}): geometric mean over {c.seeds} seeds with a ±2 SE band of "
                             "log L (drawn in log space, so it never crosses zero). " if sm is not None else "")))
    loss = th if th is not None else sm
    fig = plots.plot_frontier(d["N"], t, loss, c.batch,
                              title=f"{c.model}: α={a:g}, β={b:g} ({'theory' if th is not None else 'simulation'})")
    figs.append(rp.Figure("Compute frontier (Chinchilla approach 1)", _fig(fig),
                          "Left: loss against compute C = N·t·B for every N; the minimum over N (red) and the fitted "
                          "power law. Right: the compute-optimal N*. The fit window and intervals are in the title."))
    if th is not None and sm is not None:
        fig = plots.plot_residuals(t, d["N"], th, sm, title=f"{c.model}: theory vs simulation, α={a:g}, β={b:g}",
                                   t_min=c.t_min, sim_se=d.get("sim_se"), sim_se_dof=d.get("sim_se_dof"))
        figs.append(rp.Figure("Theory against simulation", _fig(fig),
                              "Theory against the simulation over (t, N): z with the SE it states in the panel "
                              "(the paired difference where the theory is paired with the seeds), and the "
                              "distribution of z beside the Student-t it should follow."))
    return figs


def build_sections(c: _Cube) -> list[rp.Section]:
    """The paper's claims first, then every cell's measured exponents, then the one-cell figures."""
    secs = rp.claim_sections(c)
    table = _exponent_table(c)
    secs.append(rp.Section("Every cell: measured and closed-form exponents", "",
                           [table] if table is not None else [], []))
    secs.append(rp.Section("One cell in detail", (
        "The middle cell of the (α, β) grid, first P (the cell `scalinglab plot` and `analyze` draw)."), [],
        _cell_figures(c)))
    return secs


def write_report(store: str, out_dir: str | Path | None = None) -> Path:
    """Build the page for ``store`` and write ``<out_dir>/index.html``; returns its path."""
    c = _Cube(store)
    out = Path(out_dir) if out_dir is not None else default_report_dir(store)
    out.mkdir(parents=True, exist_ok=True)
    attrs = dict(c.ds.attrs)
    spec_json = json.loads(attrs.get("spec", "{}"))
    wall = c.ds.wall_time.values if "wall_time" in c.ds else np.array([])
    prov = {"store": store, "model": c.model, "spec hash": attrs.get("spec_hash", "?"),
            "scalinglab version": attrs.get("scalinglab_version", "?"), "code commit": attrs.get("code_commit", "?"),
            "cube created": attrs.get("created", "?"), "conventions": attrs.get("conventions", ""),
            "compute": attrs.get("compute", ""),
            "theory": c.tier or "none", "simulation": f"{c.method} ({c.seeds} seeds)" if c.method else "none",
            "unit compute time": f"{np.nansum(wall):.1f} s over {int(np.isfinite(wall).sum())} units" if wall.size else "?"}
    if c.an is not None:
        prov["analysis written"] = c.an.attrs.get("created", "?")
        prov["analysis settings"] = c.an.attrs.get("settings", "?")
    title = f"scalinglab report: {Path(store.rstrip('/')).name} ({c.model})"
    grid = ", ".join(f"{k} × {c.ds.sizes[k]}" for k in ("alpha", "beta", "N", "P", "t"))
    sub = f"{grid}; {prov['theory']} theory; simulation {prov['simulation']}."
    html = rp.render_html(title, subtitle=sub, sections=build_sections(c), flags=_flags(c),
                          spec_text=json.dumps(spec_json, indent=1), provenance=prov)
    path = out / "index.html"
    path.write_text(html, encoding="utf-8")
    return path
