"""Prefect task: analyse a group of (alpha, beta, P) cells of a cube (fits, frontiers, residuals)."""
from __future__ import annotations

import json
from typing import Any

from prefect import task

import storage
import numpy as np

from scalinglab.analysis.cell import AnalysisSettings, analyze_cell, analyze_data_surface
from storage.analysis import read_cell

__all__ = ["analyze_cells", "analyze_data_surfaces"]


@task(name="analyze-cells", retries=2, retry_delay_seconds=1, cache_policy=None, persist_result=False)
def analyze_cells(store: str, cells: list[tuple[int, int, int]], settings_json: str, batch: float) -> list[dict[str, Any]]:
    """Analyse each cell; returns small dicts of numbers (no arrays)."""
    settings = AnalysisSettings(**json.loads(settings_json))
    ds = storage.open_cube(store)
    out = []
    for ia, ib, ip in cells:
        c = read_cell(ds, ia, ib, ip)
        res = analyze_cell(c["N"], c["t"], theory=c["theory"], sim=c["sim"], theory_flag=c["theory_flag"], batch=batch,
                           settings=settings, sim_se=c.get("sim_se"), sim_se_dof=c.get("sim_se_dof"))
        out.append({"cell": [ia, ib, ip], "result": res})
    return out


@task(name="analyze-data-surfaces", retries=2, retry_delay_seconds=1, cache_policy=None, persist_result=False)
def analyze_data_surfaces(store: str, pairs: list[tuple[int, int]], settings_json: str) -> list[dict[str, Any]]:
    """Fit L(t, N, P) with the data term over the finite P of each (alpha, beta) pair."""
    settings = AnalysisSettings(**json.loads(settings_json))
    ds = storage.open_cube(store)
    finite = np.isfinite(ds.P.values)
    out = []
    for ia, ib in pairs:
        cell = ds.isel(alpha=ia, beta=ib, P=np.flatnonzero(finite))
        res: dict[str, Any] = {}
        if "theory_loss" in ds:
            th = cell.theory_loss
            if "theory_flag" in ds:  # flagged values are left out
                th = th.where(~cell.theory_flag.astype(bool))
            paired = "seed" in th.dims
            res["theory"] = analyze_data_surface(ds.N.values, ds.P.values[finite], ds.t.values,
                                                 th.transpose("N", "P", *(("seed",) if paired else ()), "t").values,
                                                 seed_axis=2 if paired else None, settings=settings)
        if "sim_loss" in ds:
            res["simulation"] = analyze_data_surface(ds.N.values, ds.P.values[finite], ds.t.values,
                                                     cell.sim_loss.transpose("N", "P", "seed", "t").values,
                                                     seed_axis=2, settings=settings)
        out.append({"pair": [ia, ib], "result": res})
    return out
