"""Prefect task: analyse a group of (alpha, beta, P) cells of a cube (fits, frontiers, residuals)."""
from __future__ import annotations

import json
from typing import Any

from prefect import task

import storage
from scalinglab.analysis.cell import AnalysisSettings, analyze_cell
from storage.analysis import read_cell

__all__ = ["analyze_cells"]


@task(name="analyze-cells", retries=2, retry_delay_seconds=1, cache_policy=None, persist_result=False)
def analyze_cells(store: str, cells: list[tuple[int, int, int]], settings_json: str, batch: float) -> list[dict[str, Any]]:
    """Analyse each cell; returns small dicts of numbers (no arrays)."""
    settings = AnalysisSettings(**json.loads(settings_json))
    ds = storage.open_cube(store)
    out = []
    for ia, ib, ip in cells:
        c = read_cell(ds, ia, ib, ip)
        res = analyze_cell(c["N"], c["t"], theory=c["theory"], sim=c["sim"], batch=batch, settings=settings)
        out.append({"cell": [ia, ib, ip], "result": res})
    return out
