"""Public ``scalinglab.analysis`` API: scaling-surface fits, compute-optimal frontiers, residuals.

See ``fit.py``, ``frontier.py`` and ``residuals.py`` for details (numpy in, numpy out). The
names are imported on first use, so that ``import scalinglab.analysis.cell`` (the grid's
prerequisites, settings) does not pay for scipy.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "ScalingSurface": "fit", "grid_points": "fit",
    "ComputeFrontier": "frontier", "SurfaceFrontier": "frontier", "frontier_exponents": "frontier",
    "frontier_points": "frontier", "surface_frontier": "frontier",
    "seed_mean_se": "residuals", "relative_difference": "residuals", "max_relative_difference": "residuals",
    "standardized_deviation": "residuals", "max_standardized_deviation": "residuals",
    "ResidualMap": "residuals", "residual_map": "residuals",
}

__all__ = list(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"scalinglab.analysis.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'scalinglab.analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
