"""The ``analyze`` flow: fits and frontiers for every (alpha, beta, P) cell, fanned out over Ray
like a sweep, written back into the cube's ``analysis`` group, then rendered as PNG figures."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow
from prefect.futures import as_completed

import storage
from scalinglab.analysis.cell import AnalysisSettings
from scalinglab.models.base import replicas_of
from storage.analysis import positive_t, read_cell, write_analysis
from tasks.analyze import analyze_cells, analyze_data_surfaces

__all__ = ["analyze_flow", "run_analysis", "render_figures", "default_out_dir", "batch_of"]

CELLS_PER_TASK_TARGET_S = 2.0
CELL_SECONDS = 0.5  # measured: ~0.3-0.4 s per cell with both methods (quickstart cube)


def batch_of(spec) -> float:
    """B in the compute C = N t B, from the model (``Model.samples_per_step``)."""
    return float(spec.model_module().samples_per_step(spec.params))


@flow(name="analyze", validate_parameters=False)
def analyze_flow(store: str, cell_groups: list[list[tuple[int, int, int]]], settings_json: str,
                 batch: float, pair_groups: list[list[tuple[int, int]]] | None = None) -> dict[str, Any]:
    """Submit one task per group of cells (and of (alpha, beta) pairs for the data-term
    surfaces); collect their numbers (failures are reported, not fatal)."""
    futures = [analyze_cells.submit(store, g, settings_json, batch) for g in cell_groups]
    futures += [analyze_data_surfaces.submit(store, g, settings_json) for g in (pair_groups or [])]
    results: dict[tuple[int, int, int], Any] = {}
    data: dict[tuple[int, int], Any] = {}
    errors: list[str] = []
    for fut in as_completed(futures):
        try:
            for item in fut.result():
                if "cell" in item:
                    results[tuple(item["cell"])] = item["result"]
                else:
                    data[tuple(item["pair"])] = item["result"]
        except Exception as err:  # one bad group never stops the rest
            errors.append(f"{type(err).__name__}: {err}")
    return {"results": results, "data_surfaces": data, "errors": errors}


def default_out_dir(store: str) -> Path:
    name = store.rstrip("/").split("/")[-1].removesuffix(".zarr")
    if "://" in store:
        return Path(f"{name}_figures")
    return Path(store.rstrip("/")).parent / f"{name}_figures"


def _cells(spec) -> list[tuple[int, int, int]]:
    return [(ia, ib, ip) for ia in range(spec.alpha.size) for ib in range(spec.beta.size) for ip in range(spec.P.size)]


def run_analysis(store: str, *, ray_address: str | None = None, out_dir: str | Path | None = None,
                 settings: AnalysisSettings | None = None, figures: bool = True) -> dict[str, Any]:
    """Analyse a cube (done cells only) on a RayTaskRunner, write ``analysis/``, render figures."""
    from flows.server import prefect_api
    from flows.sweep import ray_runner

    spec = storage.read_spec(store)
    settings = settings or AnalysisSettings()
    status = storage.open_cube(store).status.values
    done = [c for c in _cells(spec) if np.all(status[c[0], c[1], :, c[2]] == storage.DONE)]
    per = max(1, math.ceil(CELLS_PER_TASK_TARGET_S / CELL_SECONDS))
    groups = [done[i:i + per] for i in range(0, len(done), per)]
    pair_groups: list[list[tuple[int, int]]] = []
    if int(np.isfinite(spec.P).sum()) >= 3:  # the data term a_P P^-r_P, where P varies
        finite = np.isfinite(spec.P)
        pairs = [(ia, ib) for ia in range(spec.alpha.size) for ib in range(spec.beta.size)
                 if np.all(status[ia, ib][:, finite] == storage.DONE)]
        pair_groups = [[p] for p in pairs]
    start = time.perf_counter()
    results: dict[tuple[int, int, int], Any] = {}
    data: dict[tuple[int, int], Any] = {}
    errors: list[str] = []
    if groups or pair_groups:
        with prefect_api():
            out = analyze_flow.with_options(task_runner=ray_runner(ray_address))(
                store, groups, json.dumps(settings.to_dict()), batch_of(spec), pair_groups)
        results, data, errors = out["results"], out["data_surfaces"], out["errors"]
    write_analysis(store, spec, results, settings.to_dict(), spec.storage_options or None, data_surfaces=data)
    paths: list[str] = []
    if figures and results:
        paths = render_figures(store, out_dir or default_out_dir(store))
    return {"store": store, "cells": len(_cells(spec)), "cells_analyzed": len(results),
            "data_surfaces": len(data), "errors": errors,
            "seconds": time.perf_counter() - start, "figures": paths}


def _representative(ds) -> tuple[int, int, int]:
    """The middle cell of the grid (all units done), for the one-cell figures."""
    return ds.sizes["alpha"] // 2, ds.sizes["beta"] // 2, 0


def render_figures(store: str, out_dir: str | Path, cell: tuple[int, int, int] | None = None) -> list[str]:
    """Curves, frontier and residuals of one cell, and the phase maps (models with a phase diagram, >= 2 alpha
    and beta). The frontier is the analysis group's stored computation (never refitted here); the
    residuals use its settings' ``t_min`` and the theory's flags."""
    from scalinglab import plots
    from storage.analysis import current_analysis, stored_cell

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ds = storage.open_cube(store)
    spec = storage.read_spec(store)
    ia, ib, ip = cell or _representative(ds)
    c = read_cell(ds, ia, ib, ip)
    a, b, P = float(ds.alpha[ia]), float(ds.beta[ib]), float(ds.P[ip])
    an = current_analysis(store, spec, spec.storage_options or None)
    settings = json.loads(an.attrs["settings"]) if an is not None else AnalysisSettings().to_dict()
    paths = []
    w = positive_t(c)  # the log-t axis
    t, th, sm, flag = w["t"], w["theory"], w["sim"], w["theory_flag"]
    th_curve = th.mean(axis=1) if th is not None and th.ndim == 3 else th  # paired theory: its mean over draws
    p = out / "curves.png"
    plots.plot_curves(t, c["N"], sim=sm, theory=th_curve, alpha=a, beta=b, P=P, model=spec.model, path=str(p),
                      replicas=replicas_of(spec.params))
    paths.append(str(p))
    method = "theory" if th is not None else "simulation"
    loss = th if th is not None else sm
    stored = stored_cell(an, ia, ib, ip, method) if an is not None else None
    record = plots.frontier_record({}, method, settings["confidence"], stored=stored) if stored else None
    p = out / "frontier.png"
    plots.plot_frontier(c["N"], t, loss, batch_of(spec), frontier=record,
                        title=f"{spec.model}: α={a:g}, β={b:g} ({method})", path=str(p))
    paths.append(str(p))
    if th is not None and sm is not None:
        p = out / "residuals.png"
        plots.plot_residuals(t, c["N"], th, sm, t_min=settings["t_min"], theory_flag=flag, sim_se=w.get("sim_se"),
                             sim_se_dof=w.get("sim_se_dof"),
                             title=f"{spec.model}: theory vs simulation, α={a:g}, β={b:g}", path=str(p))
        paths.append(str(p))
    if spec.model_module().phase_diagram is not None and ds.sizes["alpha"] >= 2 and ds.sizes["beta"] >= 2 and an is not None:
        for q in ("xi", "eta"):
            p = out / f"phase_map_{q}.png"
            phase_map(store, str(p), quantity=q)
            paths.append(str(p))
    return paths


def phase_map(store: str, path: str, *, quantity: str = "xi", method: str | None = None, P_index: int = 0) -> str:
    """Measured xi (or eta) over the (alpha, beta) plane with the model's phase diagram overlaid (if it has one)."""
    from scalinglab import plots

    from storage.analysis import PREFIX

    phases = storage.read_spec(store).model_module().phase_diagram
    an = storage.open_analysis(store)
    method = method or ("theory" if f"theory_{quantity}" in an else "simulation")
    name = f"{PREFIX[method]}_{quantity}"
    if name not in an:
        from scalinglab.errors import SpecError

        raise SpecError("cli", "--method", method, f"one of {[m for m, p in PREFIX.items() if f'{p}_{quantity}' in an]}")
    measured = an[name].isel(P=P_index).values
    alpha, beta = an.alpha.values, an.beta.values
    pad_a, pad_b = 0.5 * np.ptp(alpha) / max(alpha.size - 1, 1), 0.5 * np.ptp(beta) / max(beta.size - 1, 1)
    a_rng, b_rng = (alpha.min() - pad_a, alpha.max() + pad_a), (beta.min() - pad_b, beta.max() + pad_b)
    bounds, labels, unproven, overlay = [], [], [], ""
    if phases is not None:
        bounds = [(x, y) for _, x, y in phases.boundaries(a_rng, b_rng)]
        labels = [(name, a, b, proven) for name, a, b, proven in phases.labels()
                  if a_rng[0] <= a <= a_rng[1] and b_rng[0] <= b <= b_rng[1]]
        unproven = list(getattr(phases, "unproven", lambda a, b: [])(a_rng, b_rng))  # derived, not proven: hatched
        overlay = f" with {getattr(phases, 'TITLE', 'the phase diagram')}"
    sym = "ξ" if quantity.startswith("xi") else "η"
    plots.plot_phase_map(alpha, beta, measured, boundaries=bounds, labels=labels, unproven=unproven, quantity=sym,
                         title=f"measured {sym} ({method}){overlay}", path=path)
    return path
