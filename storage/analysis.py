"""The ``analysis`` group of a cube: per-cell fits, frontiers, exponents and residuals.

Written by the coordinator only (``mode="w"`` on the group: re-running an analysis replaces
it, so the operation is idempotent), with the fit settings in its attrs.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import numpy as np

from scalinglab.analysis.cell import DATA_FIELDS, FIT_FIELDS, FRONTIER_CURVE, INTERVAL_KINDS, RESIDUAL_FIELDS
from scalinglab.analysis.residuals import SE_KINDS
from scalinglab.spec import SweepSpec

__all__ = ["GROUP", "PREFIX", "read_cell", "positive_t", "write_analysis", "open_analysis", "analysis_exists", "stored_cell",
           "current_analysis", "cell_key", "StoredAnalysis"]

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
    "resid_max_rel": "max over (N, t >= t_min) of |theory mean - sim mean| / sim mean",
    "resid_max_z": "max over (N, t >= t_min) of |z|, z = (theory - sim) / SE (the SE named in resid_kind)",
    "resid_frac_z3": "fraction of (N, t >= t_min) values with |z| > 3",
    "resid_frac_z3_expected": "P(|T| > 3) for T Student-t with resid_dof degrees of freedom (theory = sim mean)",
    "resid_dof": "degrees of freedom of z's Student-t",
    "resid_n": "(N, t >= t_min) values compared", "resid_excluded": "(N, t >= t_min) values flagged or non-finite, excluded",
    "n_values": "(N, t >= t_min) values of the cell", "n_excluded": "of them flagged by the theory tier or non-finite, excluded",
    "surface_flag": "1 where the surface fit is outside the physical ranges or not identifiable (values left NaN)",
    "frontier_flag": "1 where the approach-1 exponents are outside the physical ranges (values left NaN)",
}


def cell_key(ia: int, ib: int, ip: int) -> str:
    """Key of a cell in the group's JSON attrs (``why``, ``intervals``)."""
    return f"{ia},{ib},{ip}"


def read_cell(ds, ia: int, ib: int, ip: int) -> dict[str, Any]:
    """N, t and the loss arrays of one (alpha, beta, P) cell from an open cube (numpy): an
    xarray cube (:func:`storage.open_cube`) or a zarr-only one (:func:`storage.select.open_arrays`,
    which the command line uses: no xarray import). One reader for both:
    :meth:`storage.select.CubeArrays.cell`."""
    from .select import CubeArrays, arrays_of_dataset

    return (ds if isinstance(ds, CubeArrays) else arrays_of_dataset(ds)).cell(ia, ib, ip)


def positive_t(cell: dict[str, Any]) -> dict[str, Any]:
    """``cell`` (:func:`read_cell`) at its checkpoints t > 0 only, every array sliced on its last
    (t) axis: what the log-t figures draw."""
    keep = cell["t"] > 0
    return {k: (v[..., keep] if isinstance(v, np.ndarray) and k != "N" else v) for k, v in cell.items()}


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
                part = "frontier" if base in ("xi", "eta") else "surface"
                kinds = sorted({r.get("interval", {}).get(method, {}).get(part, "none") for r in results.values()}
                               - {"none"}) or ["none"]
                attrs["interval_kind"] = ", ".join(kinds)
                attrs["interval"] = (f"{'lower' if f.endswith('_lo') else 'upper'} end of {base}: " + "; ".join(
                    INTERVAL_KINDS[k].format(conf=settings["confidence"]) for k in kinds))
            data[f"{prefix}_{f}"] = (("alpha", "beta", "P"), arr, attrs)
        n_c = int(settings.get("n_compute", 40))
        for f in FRONTIER_CURVE:
            arr = np.full((ga, gb, gp, n_c), np.nan)
            for (ia, ib, ip), res in results.items():
                curve = res.get("curve", {}).get(method)
                if curve is not None:
                    arr[ia, ib, ip, :len(curve[f])] = curve[f]
            data[f"{prefix}_frontier_{f}"] = (("alpha", "beta", "P", "frontier_point"), arr, {
                "description": f"approach-1 frontier {f} on the compute grid (what the frontier figure draws)",
                "method": method})
    for f in RESIDUAL_FIELDS:
        arr = np.full((ga, gb, gp), np.nan)
        for (ia, ib, ip), res in results.items():
            if "residuals" in res:
                arr[ia, ib, ip] = res["residuals"][f]
        data[f] = (("alpha", "beta", "P"), arr, {"description": _DESCRIPTIONS[f]})
    resid_kinds = sorted({r["resid_kind"] for r in results.values() if "resid_kind" in r})
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
                           "resid_kind": ", ".join(resid_kinds),
                           "resid_se": "; ".join(SE_KINDS[k] for k in resid_kinds),
                           "why": json.dumps({cell_key(*c): r["why"] for c, r in results.items() if r.get("why")}),
                           "intervals": json.dumps({cell_key(*c): r["interval"] for c, r in results.items()
                                                    if r.get("interval")}),
                           "analyzed_cells": json.dumps([list(c) for c in results]),
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


