"""The ``analysis`` group of a cube: per-cell fits, frontiers, exponents and residuals.

Written by the coordinator only (``mode="w"`` on the group: re-running an analysis replaces
it, so the operation is idempotent), with the fit settings in its attrs.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import numpy as np

from scalinglab.analysis.cell import DATA_FIELDS, FIT_FIELDS, RESIDUAL_FIELDS
from scalinglab.spec import SweepSpec

__all__ = ["GROUP", "PREFIX", "read_cell", "write_analysis", "open_analysis", "analysis_exists"]

GROUP = "analysis"
#: method -> variable prefix in the analysis group (``theory_xi``, ``sim_xi``, ...)
PREFIX = {"theory": "theory", "simulation": "sim"}

_DESCRIPTIONS = {
    "L0": "irreducible loss of the fitted surface L = L0 + a_t t^-r_t + a_N N^-r_N",
    "r_t": "time exponent of the fitted surface", "r_N": "model-size exponent of the fitted surface",
    "a_t": "time amplitude", "a_N": "model-size amplitude", "fit_loss": "sum of Huber losses at the optimum",
    "xi": "compute-optimal N* ∝ C^xi, Chinchilla approach 1 (min over N at C = N t B)",
    "eta": "compute-optimal L* ∝ C^-eta, Chinchilla approach 1",
    "xi3": "xi from the fitted surface (approach 3): r_t/(r_t+r_N)",
    "eta3": "eta from the fitted surface (approach 3): r_t r_N/(r_t+r_N)",
    "C_lo": "lower end of the compute window of the approach-1 fit", "C_hi": "upper end of that window",
    "edge_hit": "1 if a frontier point in the window has N* at the edge of the N grid",
    "resid_max_rel": "max over (N, t) of |theory - sim mean| / sim mean",
    "resid_max_z": "max over (N, t) of |theory - sim mean| / (seed standard error)",
}


def read_cell(ds, ia: int, ib: int, ip: int) -> dict[str, Any]:
    """N, t and the loss arrays of one (alpha, beta, P) cell from an open cube (numpy)."""
    cell = ds.isel(alpha=ia, beta=ib, P=ip)
    out: dict[str, Any] = {"N": ds.N.values, "t": ds.t.values, "theory": None, "sim": None}
    if "theory_loss" in ds:
        out["theory"] = cell.theory_loss.transpose("N", "t").values
    if "sim_loss" in ds:
        out["sim"] = cell.sim_loss.transpose("N", "seed", "t").values
    return out


def write_analysis(store: str, spec: SweepSpec, results: dict[tuple[int, int, int], dict[str, dict[str, float]]],
                   settings: dict[str, Any], storage_options: dict[str, Any] | None = None,
                   data_surfaces: dict[tuple[int, int], dict[str, dict[str, float]]] | None = None) -> None:
    import xarray as xr

    shape = spec.grid_shape
    ga, gb, _, gp = shape
    data: dict[str, Any] = {}
    for method, prefix in PREFIX.items():
        if method not in spec.methods:
            continue
        for f in FIT_FIELDS:
            arr = np.full((ga, gb, gp), np.nan)
            for (ia, ib, ip), res in results.items():
                if method in res:
                    arr[ia, ib, ip] = res[method][f]
            base = f.removesuffix("_lo").removesuffix("_hi")
            attrs = {"description": _DESCRIPTIONS.get(base, base), "method": method}
            if f.endswith(("_lo", "_hi")):
                attrs["interval"] = f"{settings['confidence']:.0%} {'lower' if f.endswith('_lo') else 'upper'} bound of {base}"
            data[f"{prefix}_{f}"] = (("alpha", "beta", "P"), arr, attrs)
    for f in RESIDUAL_FIELDS:
        arr = np.full((ga, gb, gp), np.nan)
        for (ia, ib, ip), res in results.items():
            if "residuals" in res:
                arr[ia, ib, ip] = res["residuals"][f]
        data[f] = (("alpha", "beta", "P"), arr, {"description": _DESCRIPTIONS[f]})
    for method, prefix in PREFIX.items():
        if not data_surfaces or method not in spec.methods:
            continue
        for f in DATA_FIELDS:
            arr = np.full((ga, gb), np.nan)
            for (ia, ib), res in data_surfaces.items():
                if method in res:
                    arr[ia, ib] = res[method][f]
            data[f"{prefix}_data_{f}"] = (("alpha", "beta"), arr, {
                "description": f"{f} of L(t, N, P) = L0 + a_t t^-r_t + a_N N^-r_N + a_P P^-r_P fitted over the "
                               "finite P of the (alpha, beta) cell", "method": method})
    ds = xr.Dataset(data, coords={"alpha": spec.alpha, "beta": spec.beta, "P": spec.P.astype(float)},
                    attrs={"settings": json.dumps(settings), "spec_hash": spec.hash,
                           "compute": "C = N * t * B", "cells_analyzed": len(results),
                           "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    ds.to_zarr(store, group=GROUP, mode="w", zarr_format=3, consolidated=False, storage_options=storage_options)


def analysis_exists(store: str, storage_options: dict[str, Any] | None = None) -> bool:
    from .paths import filesystem, join

    fs, root = filesystem(store, storage_options)
    return fs.exists(join(root, GROUP, "zarr.json"))


def open_analysis(store: str, storage_options: dict[str, Any] | None = None):
    import xarray as xr

    from scalinglab.errors import SpecError

    if not analysis_exists(store, storage_options):
        raise SpecError("cli", "STORE", store, "a cube with an analysis group", "Run `scalinglab analyze STORE` first")
    return xr.open_zarr(store, group=GROUP, consolidated=False, zarr_format=3, storage_options=storage_options)
