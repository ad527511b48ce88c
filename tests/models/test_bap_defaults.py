"""BAP's defaults are valid together (issue 14 item): an unset lr resolves from the stability bound for
the grid, so the default M and lr pass the domain check and discrete GD does not diverge."""
from __future__ import annotations

import math

import numpy as np
import pytest

from scalinglab.models import bap
from scalinglab.models.base import Point
from scalinglab.spec import parse_spec

GRIDS = [dict(alpha=[0.75, 1.5], beta=[0.25], N=[16, 256], P=[32, 1024]),
         dict(alpha=[0.6], beta=[0.5], N=[4, 64], P=[8]),
         dict(alpha=[1.0], beta=[0.5], N=["inf"], P=["inf"]),
         dict(alpha=[0.6], beta=[0.5], N=[8], P=[8, "inf"])]


@pytest.mark.parametrize("grid", GRIDS)
def test_default_lr_is_half_the_stability_bound_and_passes_the_domain(grid):
    spec = parse_spec({"model": "bap", "methods": ["theory", "simulation"], "grid": {**grid, "t": [1, 1000]},
                       "store": {"path": "x.zarr"}})
    lr = spec.params.lr
    lam_hat = max(bap.stability_estimate(a, bap.M_CAP, float(min(spec.N)), float(min(spec.P))) for a in spec.alpha)
    assert 0.45 <= lr * lam_hat <= 0.5  # two significant digits, rounded down
    assert spec.params.M is not None


def test_default_lr_gd_does_not_diverge_at_small_N_and_P():
    """N = 4, P = 8 (the largest lambda_max of these grids): 16 draws of discrete GD to t = 10^4 stay bounded
    (measured: at most 3.3 x the initial loss, the small-sample overfit); lr = 0.5 (the old default) diverges."""
    t = np.array([0, 10, 100, 10_000])
    p = bap.Params(M=512)
    pt = Point(0.6, 0.5, 8.0, np.array([4.0]), t, p)
    rngs = [[np.random.default_rng([5, s]) for s in range(16)]]
    loss = bap.simulate(pt, rngs, method="closed_form").values["loss"][0]
    assert np.all(np.isfinite(loss)) and np.max(loss) < 10 * loss[0, 0]
    old = bap.simulate(Point(0.6, 0.5, 8.0, np.array([4.0]), t, bap.Params(M=512, lr=0.5)), rngs,
                       method="closed_form").values["loss"][0]
    assert np.max(old[:, -1]) > 1e6 or not np.all(np.isfinite(old))
    assert math.isclose(bap.resolve_lr([0.6], [4.0], [8.0]), bap.Params(M=512).model_copy(
        update={"lr": bap.resolve_lr([0.6], [4.0], [8.0])}).lr)
