"""Public ``scalinglab.analysis`` API: scaling-surface fits, compute-optimal frontiers, residuals.

See ``fit.py``, ``frontier.py`` and ``residuals.py`` for details (numpy in, numpy out).
"""
from scalinglab.analysis.fit import ScalingSurface, grid_points
from scalinglab.analysis.frontier import (
    ComputeFrontier,
    SurfaceFrontier,
    frontier_exponents,
    frontier_points,
    surface_frontier,
)
from scalinglab.analysis.residuals import (
    max_relative_difference,
    max_standardized_deviation,
    relative_difference,
    seed_mean_se,
    standardized_deviation,
)

__all__ = [
    "ScalingSurface",
    "grid_points",
    "ComputeFrontier",
    "SurfaceFrontier",
    "frontier_exponents",
    "frontier_points",
    "surface_frontier",
    "seed_mean_se",
    "relative_difference",
    "max_relative_difference",
    "standardized_deviation",
    "max_standardized_deviation",
]