class StoredAnalysis:
    """The analysis group read without xarray, pandas or zarr (``scalinglab status``, ``fit``,
    ``frontier`` and ``plot`` start without them): its ``attrs``, ``name in an``, and
    ``an.values(name)``, each variable's whole array (read once by
    :func:`storage.select.read_array`; they are small)."""

    def __init__(self, store: str, storage_options: dict[str, Any] | None = None) -> None:
        from .select import read_attrs

        self._store, self._options = store, storage_options
        self.attrs = read_attrs(store, GROUP, storage_options)
        self._values: dict[str, np.ndarray] = {}
        self._names: set[str] | None = None

    def __contains__(self, name: str) -> bool:
        if self._names is None:  # one listing of the group, not one lookup per name
            from .paths import filesystem, join

            fs, root = filesystem(self._store, self._options)
            self._names = {e["name"].rstrip("/").rsplit("/", 1)[-1] for e in fs.ls(join(root, GROUP), detail=True)
                           if e["type"] == "directory"}
        return name in self._names

    def values(self, name: str) -> np.ndarray:
        from .select import read_array

        if name not in self._values:
            self._values[name] = read_array(self._store, f"{GROUP}/{name}", self._options)
        return self._values[name]


def current_analysis(store: str, spec: SweepSpec, storage_options: dict[str, Any] | None = None) -> StoredAnalysis | None:
    """The cube's analysis group (read without xarray or zarr: :class:`StoredAnalysis`) if it
    exists and was made from this cube's spec, else None."""
    if not analysis_exists(store, storage_options):
        return None
    an = StoredAnalysis(store, storage_options)
    if an.attrs.get("spec_hash") != spec.hash:
        return None
    return an


def _cell_value(an, name: str, ia: int, ib: int, ip: int) -> np.ndarray:
    """A variable at one (alpha, beta, P) cell, from a :class:`StoredAnalysis` or an xarray
    analysis group (:func:`open_analysis`)."""
    if isinstance(an, StoredAnalysis):
        return an.values(name)[ia, ib, ip]
    return an[name].isel(alpha=ia, beta=ib, P=ip).values


def stored_cell(an, ia: int, ib: int, ip: int, method: str) -> dict[str, Any] | None:
    """One cell's stored numbers for a method: ``{"fields": {...}, "why": {...}, "interval": {...},
    "curve": {...} or None}``, or None when the analysis did not reach the cell. ``an``: a
    :class:`StoredAnalysis` (:func:`current_analysis`) or an xarray group (:func:`open_analysis`)."""
    cells = {tuple(c) for c in json.loads(an.attrs.get("analyzed_cells", "[]"))}
    prefix = PREFIX[method]
    if (ia, ib, ip) not in cells or f"{prefix}_xi" not in an:
        return None
    fields = {f: float(_cell_value(an, f"{prefix}_{f}", ia, ib, ip)) for f in FIT_FIELDS if f"{prefix}_{f}" in an}
    key = cell_key(ia, ib, ip)
    why = json.loads(an.attrs.get("why", "{}")).get(key, {}).get(method, {})
    interval = json.loads(an.attrs.get("intervals", "{}")).get(key, {}).get(method, {})
    curve = None
    if f"{prefix}_frontier_C" in an:
        c = {f: np.asarray(_cell_value(an, f"{prefix}_frontier_{f}", ia, ib, ip), float) for f in FRONTIER_CURVE}
        if np.isfinite(c["C"]).any():
            curve = c
    return {"fields": fields, "why": why, "interval": interval, "curve": curve}
