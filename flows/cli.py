"""The ``scalinglab`` command line.

Exit status: 0 all done, 1 some units failed, 2 bad input (one line on stderr naming the
field, the value and the allowed range; nothing written).
"""
from __future__ import annotations

import functools
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import typer

from flows.server import quiet_defaults

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Sweeps, cubes and fits for solvable neural scaling-law models.")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def cli_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn SpecError (and other bad-input errors) into one stderr line and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from scalinglab.errors import SpecError

        try:
            return fn(*args, **kwargs)
        except SpecError as err:
            _fail(str(err))

    return wrapper


def _console():
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def _print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:
        table.add_row(*[str(x) for x in r])
    _console().print(table)


def _summary(store: str, spec, result: dict[str, Any] | None, as_json: bool) -> int:
    import storage

    counts = storage.status_counts(spec, store, spec.storage_options or None)
    failures = storage.read_failures(store, spec.storage_options or None)
    payload = {"store": store, "model": spec.model, **counts,
               "failures": [{"block": f["block"], "units": f["units"], "error": f["error"].splitlines()[0]}
                            for f in failures]}
    if result:
        payload.update(wall_seconds=round(result["wall_seconds"], 3), block_seconds=round(result["block_seconds"], 3),
                       blocks_run=result["submitted"])
    if as_json:
        typer.echo(json.dumps(payload, indent=2))
    else:
        rows = [["units", counts["units_done"], counts["units_failed"], counts["units_pending"], counts["units_total"]],
                ["blocks", counts["blocks_done"], counts["blocks_failed"], counts["blocks_pending"], counts["blocks_total"]]]
        _print_table(f"{spec.model} cube {store}", ["", "done", "failed", "pending", "total"], rows)
        for f in payload["failures"]:
            cells = ", ".join(f"(alpha={u['alpha']:g}, beta={u['beta']:g}, P={u['P']:g})" for u in f["units"])
            typer.echo(f"failed block {f['block']} {cells}: {f['error']}")
        if result:
            typer.echo(f"ran {result['submitted']} blocks in {result['wall_seconds']:.1f} s wall "
                       f"({result['block_seconds']:.1f} s of block compute)")
    if counts["units_failed"]:
        return EXIT_FAILED
    return EXIT_OK


def _execute(store: str, spec, blocks: list, ray_address: Optional[str], num_cpus: Optional[int],
             progress: bool) -> dict[str, Any] | None:
    from flows.sweep import execute

    return execute(store, spec, blocks, ray_address=ray_address, num_cpus=num_cpus, show_progress=progress,
                   note=lambda msg: typer.echo(msg, err=True))


ProgressOpt = typer.Option(None, "--progress/--no-progress", help="live progress bar (default: on a terminal)")


@app.command()
@cli_errors
def run(spec_path: Path = typer.Argument(..., metavar="SPEC", help="sweep spec (TOML)"),
        store: Optional[str] = typer.Option(None, help="override the spec's [store] path"),
        ray_address: Optional[str] = typer.Option(None, help="join an existing Ray cluster (e.g. 10.0.0.1:6379)"),
        num_cpus: Optional[int] = typer.Option(None, min=1, help="local Ray CPUs (default: all)"),
        force: bool = typer.Option(False, help="resume even if the code version differs from the cube's"),
        progress: Optional[bool] = ProgressOpt,
        as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Validate SPEC, create (or reopen) its cube and compute every pending block."""
    quiet_defaults()
    import storage
    from flows.sweep import open_or_create

    spec, store = open_or_create(spec_path, store, force=force)
    blocks = storage.pending_blocks(spec, store, storage_options=spec.storage_options or None)
    result = _execute(store, spec, blocks, ray_address, num_cpus, sys.stdout.isatty() if progress is None else progress)
    raise typer.Exit(_summary(store, spec, result, as_json))


@app.command()
@cli_errors
def resume(store: str = typer.Argument(..., metavar="STORE"),
           failed: bool = typer.Option(False, "--failed", help="re-run only the failed blocks"),
           ray_address: Optional[str] = typer.Option(None, help="join an existing Ray cluster"),
           num_cpus: Optional[int] = typer.Option(None, min=1),
           force: bool = typer.Option(False, help="resume even if the code version differs from the cube's"),
           progress: Optional[bool] = ProgressOpt,
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Run what is not done in STORE, from the spec stored in the cube."""
    quiet_defaults()
    import storage

    from flows.sweep import check_code_version

    spec = storage.read_spec(store)
    check_code_version(store, spec, force)
    blocks = storage.pending_blocks(spec, store, only_failed=failed)
    if not blocks:
        typer.echo("nothing to do: every block is done" if not failed else "nothing to do: no failed blocks")
    result = _execute(store, spec, blocks, ray_address, num_cpus, sys.stdout.isatty() if progress is None else progress)
    raise typer.Exit(_summary(store, spec, result, as_json))


@app.command()
@cli_errors
def plan(spec_path: Path = typer.Argument(..., metavar="SPEC"),
         num_cpus: int = typer.Option(os.cpu_count() or 1, min=1, help="CPUs to estimate the wall time for"),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the blocks, units and a cost estimate of SPEC without running anything."""
    from scalinglab.spec import load_spec

    spec = load_spec(spec_path)
    blocks = spec.blocks()
    core_s = spec.estimate_seconds()
    info = {"model": spec.model, "methods": list(spec.methods), "grid_shape": dict(zip(("alpha", "beta", "N", "P"), spec.grid_shape)),
            "t_checkpoints": int(spec.t.size), "seeds": spec.seeds, "units": spec.n_units, "blocks": len(blocks),
            "block_shape": dict(zip(("alpha", "beta", "N", "P"), spec.chunks)),
            "estimated_core_seconds": float(f"{core_s:.3g}"),
            "estimated_wall_seconds": float(f"{core_s / min(num_cpus, len(blocks)) + 0.3 * len(blocks) / num_cpus:.3g}"),
            "spec_hash": spec.hash, "store": spec.store_path,
            "params": spec.params.model_dump(mode="json")}
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    rows = [[k, json.dumps(v) if isinstance(v, (dict, list)) else v] for k, v in info.items()]
    _print_table(f"plan for {spec_path}", ["", "value"], rows)


@app.command()
@cli_errors
def status(store: str = typer.Argument(..., metavar="STORE"),
           verify: bool = typer.Option(False, "--verify", help="read every done chunk; mark unreadable blocks pending"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Counts of done/failed/pending units and blocks, with the reasons of failures."""
    import storage
    from storage.lock import is_stale

    spec = storage.read_spec(store)
    if verify:
        lock = storage.read_lock(store)
        if lock and not is_stale(lock):
            _fail(f"store: {store} is being written by pid {lock.get('pid')} on {lock.get('host')}; verify after it ends")
        for block, why in storage.verify_blocks(spec, store):
            typer.echo(f"block {block.id} reset to pending: {why}", err=True)
    raise typer.Exit(_summary(store, spec, None, as_json))


@app.command()
@cli_errors
def unlock(store: str = typer.Argument(..., metavar="STORE")) -> None:
    """Remove the writer lock of STORE (after its sweep was killed on another host)."""
    import storage

    held = storage.read_lock(store)
    if not held:
        typer.echo("no lock held")
        return
    storage.break_lock(store)
    typer.echo(f"removed the lock of pid {held.get('pid')} on {held.get('host')}")


def _cells_from_sel(ds, sel: list[str]) -> list[tuple[int, int, int]]:
    """(ia, ib, ip) of every cell matching --sel alpha=/beta=/P= (all cells if none given)."""
    chosen = _parse_sel(ds, sel)
    idx = {}
    for dim in ("alpha", "beta", "P"):
        values = ds[dim].values
        idx[dim] = [i for i, v in enumerate(values) if dim not in chosen or v == chosen[dim]]
    return [(a, b, p) for a in idx["alpha"] for b in idx["beta"] for p in idx["P"]]


def _cell_rows(ds, spec, cells, method: str, fields: list[str], n_bootstrap_fit: int = 20) -> list[dict[str, Any]]:
    from flows.analyze import batch_of
    from scalinglab.analysis.cell import AnalysisSettings, analyze_cell
    from storage.analysis import read_cell

    settings = AnalysisSettings(n_bootstrap_fit=n_bootstrap_fit)
    rows = []
    for ia, ib, ip in cells:
        c = read_cell(ds, ia, ib, ip)
        if method == "theory":
            c["sim"] = None
        else:
            c["theory"] = None
        if (c["theory"] if method == "theory" else c["sim"]) is None:
            from scalinglab.errors import SpecError

            raise SpecError("cli", "--method", method, "a method present in the cube")
        res = analyze_cell(c["N"], c["t"], theory=c["theory"], sim=c["sim"], batch=batch_of(spec), settings=settings)
        r = res.get(method, {})
        rows.append({"alpha": float(ds.alpha[ia]), "beta": float(ds.beta[ib]), "P": _json_value(float(ds.P[ip])),
                     **{f: r.get(f, float("nan")) for f in fields}})
    return rows


def _emit_rows(title: str, rows: list[dict[str, Any]], as_json: bool, fmt_cols: dict[str, str]) -> None:
    if as_json:
        typer.echo(json.dumps([{k: _json_value(v) for k, v in r.items()} for r in rows], indent=1))
        return
    cols = ["alpha", "beta", "P", *fmt_cols]
    out = []
    for r in rows:
        line = [f"{r['alpha']:g}", f"{r['beta']:g}", str(r["P"])]
        for col, spec in fmt_cols.items():
            line.append(spec.format(**{k: (v if v is not None else float("nan")) for k, v in r.items()}))
        out.append(line)
    _print_table(title, cols, out)


def _json_value(v: Any) -> Any:
    """Exact JSON for a cell: floats round-trip (repr), NaN -> null, inf -> "inf"."""
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return v


@app.command()
@cli_errors
def serve(spec_path: Optional[Path] = typer.Option(None, "--spec", help="default spec of the `sweep` deployment"),
          store: Optional[str] = typer.Option(None, "--store", help="default store of the `resume`/`analyze` deployments"),
          cron: Optional[str] = typer.Option(None, help="cron schedule (e.g. '0 * * * *')"),
          interval: Optional[float] = typer.Option(None, min=1, help="schedule every INTERVAL seconds"),
          limit: Optional[int] = typer.Option(None, min=1, help="max concurrent flow runs")) -> None:
    """Serve Prefect deployments of sweep, resume and analyze (schedules from options or the spec)."""
    quiet_defaults(logging_level="INFO")  # an unattended service keeps its per-block logs
    from scalinglab.errors import SpecError

    if cron and interval:
        raise SpecError("cli", "--cron/--interval", f"{cron!r}/{interval}", "at most one schedule")
    if spec_path is not None:
        from scalinglab.spec import load_spec

        spec = load_spec(spec_path)  # validate now, not at the first scheduled run
        sched = spec.schedule or {}
        cron = cron or sched.get("cron")
        interval = interval or (sched.get("interval") if not cron else None)
        spec_path = spec_path.resolve()
    if cron:
        from prefect.client.schemas.schedules import CronSchedule

        try:
            CronSchedule(cron=cron)
        except ValueError:
            raise SpecError("cli", "--cron", cron, "a valid cron expression, e.g. '*/10 * * * *'") from None
    from flows.deploy import build_deployments
    from flows.deploy import serve as serve_deployments
    from flows.server import prefect_api

    deps = build_deployments(spec_path=str(spec_path) if spec_path else None, store=store, cron=cron, interval=interval)
    with prefect_api() as url:
        typer.echo(f"serving scalinglab-sweep/sweep, scalinglab-resume/resume, scalinglab-analyze/analyze on {url}")
        serve_deployments(deps, limit=limit)


def _parse_sel(ds, sel: list[str]) -> dict[str, Any]:
    from scalinglab.errors import SpecError

    out: dict[str, Any] = {}
    for item in sel:
        if "=" not in item:
            raise SpecError("cli", "--sel", item, "DIM=VALUE, e.g. alpha=1.0")
        dim, value = item.split("=", 1)
        dim = dim.strip()
        if dim not in ds.dims:
            raise SpecError("cli", "--sel", item, f"a dimension among {list(ds.dims)}")
        coord = ds[dim].values
        try:
            v = math.inf if value.strip().lower() == "inf" else float(value)
        except ValueError:
            raise SpecError("cli", "--sel", item, "a number or inf") from None
        match = [c for c in coord if (math.isinf(v) and math.isinf(c)) or (not math.isinf(v) and not math.isinf(c)
                                                                              and math.isclose(c, v, rel_tol=1e-9, abs_tol=1e-12))]
        if not match:
            raise SpecError("cli", "--sel", item, f"one of {[float(c) for c in coord]}")
        out[dim] = match[0]
    return out


@app.command()
@cli_errors
def query(store: str = typer.Argument(..., metavar="STORE"),
          sel: list[str] = typer.Option([], "--sel", help="DIM=VALUE, repeatable"),
          var: list[str] = typer.Option([], "--var", help="data variable(s); default: all loss variables"),
          fmt: str = typer.Option("table", "--format", help="table, csv or json"),
          reduce_seed: bool = typer.Option(False, "--mean-seed", help="average sim variables over seeds (adds _sem)")) -> None:
    """Print a selection of the cube as a table, CSV or JSON."""
    import storage
    from scalinglab.errors import SpecError

    if fmt not in ("table", "csv", "json"):
        raise SpecError("cli", "--format", fmt, "one of table, csv, json")
    ds = storage.open_cube(store)
    names = var or [v for v in ds.data_vars if v.startswith(("theory_", "sim_"))]
    for v in names:
        if v not in ds.data_vars:
            raise SpecError("cli", "--var", v, f"one of {sorted(ds.data_vars)}")
    sub = ds[names].sel(_parse_sel(ds, sel))
    if reduce_seed and "seed" in sub.dims:
        n = sub.sizes["seed"]
        sub = sub.assign({f"{v}_sem": sub[v].std("seed", ddof=1) / math.sqrt(n) for v in names if "seed" in sub[v].dims})
        sub = sub.mean("seed", keep_attrs=True) if n else sub
    df = sub.to_dataframe().reset_index()
    if fmt == "csv":
        typer.echo(df.to_csv(index=False), nl=False)
    elif fmt == "json":
        typer.echo(json.dumps([{k: _json_value(v) for k, v in row.items()} for row in df.to_dict(orient="records")]))
    else:
        if len(df) > 200:
            typer.echo(f"{len(df)} rows; showing the first 200 (use --format csv for all)", err=True)
        _print_table(f"{store}", list(df.columns), df.head(200).values.tolist())


MethodOpt = typer.Option("theory", "--method", help="theory or simulation")


@app.command()
@cli_errors
def analyze(store: str = typer.Argument(..., metavar="STORE"),
            ray_address: Optional[str] = typer.Option(None, help="join an existing Ray cluster"),
            out_dir: Optional[Path] = typer.Option(None, help="where to write the PNG figures (default: beside the store)"),
            n_bootstrap: int = typer.Option(20, min=0, help="bootstrap replicates of each surface fit"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Fit surfaces and frontiers for every cell (fanned out over Ray), write them into the cube's
    `analysis` group (idempotently) and render the figures."""
    quiet_defaults()
    import storage
    from flows.analyze import run_analysis
    from scalinglab.analysis.cell import AnalysisSettings

    storage_spec = storage.read_spec(store)  # validates STORE first
    summary = run_analysis(store, ray_address=ray_address, out_dir=out_dir,
                           settings=AnalysisSettings(n_bootstrap_fit=n_bootstrap))
    from storage.analysis import PREFIX

    an = storage.open_analysis(store).load()
    rows = []
    for ia, a in enumerate(an.alpha.values):
        for ib, b in enumerate(an.beta.values):
            for ip, p in enumerate(an.P.values):
                for m, prefix in PREFIX.items():
                    if f"{prefix}_xi" not in an:
                        continue
                    cell = an.isel(alpha=ia, beta=ib, P=ip)
                    vals = {f: float(cell[f"{prefix}_{f}"]) for f in ("r_t", "r_N", "L0", "xi", "xi_lo", "xi_hi",
                                                                        "eta", "eta_lo", "eta_hi", "xi3", "eta3")}
                    if np.isnan(vals["r_t"]) and np.isnan(vals["xi"]):
                        continue
                    rows.append({"alpha": float(a), "beta": float(b), "P": _json_value(float(p)), "method": m, **vals})
    if as_json:
        typer.echo(json.dumps({**summary, "model": storage_spec.model,
                               "cells": [{k: _json_value(v) for k, v in r.items()} for r in rows]}, indent=1))
    else:
        _emit_rows(f"analysis of {store} ({summary['cells_analyzed']}/{summary['cells']} cells)", rows, False,
                   {"method": "{method}", "r_t": "{r_t:.3f}", "r_N": "{r_N:.3f}", "L0": "{L0:.2e}",
                    "xi [CI]": "{xi:.3f} [{xi_lo:.3f}, {xi_hi:.3f}]", "eta [CI]": "{eta:.3f} [{eta_lo:.3f}, {eta_hi:.3f}]",
                    "xi3": "{xi3:.3f}", "eta3": "{eta3:.3f}"})
        for f in summary["figures"]:
            typer.echo(f"figure: {f}")
        for e in summary["errors"]:
            typer.echo(f"error: {e}", err=True)
    raise typer.Exit(EXIT_FAILED if summary["errors"] else EXIT_OK)


@app.command()
@cli_errors
def fit(store: str = typer.Argument(..., metavar="STORE"),
        sel: list[str] = typer.Option([], "--sel", help="alpha=, beta=, P= (repeatable); default: every cell"),
        method: str = MethodOpt,
        n_bootstrap: int = typer.Option(50, min=0, help="bootstrap replicates (intervals)"),
        as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the fitted surface L = L0 + a_t t^-r_t + a_N N^-r_N of each selected cell, with intervals."""
    import storage

    spec = storage.read_spec(store)
    ds = storage.open_cube(store)
    fields = ["L0", "L0_lo", "L0_hi", "a_t", "r_t", "r_t_lo", "r_t_hi", "a_N", "r_N", "r_N_lo", "r_N_hi", "fit_loss"]
    rows = _cell_rows(ds, spec, _cells_from_sel(ds, sel), method, fields, n_bootstrap_fit=n_bootstrap)
    _emit_rows(f"L(t, N) = L0 + a_t t^-r_t + a_N N^-r_N ({method}, 90% bootstrap intervals)", rows, as_json,
               {"L0 [CI]": "{L0:.3g} [{L0_lo:.3g}, {L0_hi:.3g}]", "a_t": "{a_t:.3g}",
                "r_t [CI]": "{r_t:.3f} [{r_t_lo:.3f}, {r_t_hi:.3f}]", "a_N": "{a_N:.3g}",
                "r_N [CI]": "{r_N:.3f} [{r_N_lo:.3f}, {r_N_hi:.3f}]"})


@app.command()
@cli_errors
def frontier(store: str = typer.Argument(..., metavar="STORE"),
             sel: list[str] = typer.Option([], "--sel", help="alpha=, beta=, P= (repeatable); default: every cell"),
             method: str = MethodOpt,
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Compute-optimal exponents of each selected cell: approach 1 (xi, eta with intervals and the
    compute window) and approach 3 (from the fitted surface)."""
    import storage

    spec = storage.read_spec(store)
    ds = storage.open_cube(store)
    fields = ["xi", "xi_lo", "xi_hi", "eta", "eta_lo", "eta_hi", "C_lo", "C_hi", "edge_hit", "xi3", "eta3"]
    rows = _cell_rows(ds, spec, _cells_from_sel(ds, sel), method, fields, n_bootstrap_fit=0)
    _emit_rows(f"compute-optimal frontier, C = N t B ({method})", rows, as_json,
               {"xi [CI]": "{xi:.3f} [{xi_lo:.3f}, {xi_hi:.3f}]", "eta [CI]": "{eta:.3f} [{eta_lo:.3f}, {eta_hi:.3f}]",
                "C window": "{C_lo:.2g}..{C_hi:.2g}", "edge": "{edge_hit:.0f}", "xi3": "{xi3:.3f}",
                "eta3": "{eta3:.3f}"})


@app.command("phase-map")
@cli_errors
def phase_map_cmd(store: str = typer.Argument(..., metavar="STORE"),
                  out: Path = typer.Option(..., "--out", help="PNG file"),
                  quantity: str = typer.Option("xi", help="xi or eta (approach 1); xi3 or eta3 (approach 3)"),
                  method: Optional[str] = typer.Option(None, "--method", help="theory or simulation (default: theory if present)")) -> None:
    """The measured exponent over the (alpha, beta) plane with the 4+3 phase diagram overlaid."""
    from scalinglab.errors import SpecError

    if quantity not in ("xi", "eta", "xi3", "eta3"):
        raise SpecError("cli", "--quantity", quantity, "one of xi, eta, xi3, eta3")
    import storage
    from flows.analyze import phase_map

    spec = storage.read_spec(store)
    if spec.alpha.size < 2 or spec.beta.size < 2:
        raise SpecError("cli", "STORE", store, "a cube with at least 2 alpha and 2 beta values")
    out.parent.mkdir(parents=True, exist_ok=True)
    typer.echo(phase_map(store, str(out), quantity=quantity, method=method))


@app.command()
@cli_errors
def plot(store: str = typer.Argument(..., metavar="STORE"),
         kind: str = typer.Option(..., "--kind", help="curves, frontier, surface or residuals"),
         out: Path = typer.Option(..., "--out", help="PNG file"),
         sel: list[str] = typer.Option([], "--sel", help="alpha=, beta=, P= of the cell (default: the middle cell)"),
         method: str = MethodOpt) -> None:
    """Draw one figure of one cell."""
    import storage
    from flows.analyze import batch_of
    from scalinglab import plots
    from scalinglab.errors import SpecError
    from storage.analysis import read_cell

    if kind not in ("curves", "frontier", "surface", "residuals"):
        raise SpecError("cli", "--kind", kind, "one of curves, frontier, surface, residuals")
    spec = storage.read_spec(store)
    ds = storage.open_cube(store)
    cells = _cells_from_sel(ds, sel)
    ia, ib, ip = cells[len(cells) // 2] if not sel else cells[0]
    c = read_cell(ds, ia, ib, ip)
    keep = c["t"] > 0
    t, th = c["t"][keep], (c["theory"][:, keep] if c["theory"] is not None else None)
    sm = c["sim"][..., keep] if c["sim"] is not None else None
    a, b, P = float(ds.alpha[ia]), float(ds.beta[ib]), float(ds.P[ip])
    title = f"{spec.model}: α={a:g}, β={b:g}, P={P:g}"
    data = th if method == "theory" else sm
    if kind in ("frontier", "surface") and data is None:
        raise SpecError("cli", "--method", method, "a method present in the cube")
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "curves":
        plots.plot_curves(t, c["N"], sim=sm, theory=th, alpha=a, beta=b, P=P, model=spec.model, path=str(out))
    elif kind == "frontier":
        plots.plot_frontier(c["N"], t, data, batch_of(spec), title=title, path=str(out))
    elif kind == "surface":
        from scalinglab.analysis import ScalingSurface, grid_points

        tt = t >= 10
        X, y = grid_points([c["N"], t[tt]], data[..., tt], seed_axis=1 if data.ndim == 3 else None)
        surface = ScalingSurface(variables=("N", "t"), random_state=0).fit(X, y)
        plots.plot_surface(t[tt], c["N"], data[..., tt], surface, title=title, path=str(out))
    else:
        if th is None or sm is None:
            raise SpecError("cli", "--kind", kind, "a cube holding both theory and simulation")
        plots.plot_residuals(t, c["N"], th, sm, title=title, path=str(out))
    typer.echo(str(out))


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
