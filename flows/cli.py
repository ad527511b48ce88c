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
from typer.core import TyperGroup

from flows.server import quiet_defaults

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _OneLineErrors(TyperGroup):
    """Usage errors (an unknown option, ``--num-cpus 0``) as one stderr line with exit status 2,
    like every other bad input, instead of click's multi-line box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):  # type: ignore[override]
        # typer vendors click: its exceptions live in typer._click
        from typer._click.exceptions import ClickException, NoArgsIsHelpError

        if not standalone_mode:
            return super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
        except NoArgsIsHelpError as err:
            err.show()
            sys.exit(err.exit_code)
        except ClickException as err:
            ctx = getattr(err, "ctx", None)
            path = ctx.command_path if ctx is not None else (prog_name or "scalinglab")
            hint = f" (see `{path} --help`)" if ctx is not None else ""
            typer.echo(f"error: {path}: {_one_line(err.format_message())}{hint}", err=True)
            sys.exit(err.exit_code)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            sys.exit(EXIT_FAILED)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


app = typer.Typer(cls=_OneLineErrors, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Sweeps, cubes and fits for solvable neural scaling-law models.")


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    typer.echo(f"error: {_one_line(message)}", err=True)
    raise typer.Exit(code)


def cli_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn SpecError (and other bad-input errors) into one stderr line and exit status 2; any
    other error into one line and exit status 1 (``SCALINGLAB_DEBUG=1`` re-raises it)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        import warnings

        from scalinglab.errors import SpecError

        seen: set[str] = set()

        def show(message, category, filename, lineno, file=None, line=None) -> None:
            text = _one_line(str(message))
            if text not in seen:  # a spec is parsed more than once per command
                seen.add(text)
                typer.echo(f"warning: {text}", err=True)

        try:
            with warnings.catch_warnings():
                # the models' own deprecations ("<model>: `<param>` is deprecated ...", old tier names): one line each
                warnings.filterwarnings("always", category=DeprecationWarning, message=r"[a-z0-9_]+: .*deprecated")
                warnings.showwarning = show
                return fn(*args, **kwargs)
        except SpecError as err:
            _fail(str(err))
        except (typer.Exit, typer.Abort, BrokenPipeError):  # `| head` closing the pipe is not an error
            raise
        except Exception as err:
            from typer._click.exceptions import ClickException

            if isinstance(err, ClickException) or os.environ.get("SCALINGLAB_DEBUG"):
                raise  # usage errors: _OneLineErrors prints them
            _fail(f"{type(err).__name__}: {err} (SCALINGLAB_DEBUG=1 shows the traceback)", EXIT_FAILED)

    return wrapper


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("scalinglab")
        except PackageNotFoundError:  # pragma: no cover - running from a plain checkout
            v = "unknown"
        typer.echo(f"scalinglab {v}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _main_options(version: bool = typer.Option(False, "--version", callback=_version_callback, is_eager=True,
                                               help="print the version and exit")) -> None:
    pass


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    """``value`` if it is one of ``allowed`` (exactly), else a one-line error listing them."""
    if value in allowed:
        return value
    from scalinglab.errors import SpecError

    raise SpecError("cli", option, value, f"one of {', '.join(allowed)}")


def _console():
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def _print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(title))  # text, not markup: "[params]", "[CI]" are shown as is
    for c in columns:
        table.add_column(escape(c))
    for r in rows:
        table.add_row(*[escape(str(x)) for x in r])
    _console().print(table)


def _summary(store: str, spec, result: dict[str, Any] | None, as_json: bool) -> int:
    import storage
    from storage.select import status_counts  # the status array read without importing zarr

    counts = status_counts(spec, store, spec.storage_options or None)
    failures = storage.read_failures(store, spec.storage_options or None)
    payload = {"store": store, "model": spec.model, **counts,
               "failures": [{"block": f["block"], "units": f["units"], "error": f["error"].splitlines()[0]}
                            for f in failures]}
    if result:
        payload.update(wall_seconds=round(result["wall_seconds"], 3), block_seconds=round(result["block_seconds"], 3),
                       blocks_run=result["submitted"], startup_seconds=round(result.get("startup_seconds", 0.0), 3),
                       flow_seconds=round(result.get("flow_seconds", 0.0), 3), flow_run_id=result.get("flow_run_id"))
    live = None if result else _live_progress(store, spec)
    if live:
        payload["running"] = live
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
        if live:
            eta = "unknown" if live.get("eta_s") is None else f"{live['eta_s']:.0f} s"
            typer.echo(f"running (pid {live.get('pid')} on {live.get('host')}): {live['blocks_done']} of "
                       f"{live['blocks_total']} blocks of this run done, {live['blocks_failed']} failed, "
                       f"{live['rate_blocks_per_s']:.2f} blocks/s, ETA {eta} (as of {live.get('updated')})")
    if counts["units_failed"]:
        return EXIT_FAILED
    return EXIT_OK


def _live_progress(store: str, spec) -> dict[str, Any] | None:
    """The progress a live sweep publishes (``_meta/progress.json``), if one holds the lock."""
    import storage
    from storage.lock import is_stale

    lock = storage.read_lock(store, spec.storage_options or None)
    if not lock or is_stale(lock):
        return None
    progress = storage.read_progress(store, spec.storage_options or None)
    if not progress:
        return None
    return {**progress, "host": lock.get("host")}


def _execute(store: str, spec, blocks: list, ray_address: Optional[str], num_cpus: Optional[int],
             progress: bool, only_failed: bool = False) -> dict[str, Any] | None:
    """Run the sweep; on SIGINT print one line (what is done, how to go on) and exit 130."""
    from flows.sweep import Interrupted, execute

    try:
        return execute(store, spec, blocks, ray_address=ray_address, num_cpus=num_cpus, show_progress=progress,
                       only_failed=only_failed, note=lambda msg: typer.echo(msg, err=True))
    except Interrupted:
        import storage

        counts = storage.status_counts(spec, store, spec.storage_options or None)
        typer.echo(f"interrupted; {counts['blocks_done']} blocks done, {counts['blocks_failed']} failed, "
                   f"{counts['blocks_pending']} pending: `scalinglab resume {store}`", err=True)
        raise typer.Exit(130)


ProgressOpt = typer.Option(None, "--progress/--no-progress", help="live progress bar (default: on a terminal)")


@app.command()
@cli_errors
def run(spec_path: Path = typer.Argument(..., metavar="SPEC", help="sweep spec (TOML)"),
        store: Optional[str] = typer.Option(None, help="override the spec's [store] path"),
        ray_address: Optional[str] = typer.Option(None, help="join an existing Ray cluster (e.g. 10.0.0.1:6379)"),
        num_cpus: Optional[int] = typer.Option(None, min=1, help="local Ray CPUs (default: all)"),
        force: bool = typer.Option(False, help="resume even if the code version differs from the cube's"),
        reuse: list[str] = typer.Option([], "--reuse", metavar="OLD.zarr",
                                        help="copy every unit whose key is done in this older cube instead of "
                                             "computing it (repeatable)"),
        progress: Optional[bool] = ProgressOpt,
        as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Validate SPEC, create (or reopen) its cube and compute every pending block."""
    quiet_defaults()
    import storage
    from flows.sweep import open_or_create

    sources = _reuse_sources(reuse, spec_path=spec_path, store=store)
    spec, store = open_or_create(spec_path, store, force=force)
    if sources:
        from storage import reuse as reuse_store

        known = {s.path for s in sources}
        kept = [reuse_store.open_source(d["path"], spec.storage_options or None)
                for d in reuse_store.read_sources(store, spec.storage_options or None) if d["path"] not in known]
        reuse_store.record_sources(store, kept + sources, spec.storage_options or None)
        _echo_reuse(spec, sources, err=True)
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
        typer.echo("nothing to do: every block is done" if not failed else "nothing to do: no failed blocks",
                   err=as_json)
    result = _execute(store, spec, blocks, ray_address, num_cpus, sys.stdout.isatty() if progress is None else progress,
                      only_failed=failed)
    raise typer.Exit(_summary(store, spec, result, as_json))


def _reuse_sources(paths: list[str], *, spec_path: Path, store: Optional[str]) -> list:
    """Open the ``--reuse`` cubes (read-only); a one-line error for a path that is no reusable cube."""
    if not paths:
        return []
    from scalinglab.errors import SpecError
    from scalinglab.spec import load_spec
    from storage import reuse as reuse_store
    from storage.paths import filesystem

    spec = load_spec(spec_path)
    target = store or spec.store_path
    out = []
    for p in paths:
        if filesystem(p, spec.storage_options or None)[1].rstrip("/") == \
                filesystem(target, spec.storage_options or None)[1].rstrip("/"):
            raise SpecError("--reuse", "store", p, "another cube than the one this run writes (use `resume` to continue it)")
        out.append(reuse_store.open_source(p, spec.storage_options or None))
    return out


def _echo_reuse(spec, sources: list, *, err: bool = False) -> dict[str, Any]:
    """One line per kind: how many values (unit x seed) will be copied, and from where."""
    from storage import reuse as reuse_store

    summary = reuse_store.reuse_summary(spec, sources)
    for kind in spec.variables():
        k = summary[kind]
        typer.echo(f"reuse: {k['reused']} of {k['total']} {kind} values (unit x seed) copied from "
                   + ", ".join(s.path for s in sources) + f"; {k['total'] - k['reused']} to compute", err=err)
    return summary


@app.command()
@cli_errors
def plan(spec_path: Path = typer.Argument(..., metavar="SPEC"),
         num_cpus: int = typer.Option(os.cpu_count() or 1, min=1, help="CPUs to estimate the wall time for"),
         reuse: list[str] = typer.Option([], "--reuse", metavar="OLD.zarr",
                                         help="count the units `run --reuse` would copy from this cube (repeatable)"),
         as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the blocks, units and a cost estimate of SPEC without running anything."""
    from scalinglab.spec import load_spec

    sources = _reuse_sources(reuse, spec_path=spec_path, store=None)
    spec = load_spec(spec_path)
    blocks = spec.blocks()
    core_s = spec.estimate_seconds()
    wall = spec.estimate_wall_seconds(num_cpus)
    info = {"model": spec.model, "methods": list(spec.methods), "grid_shape": dict(zip(("alpha", "beta", "N", "P"), spec.grid_shape)),
            "t_checkpoints": int(spec.t.size), "seeds": spec.seeds, "units": spec.n_units, "blocks": len(blocks),
            "block_shape": dict(zip(("alpha", "beta", "N", "P"), spec.chunks)),
            "estimated_core_seconds": float(f"{core_s:.3g}"),
            "estimated_wall_seconds": float(f"{wall['total_s']:.3g}"),
            "estimated_startup_seconds": float(f"{wall['startup_s']:.3g}"),
            "spec_hash": spec.hash, "store": spec.store_path,
            "params": spec.params.model_dump(mode="json")}
    info["axes"] = {name: [_json_value(_number(x) if name in ("N", "P", "t") else float(x)) for x in getattr(spec, name)]
                    for name in ("alpha", "beta", "N", "P", "t")}
    from scalinglab.analysis.cell import AnalysisSettings, prerequisites

    info["analysis_warnings"] = prerequisites(spec.N, spec.t, AnalysisSettings(), _batch(spec))
    if sources:
        from storage import reuse as reuse_store

        info["reuse"] = reuse_store.reuse_summary(spec, sources)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
    else:
        rows = [[k, json.dumps(v) if isinstance(v, (dict, list)) else v] for k, v in info.items()
                if k not in ("axes", "analysis_warnings")]
        rows += [[f"{name} ({len(v)} value{'s' if len(v) != 1 else ''})", ", ".join(_coord_text(float(x)) if name in ("N", "P", "t") else
                                                        _cell_text(float(x)) for x in getattr(spec, name))]
                 for name, v in info["axes"].items()]
        for kind in spec.variables() if sources else ():
            k = info["reuse"][kind]
            rows.append([f"reuse ({kind})", f"{k['reused']} of {k['total']} values (unit x seed) copied; "
                                            f"{k['total'] - k['reused']} to compute"])
        _print_table(f"plan for {spec_path}", ["", "value"], rows)
    for w in info["analysis_warnings"]:
        typer.echo(f"warning: `scalinglab analyze` will refuse this grid: {w}", err=True)
    for note in spec.model_module().plan_notes(spec.params, P=spec.P):
        typer.echo(f"note: {note}", err=True)


def _number(x: Any) -> Any:
    """A grid value as a Python int where it is one (N, P, t), else a float."""
    x = x.item() if hasattr(x, "item") else x
    return int(x) if isinstance(x, float) and math.isfinite(x) and x.is_integer() and abs(x) < 1e15 else x


def _batch(spec) -> float:
    """B in C = N t B (the model's batch, 1 if it has none)."""
    return float(getattr(spec.params, "batch", 1))


@app.command()
@cli_errors
def status(store: str = typer.Argument(..., metavar="STORE"),
           verify: bool = typer.Option(False, "--verify", help="read every done chunk; mark unreadable blocks pending"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Counts of done/failed/pending units and blocks, with the reasons of failures."""
    import storage
    from storage.lock import is_stale
    from storage.select import read_spec  # storage.read_spec without importing zarr (cold start)

    spec = read_spec(store)
    if verify:
        lock = storage.read_lock(store)
        if lock and not is_stale(lock):
            _fail(f"store: {store} is being written by pid {lock.get('pid')} on {lock.get('host')}; verify after it ends")
        for block, why in storage.verify_blocks(spec, store):
            typer.echo(f"block {block.id} reset to pending: {why}", err=True)
    code = _summary(store, spec, None, as_json)
    if not as_json:
        line = _residual_summary(store, spec)
        if line:
            typer.echo(line)
    raise typer.Exit(code)


def _residual_summary(store: str, spec) -> str | None:
    """One line on theory against simulation from the stored analysis (its SE named), or None."""
    from storage.analysis import current_analysis

    an = current_analysis(store, spec, spec.storage_options or None)  # zarr only: no xarray import
    if an is None or "resid_max_z" not in an or not np.isfinite(an.values("resid_max_z")).any():
        return None
    n, frac = an.values("resid_n"), an.values("resid_frac_z3")
    ok = np.isfinite(frac) & (n > 0)
    pooled = float(np.sum(frac[ok] * n[ok]) / np.sum(n[ok])) if ok.any() else float("nan")
    return (f"theory vs simulation (t >= t_min, SE: {an.attrs.get('resid_kind', '?')}): |z| > 3 in {pooled:.1%} of "
            f"{int(np.sum(n[ok]))} values (Student-t expects {float(np.nanmean(an.values('resid_frac_z3_expected'))):.1%}), "
            f"max |z| {float(np.nanmax(an.values('resid_max_z'))):.2f}; {int(np.nansum(an.values('resid_excluded')))} "
            "flagged or non-finite values excluded")


@app.command()
@cli_errors
def unlock(store: str = typer.Argument(..., metavar="STORE"),
           force: bool = typer.Option(False, "--force", help="remove a lock held from another host, whose "
                                      "sweep this host cannot see (if it still runs, two sweeps then share the store)")
           ) -> None:
    """Remove the writer lock of STORE (after its sweep was killed on another host).

    Refused while the holder is a live process of this host; a holder on another host needs
    --force. A lock of a dead process of this host needs no unlock: the next run takes it over.
    """
    import storage
    from storage.cube import cube_state
    from storage.lock import holder_alive

    held = storage.read_lock(store)
    if held is None:
        if cube_state(store) == "absent":
            _fail(f"store: {store} does not exist (no cube there), so it has no lock to remove")
        typer.echo("no lock held")
        return
    pid, host, since = held.get("pid"), held.get("host"), held.get("started")
    alive = holder_alive(held)
    if alive:
        _fail(f"store: {store} is locked by a live sweep, pid {pid} on this host ({host}) since {since}; "
              f"removing its lock would let a second sweep compute its blocks again. To stop it: `kill {pid}` "
              f"(its lock is then released or taken over by the next run; `scalinglab resume {store}` continues it)")
    if alive is None and not force and held.get("unreadable"):
        _fail(f"store: {store} has an unreadable lock file (a writer killed while writing it, or another "
              "program's); if no sweep is writing this store, re-run with --force to remove it")
    if alive is None and not force:
        _fail(f"store: {store} is locked by pid {pid} on {host} since {since}, which this host cannot check; "
              "if that sweep still runs, removing its lock lets a second sweep write the same blocks beside it. "
              "Stop it first, or once you know it is gone re-run with --force")
    if storage.break_lock(store, token=held.get("token")) is None:
        now = storage.read_lock(store)
        if now is None:
            typer.echo("no lock held (it was released meanwhile)")
            return
        _fail(f"store: the lock of {store} changed while unlocking (now pid {now.get('pid')} on {now.get('host')}); "
              "nothing removed")
    if held.get("unreadable"):
        typer.echo("removed the unreadable lock file")
        return
    what = "the stale lock" if alive is False else "the lock"
    typer.echo(f"removed {what} of pid {pid} on {host} (since {since})")


CELL_DIMS = ("alpha", "beta", "P")
#: the cube's dimensions in spec order (query tables list them first, in this order)
CUBE_DIMS = ("alpha", "beta", "N", "P", "seed", "t")


def _cells_from_sel(ds, sel: list[str], why: str = "it analyses every N and t of a cell") -> list[tuple[int, int, int]]:
    """(ia, ib, ip) of every cell matching --sel alpha=/beta=/P= (all cells if none given); a
    repeated dimension selects every value given. ``ds``: a :class:`storage.select.CubeArrays`."""
    chosen = _parse_sel(ds, sel, CELL_DIMS, why=why)
    idx = {dim: chosen.get(dim, list(range(ds.sizes[dim]))) for dim in CELL_DIMS}
    return [(a, b, p) for a in idx["alpha"] for b in idx["beta"] for p in idx["P"]]


METHODS = ("theory", "simulation")


def _cell_label(row: dict[str, Any]) -> str:
    P = float("inf") if row["P"] == "inf" else row["P"]
    return f"alpha={_cell_text(float(row['alpha']))}, beta={_cell_text(float(row['beta']))}, P={_coord_text(P)}"


def _cell_rows(ds, spec, cells, method: str, fields: list[str], n_bootstrap_fit: int | None = None,
               parts: tuple[str, ...] = ("surface", "frontier"), store: str | None = None,
               surface_intervals: bool = True) -> list[dict[str, Any]]:
    """One row per cell: ``fields`` of the method's analysis, and ``why`` (part -> reason) for
    the parts that could not be measured (their fields are NaN). The numbers are the cube's
    stored analysis (``scalinglab analyze``) when it exists for this spec and settings; else the
    same computation (``analyze_cell``, default settings) is run now. ``_interval`` holds what
    the row's intervals are. ``ds``: the cube read with zarr alone (:func:`storage.select.open_arrays`)."""
    import dataclasses
    import json as _json

    from scalinglab.analysis.cell import AnalysisSettings, analyze_cell
    from scalinglab.errors import SpecError
    from storage.analysis import current_analysis, read_cell, stored_cell

    batch_of = _batch  # not flows.analyze's: that module imports Prefect (seconds of cold start)
    if method not in spec.methods:
        raise SpecError("cli", "--method", method, f"a method present in the cube: {', '.join(spec.methods)}")
    import storage

    an = current_analysis(store, spec, spec.storage_options or None) if store else None
    stored_settings = _json.loads(an.attrs["settings"]) if an is not None else None
    if an is not None and n_bootstrap_fit is not None and stored_settings.get("n_bootstrap_fit") != n_bootstrap_fit:
        an = None  # other settings asked for: computed now, and said so
        typer.echo(f"note: --n-bootstrap {n_bootstrap_fit} differs from the stored analysis "
                   f"({stored_settings.get('n_bootstrap_fit')}): computed now, not stored", err=True)
    settings = AnalysisSettings() if n_bootstrap_fit is None else dataclasses.replace(AnalysisSettings(),
                                                                                      n_bootstrap_fit=n_bootstrap_fit)
    if not surface_intervals:  # the surface's intervals are not shown: its estimates do not depend on them
        settings = dataclasses.replace(settings, n_bootstrap_fit=0)
    if an is None and store:
        typer.echo(f"note: {'no' if stored_settings is None else 'not the stored'} analysis: computed now with "
                   f"settings {_json.dumps(settings.to_dict())} (`scalinglab analyze` stores them)", err=True)
    status = ds.status
    rows = []
    for ia, ib, ip in cells:
        r, why, interval = {}, {}, {}
        if np.all(status[ia, ib, :, ip] == storage.DONE):  # a pending block is never decoded
            got = stored_cell(an, ia, ib, ip, method) if an is not None else None
            if got is not None:
                r, why, interval = got["fields"], got["why"], got["interval"]
            else:
                c = read_cell(ds, ia, ib, ip)
                data = {"theory": c["theory"], "theory_flag": c["theory_flag"]} if method == "theory" else {"sim": c["sim"]}
                res = analyze_cell(c["N"], c["t"], batch=batch_of(spec), settings=settings, **data)
                r = res.get(method, {})
                why = res.get("why", {}).get(method, {})
                interval = res.get("interval", {}).get(method, {})
            why = {k: v for k, v in why.items() if k in parts or k == "excluded"}
        if not r:
            why = {p: "the cell is not done (`scalinglab status` says why)" for p in parts}
        row = {"alpha": float(ds.coords["alpha"][ia]), "beta": float(ds.coords["beta"][ib]),
               "P": _json_value(float(ds.coords["P"][ip])),
               **{f: r.get(f, float("nan")) for f in fields}}
        if why:
            row["why"] = why
        row["_interval"] = interval
        rows.append(row)
    return rows


def _interval_header(rows: list[dict[str, Any]], part: str) -> str:
    """What the [lo, hi] of a table are (one kind per table; the analysis says which)."""
    kinds = sorted({r.get("_interval", {}).get(part, "none") for r in rows} - {"none"})
    names = {"seed-bootstrap": "90% CI, seed bootstrap", "window-range": "window range, not a CI"}
    return " / ".join(names.get(k, k) for k in kinds) or "no interval"


def _report_unmeasurable(rows: list[dict[str, Any]], what: dict[str, str]) -> int:
    """One stderr line per cell and part that could not be measured; the exit status: 1 when no
    cell had anything measured, else 0."""
    measured = 0
    for r in rows:
        why = {k: v for k, v in r.get("why", {}).items() if k != "excluded"}
        if "excluded" in r.get("why", {}):
            typer.echo(f"note: cell {_cell_label(r)}: {r['why']['excluded']}", err=True)
        for part, reason in why.items():
            typer.echo(f"note: cell {_cell_label(r)}: {what.get(part, part)} not measurable: {_one_line(reason)}", err=True)
        if len(why) < len(what):
            measured += 1
    if rows and not measured:
        typer.echo("error: nothing could be measured in the selected cells (see the notes above)", err=True)
        return EXIT_FAILED
    return EXIT_OK


def _emit_rows(title: str, rows: list[dict[str, Any]], as_json: bool, fmt_cols: dict[str, str]) -> None:
    if as_json:
        typer.echo(json.dumps([{("interval" if k == "_interval" else k): (v if k in ("why", "_interval") else
                                                                          _json_value(v)) for k, v in r.items()}
                               for r in rows], indent=1))
        return
    cols = ["alpha", "beta", "P", *fmt_cols]
    out = []
    for r in rows:
        line = [_cell_text(float(r["alpha"])), _cell_text(float(r["beta"])), str(r["P"])]
        for col, spec in fmt_cols.items():
            vals = {k: (v if v is not None else float("nan")) for k, v in r.items()}
            text = spec.format(**vals)
            line.append(text.replace("nan", "n/a"))
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


def _coord_text(v: Any) -> str:
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float):
        if math.isinf(v):
            return "inf"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return f"{v:.6g}"
    return str(v)


def _parse_sel(ds, sel: list[str], dims: tuple[str, ...], why: str = "") -> dict[str, list[int]]:
    """--sel DIM=VALUE items as {dim: [positions]}: each dim must be one of ``dims`` (those the
    command uses), each value a coordinate of the cube; a repeated dim selects every value given."""
    from scalinglab.errors import SpecError

    out: dict[str, list[int]] = {}
    for item in sel:
        if "=" not in item:
            raise SpecError("cli", "--sel", item, "DIM=VALUE, e.g. alpha=1.0")
        dim, value = (x.strip() for x in item.split("=", 1))
        if dim not in dims:
            hint = f" ({why})" if why else ""
            raise SpecError("cli", "--sel", item, f"a dimension among {', '.join(dims)}{hint}")
        coord = np.asarray(ds.coords[dim])  # an xarray Dataset or storage.select.CubeArrays
        try:
            v = math.inf if value.lower() in ("inf", "+inf", "infinity") else float(value)
        except ValueError:
            raise SpecError("cli", "--sel", item, "a number or inf") from None
        pos = [i for i, c in enumerate(coord) if (math.isinf(v) and math.isinf(c)) or (
            not math.isinf(v) and not math.isinf(c) and math.isclose(c, v, rel_tol=1e-9, abs_tol=1e-12))]
        if not pos:
            text = [_coord_text(c) if dim in ("N", "P", "seed", "t") else _cell_text(float(c)) for c in coord]
            raise SpecError("cli", "--sel", item, f"one of {dim} = {', '.join(text)}")
        out.setdefault(dim, [])
        if pos[0] not in out[dim]:
            out[dim].append(pos[0])
    return {d: sorted(p) for d, p in out.items()}


def _cell_text(v: Any, integer: bool = False) -> str:
    """A table cell: integers as integers, floats to 5 significant digits, inf as inf, NaN empty."""
    v = v.item() if hasattr(v, "item") else v
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v)) if integer else f"{v:.1f}"
        return f"{v:.5g}"
    return str(v)


@app.command()
@cli_errors
def query(store: str = typer.Argument(..., metavar="STORE"),
          sel: list[str] = typer.Option([], "--sel", help="DIM=VALUE (repeatable; a repeated DIM selects every value given)"),
          var: list[str] = typer.Option([], "--var", help="data variable(s); default: all loss variables"),
          fmt: str = typer.Option("table", "--format", help="table, csv or json"),
          as_json: bool = typer.Option(False, "--json", help="print JSON (same as --format json)"),
          reduce_seed: bool = typer.Option(False, "--mean-seed", help="average over seeds: sim variables and a theory paired with the seeds (adds _sem)")) -> None:
    """Print a selection of the cube as a table, CSV or JSON: dimensions first (spec order),
    then the variables. Units not done yet (pending or failed) are left empty and reported."""
    from scalinglab.errors import SpecError

    fmt = _choice("--format", fmt, ("table", "csv", "json"))
    if as_json and fmt not in ("table", "json"):
        raise SpecError("cli", "--json", f"--format {fmt}", "--json alone or with --format json")
    fmt = "json" if as_json else fmt
    from storage.select import open_arrays  # no xarray/pandas (nor zarr, for a plain cube) on this path

    cube = open_arrays(store)
    names = list(dict.fromkeys(var)) or sorted(
        (v for v in cube.variables if v.startswith(("theory_", "sim_")) and v.endswith("loss")),
        key=lambda v: (not v.startswith("theory_"), v))
    for v in names:
        if v not in cube.variables:
            raise SpecError("cli", "--var", v, f"one of {', '.join(sorted(cube.variables))}")
    dims = tuple(d for d in CUBE_DIMS if any(d in cube.dims_of[v] for v in names))
    chosen = _parse_sel(cube, sel, dims, why=f"the dimensions of {', '.join(names)}")
    pos = {d: np.asarray(chosen.get(d, range(cube.sizes[d])), dtype=int) for d in cube.dims}
    got = cube.select(names, pos)
    if got.not_done:
        what = (f"{got.not_done} of {got.units} selected units are not done (pending or failed, "
                f"{len(got.chunks_not_done)} chunk(s))")
        if got.not_done == got.units:
            _fail(f"{store}: {what}: nothing to show; `scalinglab resume {store}` computes them", EXIT_FAILED)
        typer.echo(f"note: {what}; their values are empty. `scalinglab resume {store}` computes them", err=True)
    data = dict(got.data)
    if reduce_seed and "seed" in dims:
        n = len(pos["seed"])
        for v in names:
            vdims, x = data[v]
            if "seed" in vdims:
                ax = vdims.index("seed")
                rest = tuple(d for d in vdims if d != "seed")
                data[v] = (rest, x.mean(axis=ax))
                data[f"{v}_sem"] = (rest, x.std(axis=ax, ddof=1) / math.sqrt(n) if n > 1 else np.full(data[v][1].shape, np.nan))
        dims = tuple(d for d in dims if d != "seed")
    columns, rows = _rows(dims, got.coords, data)
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns)
        w.writerows([_csv_value(x) for x in r] for r in rows)
        typer.echo(buf.getvalue(), nl=False)
    elif fmt == "json":
        typer.echo(json.dumps([{c: _json_value(x) for c, x in zip(columns, r)} for r in rows]))
    else:
        if len(rows) > 200:
            typer.echo(f"{len(rows)} rows; showing the first 200 (use --format csv for all)", err=True)
        integer_cols = {c for c in columns if c in ("N", "P", "seed", "t") or
                        (c in data and np.asarray(data[c][1]).dtype.kind in "iu")}
        _print_table(f"{store}", columns, [[_cell_text(x, c in integer_cols) for c, x in zip(columns, r)]
                                           for r in rows[:200]])


def _rows(dims: tuple[str, ...], coords: dict[str, np.ndarray], data: dict[str, tuple[tuple[str, ...], np.ndarray]]
          ) -> tuple[list[str], list[list[Any]]]:
    """Long-format rows: one per point of the ``dims`` grid (C order), the coordinates first
    (N, P, t, seed as ints, inf kept; alpha, beta as floats), then every variable broadcast to it."""
    shape = tuple(len(coords[d]) for d in dims)
    cols: list[Any] = []
    for d in dims:
        c = np.asarray(coords[d])
        if d in ("N", "P", "seed", "t") and c.dtype.kind == "f" and np.all(~np.isfinite(c) | (c == np.round(c))):
            c = np.array([int(x) if math.isfinite(x) else float(x) for x in c], dtype=object)
        cols.append(c)
    grid = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    flat = [np.asarray(cols[i], dtype=object)[g.ravel()] for i, g in enumerate(grid)]
    for name, (vdims, x) in data.items():
        x = np.asarray(x)
        order = [vdims.index(d) for d in dims if d in vdims]
        x = np.transpose(x, order)
        x = x.reshape([len(coords[d]) if d in vdims else 1 for d in dims])
        flat.append(np.broadcast_to(x, shape).ravel())
    columns = [*dims, *data]
    n = int(np.prod(shape)) if shape else 1
    return columns, [[col[i].item() if hasattr(col[i], "item") else col[i] for col in flat] for i in range(n)]


def _csv_value(v: Any) -> Any:
    """CSV cells at full precision (repr round-trips), inf as inf, NaN empty."""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    return v


MethodOpt = typer.Option("theory", "--method", help="theory or simulation")
CellSelOpt = typer.Option([], "--sel", help="alpha=, beta=, P= (repeatable; a repeated dimension selects every value "
                                            "given); default: every cell")


@app.command()
@cli_errors
def analyze(store: str = typer.Argument(..., metavar="STORE"),
            ray_address: Optional[str] = typer.Option(None, help="join an existing Ray cluster"),
            out_dir: Optional[Path] = typer.Option(None, help="where to write the PNG figures (default: beside the store)"),
            n_bootstrap: int = typer.Option(20, min=0, help="bootstrap replicates of each surface fit"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Fit surfaces and frontiers for every cell (fanned out over Ray), write them into the cube's
    `analysis` group (idempotently; read it with `storage.open_analysis(STORE)` or
    `xr.open_zarr(STORE, group="analysis")`) and render the figures.

    The grid's prerequisites (>= 3 N values, checkpoints whose compute ranges overlap) are
    checked before Ray starts (exit 2). A cell that cannot be measured is named with the reason
    and the others are analysed; exit 1 if no cell could be.
    """
    import storage
    from scalinglab.analysis.cell import AnalysisSettings, prerequisites
    from scalinglab.errors import SpecError

    spec = storage.read_spec(store)  # validates STORE first
    settings = AnalysisSettings(n_bootstrap_fit=n_bootstrap)
    problems = prerequisites(spec.N, spec.t, settings, _batch(spec))
    if problems:
        raise SpecError("cli", "STORE", store, "a grid whose cells can be analysed", "; ".join(problems))
    status = storage.open_cube(store).status.values
    if not np.any(np.all(status == storage.DONE, axis=2)):
        _fail(f"{store}: no (alpha, beta, P) cell is done yet; `scalinglab resume {store}` first", EXIT_FAILED)
    quiet_defaults()
    from flows.analyze import run_analysis

    summary = run_analysis(store, ray_address=ray_address, out_dir=out_dir, settings=settings)
    from storage.analysis import PREFIX

    an = storage.open_analysis(store).load()
    rows = []
    unmeasured: list[tuple[int, int, int, str]] = []
    for ia, a in enumerate(an.alpha.values):
        for ib, b in enumerate(an.beta.values):
            for ip, p in enumerate(an.P.values):
                for m, prefix in PREFIX.items():
                    if f"{prefix}_xi" not in an:
                        continue
                    cell = an.isel(alpha=ia, beta=ib, P=ip)
                    vals = {f: float(cell[f"{prefix}_{f}"]) for f in ("r_t", "r_N", "L0", "xi", "xi_lo", "xi_hi",
                                                                        "eta", "eta_lo", "eta_hi", "xi3", "eta3")}
                    if np.isnan(vals["r_t"]) or np.isnan(vals["xi"]):
                        unmeasured.append((ia, ib, ip, m))
                    if np.isnan(vals["r_t"]) and np.isnan(vals["xi"]):
                        continue
                    rows.append({"alpha": float(a), "beta": float(b), "P": _json_value(float(p)), "method": m, **vals})
    notes = _why_unmeasured(store, spec, unmeasured, settings, an)
    for line in notes:
        typer.echo(f"note: {line}", err=True)
    excluded = [f"cell alpha={_cell_text(float(an.alpha[ia]))}, beta={_cell_text(float(an.beta[ib]))}, "
                f"P={_coord_text(float(an.P[ip]))} ({m}): {why['excluded']}"
                for key, per in json.loads(an.attrs.get("why", "{}")).items()
                for (ia, ib, ip) in [tuple(int(x) for x in key.split(","))] for m, why in per.items() if "excluded" in why]
    for line in excluded:
        typer.echo(f"note: {line}", err=True)
    intervals = {m: an[f"{PREFIX[m]}_xi_lo"].attrs.get("interval_kind", "none") for m in PREFIX
                 if f"{PREFIX[m]}_xi_lo" in an}
    if as_json:
        typer.echo(json.dumps({**summary, "model": spec.model, "not_measurable": notes, "excluded": excluded,
                               "intervals": intervals, "resid_kind": an.attrs.get("resid_kind", ""),
                               "cells": [{k: _json_value(v) for k, v in r.items()} for r in rows]}, indent=1))
    else:
        if rows:
            what = "; ".join(f"{m}: {k}" for m, k in intervals.items())
            _emit_rows(f"analysis of {store} ({summary['cells_analyzed']}/{summary['cells']} cells; [ ] = {what})",
                       rows, False,
                       {"method": "{method}", "r_t": "{r_t:.3f}", "r_N": "{r_N:.3f}", "L0": "{L0:.2e}",
                        "xi [ ]": "{xi:.3f} [{xi_lo:.3f}, {xi_hi:.3f}]",
                        "eta [ ]": "{eta:.3f} [{eta_lo:.3f}, {eta_hi:.3f}]", "xi3": "{xi3:.3f}", "eta3": "{eta3:.3f}"})
        line = _residual_summary(store, spec)
        if line:
            typer.echo(line)
        for f in summary["figures"]:
            typer.echo(f"figure: {f}")
    for e in summary["errors"]:
        typer.echo(f"error: {_one_line(e)}", err=True)
    if not rows:
        typer.echo("error: no cell could be measured (see the notes above)", err=True)
    raise typer.Exit(EXIT_FAILED if summary["errors"] or not rows else EXIT_OK)


def _why_unmeasured(store: str, spec, cells: list[tuple[int, int, int, str]], settings, an=None) -> list[str]:
    """One sentence per (cell, method) whose surface or frontier could not be measured (read from
    the stored analysis: its ``why`` attrs)."""
    if not cells:
        return []
    import storage

    whys = json.loads(an.attrs.get("why", "{}")) if an is not None else {}
    status = storage.open_cube(store).status.values
    out = []
    for ia, ib, ip, m in cells:
        label = (f"cell alpha={_cell_text(float(spec.alpha[ia]))}, beta={_cell_text(float(spec.beta[ib]))}, "
                 f"P={_coord_text(float(spec.P[ip]))} ({m})")
        if not np.all(status[ia, ib, :, ip] == storage.DONE):
            out.append(f"{label}: not analysed: the cell is not done")
            continue
        for part, why in whys.get(f"{ia},{ib},{ip}", {}).get(m, {}).items():
            if part == "excluded":
                continue
            what = "compute frontier (approach 1)" if part == "frontier" else "scaling surface (approach 3)"
            out.append(f"{label}: {what} not measurable: {_one_line(why)}")
    return out


@app.command()
@cli_errors
def fit(store: str = typer.Argument(..., metavar="STORE"),
        sel: list[str] = CellSelOpt,
        method: str = MethodOpt,
        n_bootstrap: Optional[int] = typer.Option(None, min=0, help="bootstrap replicates (default: the stored "
                                                  "analysis's, else 20); another value computes anew"),
        as_json: bool = typer.Option(False, "--json")) -> None:
    """Print the fitted surface L = L0 + a_t t^-r_t + a_N N^-r_N of each selected cell, with
    intervals (seed bootstrap; for deterministic theory the range over fit windows), read from the
    stored analysis when there is one; a cell whose surface cannot be fitted, or whose fit lies
    outside the physical ranges, is named with the reason (exit 1 if none can)."""
    method = _choice("--method", method, METHODS)
    import storage

    from storage.select import open_arrays  # no xarray/pandas (nor zarr, for a plain cube)

    # storage.read_spec, not storage.select's zarr-free one: tests/cli/test_analyze.py makes it fail here
    spec = storage.read_spec(store)
    ds = open_arrays(store)
    fields = ["L0", "L0_lo", "L0_hi", "a_t", "r_t", "r_t_lo", "r_t_hi", "a_N", "r_N", "r_N_lo", "r_N_hi", "fit_loss"]
    rows = _cell_rows(ds, spec, _cells_from_sel(ds, sel), method, fields, n_bootstrap_fit=n_bootstrap,
                      parts=("surface",), store=store)
    code = _report_unmeasurable(rows, {"surface": "scaling surface"})
    shown = rows if as_json else [r for r in rows if "surface" not in r.get("why", {})]
    if shown:
        _emit_rows(f"L(t, N) = L0 + a_t t^-r_t + a_N N^-r_N ({method}; [ ]: {_interval_header(shown, 'surface')})",
                   shown, as_json,
                   {"L0 [ ]": "{L0:.3g} [{L0_lo:.3g}, {L0_hi:.3g}]", "a_t": "{a_t:.3g}",
                    "r_t [ ]": "{r_t:.3f} [{r_t_lo:.3f}, {r_t_hi:.3f}]", "a_N": "{a_N:.3g}",
                    "r_N [ ]": "{r_N:.3f} [{r_N_lo:.3f}, {r_N_hi:.3f}]"})
    raise typer.Exit(code)


@app.command()
@cli_errors
def frontier(store: str = typer.Argument(..., metavar="STORE"),
             sel: list[str] = CellSelOpt,
             method: str = MethodOpt,
             as_json: bool = typer.Option(False, "--json")) -> None:
    """Compute-optimal exponents of each selected cell: approach 1 (xi, eta with intervals and the
    compute window) and approach 3 (from the fitted surface). What cannot be measured in a cell is
    named with the reason (n/a in the table); exit 1 if nothing can be."""
    method = _choice("--method", method, METHODS)
    import storage

    from storage.select import open_arrays, read_spec  # no xarray/pandas (nor zarr, for a plain cube)

    spec = read_spec(store)
    ds = open_arrays(store)
    fields = ["xi", "xi_lo", "xi_hi", "eta", "eta_lo", "eta_hi", "C_lo", "C_hi", "edge_hit", "xi3", "eta3"]
    rows = _cell_rows(ds, spec, _cells_from_sel(ds, sel), method, fields, store=store, surface_intervals=False)
    code = _report_unmeasurable(rows, {"frontier": "approach 1 (xi, eta)", "surface": "approach 3 (xi3, eta3)"})
    shown = rows if as_json else [r for r in rows if len({k for k in r.get("why", {}) if k != "excluded"}) < 2]
    if shown:
        _emit_rows(f"compute-optimal frontier, C = N t B ({method}; [ ]: {_interval_header(shown, 'frontier')})",
                   shown, as_json,
                   {"xi [ ]": "{xi:.3f} [{xi_lo:.3f}, {xi_hi:.3f}]", "eta [ ]": "{eta:.3f} [{eta_lo:.3f}, {eta_hi:.3f}]",
                    "C window": "{C_lo:.2g}..{C_hi:.2g}", "edge": "{edge_hit:.0f}", "xi3": "{xi3:.3f}",
                    "eta3": "{eta3:.3f}"})
    raise typer.Exit(code)


def _model_names() -> list[str]:
    import scalinglab.models as registry

    names = getattr(registry, "model_names", None)
    return list(names()) if names else sorted(registry.MODELS)


def _model_summary(name: str) -> dict[str, Any]:
    import inspect

    from scalinglab.models import get_model

    model = get_model(name)
    module = inspect.getmodule(model if inspect.ismodule(model) else type(model))
    doc = (module.__doc__ or "").strip().splitlines()
    fields = model.Params.model_fields
    tiers = list(getattr(model, "theory_tiers", ()) or _literal_choices(fields.get("theory")))
    sims = list(getattr(model, "sim_methods", ()) or _literal_choices(fields.get("simulation")))
    return {"model": name, "summary": doc[0] if doc else "", "theory_tiers": tiers, "simulation_methods": sims,
            "params": list(fields)}


def _literal_choices(field) -> list[str]:
    import typing

    if field is None:
        return []
    ann = field.annotation
    if typing.get_origin(ann) is typing.Literal:
        return [str(a) for a in typing.get_args(ann)]
    return []


def _param_rows(name: str) -> list[dict[str, Any]]:
    """Each [params] key of a model: name, type, default, allowed range, meaning (from its Params)."""
    import typing

    from pydantic_core import PydanticUndefined

    from scalinglab.models import get_model

    rows = []
    for key, field in get_model(name).Params.model_fields.items():
        ann = field.annotation
        choices = _literal_choices(field)
        if choices:
            kind = "string"
        else:
            args = [a for a in typing.get_args(ann) if a is not type(None)] or [ann]
            kind = " or ".join(getattr(a, "__name__", str(a)) for a in args)
            if type(None) in typing.get_args(ann):
                kind += " (or unset)"
        bounds = []
        for m in field.metadata:
            for attr, op in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
                if getattr(m, attr, None) is not None:
                    bounds.append(f"{op} {getattr(m, attr)}")
        allowed = ("one of " + ", ".join(choices)) if choices else (", ".join(bounds) or "any")
        default = None if field.default is PydanticUndefined else field.default
        rows.append({"name": key, "type": kind, "default": default, "allowed": allowed,
                     "meaning": field.description or ""})
    return rows


@app.command()
@cli_errors
def models(as_json: bool = typer.Option(False, "--json")) -> None:
    """The models a spec's `model` can name, with their theory tiers and simulation methods."""
    rows = [_model_summary(n) for n in _model_names()]
    if as_json:
        typer.echo(json.dumps(rows, indent=1))
        return
    _print_table("models (`scalinglab params MODEL` lists each one's [params])", ["model", "what", "theory tiers",
                 "simulation methods"],
                 [[r["model"], r["summary"], ", ".join(r["theory_tiers"]), ", ".join(r["simulation_methods"])] for r in rows])


@app.command()
@cli_errors
def params(model: Optional[str] = typer.Argument(None, metavar="[MODEL]", help="a model name (default: every model)"),
           as_json: bool = typer.Option(False, "--json"),
           markdown: bool = typer.Option(False, "--markdown", help="Markdown tables (docs/params.md is this output)")
           ) -> None:
    """The [params] of MODEL (or of every model): name, type, default, allowed range and meaning."""
    names = [_choice("MODEL", model, tuple(_model_names()))] if model is not None else _model_names()
    if as_json:
        out = {m: _param_rows(m) for m in names}
        typer.echo(json.dumps(out[names[0]] if model is not None else out, indent=1, default=str))
        return
    for m in names:
        rows = _param_rows(m)
        cells = [[r["name"], r["type"], "unset" if r["default"] is None else json.dumps(r["default"], default=str),
                  r["allowed"], r["meaning"]] for r in rows]
        if markdown:
            typer.echo(f"## `{m}`\n\n| param | type | default | allowed | meaning |\n|---|---|---|---|---|")
            for name, kind, default, allowed, meaning in cells:
                esc = [x.replace("|", "\\|") for x in (kind, default, allowed, meaning)]
                shown = esc[1] if esc[1] == "unset" else f"`{esc[1]}`"
                typer.echo(f"| `{name}` | {esc[0]} | {shown} | {esc[2]} | {esc[3]} |")
            typer.echo("")
        else:
            _print_table(f"[params] of {m} (unset keys take the default)", ["name", "type", "default", "allowed", "meaning"],
                         cells)


QUANTITIES = ("xi", "eta", "xi3", "eta3")
PLOT_KINDS = ("curves", "frontier", "surface", "residuals")


@app.command("phase-map")
@cli_errors
def phase_map_cmd(store: str = typer.Argument(..., metavar="STORE"),
                  out: Path = typer.Option(..., "--out", help="PNG file"),
                  quantity: str = typer.Option("xi", help="xi or eta (approach 1); xi3 or eta3 (approach 3)"),
                  method: Optional[str] = typer.Option(None, "--method", help="theory or simulation (default: theory if present)")) -> None:
    """The measured exponent over the (alpha, beta) plane with the 4+3 phase diagram overlaid
    (needs `scalinglab analyze STORE` first; exit 1 if no cell has the exponent measured)."""
    from scalinglab.errors import SpecError

    quantity = _choice("--quantity", quantity, QUANTITIES)
    if method is not None:
        method = _choice("--method", method, METHODS)
    import storage
    from storage.analysis import PREFIX

    spec = storage.read_spec(store)
    if spec.alpha.size < 2 or spec.beta.size < 2:
        raise SpecError("cli", "STORE", store, "a cube with at least 2 alpha and 2 beta values")
    if method is not None and method not in spec.methods:
        raise SpecError("cli", "--method", method, f"a method present in the cube: {', '.join(spec.methods)}")
    an = storage.open_analysis(store)
    m = method or ("theory" if "theory" in spec.methods else "simulation")
    name = f"{PREFIX[m]}_{quantity}"
    if name not in an or not np.isfinite(an[name].values).any():
        _fail(f"{store}: no cell has {quantity} measured ({m}); see `scalinglab frontier {store} --method {m}` for "
              "the reason per cell", EXIT_FAILED)
    from flows.analyze import phase_map

    out.parent.mkdir(parents=True, exist_ok=True)
    typer.echo(phase_map(store, str(out), quantity=quantity, method=m))


def _default_t_min() -> float:
    """The analysis's default t_min (checkpoints below it are not fitted nor compared)."""
    from scalinglab.analysis.cell import AnalysisSettings

    return AnalysisSettings().t_min


def _json_settings(store: str, spec) -> dict[str, Any] | None:
    """The stored analysis's settings (None without a current analysis group)."""
    from storage.analysis import current_analysis

    an = current_analysis(store, spec, spec.storage_options or None)
    return json.loads(an.attrs["settings"]) if an is not None else None


def _plot_cell(ds, sel: list[str]) -> tuple[int, int, int]:
    """The one cell `plot` draws: --sel values, the others as `analyze` chooses (its figures'
    representative cell)."""
    from scalinglab.errors import SpecError
    from scalinglab.plots import default_cell

    chosen = _parse_sel(ds, sel, CELL_DIMS, why="plot draws one (alpha, beta, P) cell")
    for dim, pos in chosen.items():
        if len(pos) > 1:
            raise SpecError("cli", "--sel", f"{dim} given {len(pos)} times", "one value per dimension (plot draws one cell)")
    default = dict(zip(CELL_DIMS, default_cell(ds.sizes["alpha"], ds.sizes["beta"], ds.sizes["P"])))
    return tuple(chosen[d][0] if d in chosen else default[d] for d in CELL_DIMS)  # type: ignore[return-value]


@app.command()
@cli_errors
def plot(store: str = typer.Argument(..., metavar="STORE"),
         kind: str = typer.Option(..., "--kind", help="curves, frontier, surface or residuals"),
         out: Path = typer.Option(..., "--out", help="PNG file"),
         sel: list[str] = typer.Option([], "--sel", help="alpha=, beta=, P= of the cell (default: the cell `analyze` draws)"),
         method: str = MethodOpt) -> None:
    """Draw one figure of one cell (exit 1, with the reason, if it cannot be measured)."""
    kind = _choice("--kind", kind, PLOT_KINDS)
    method = _choice("--method", method, METHODS)
    import storage
    from scalinglab import plots
    from scalinglab.errors import SpecError
    from scalinglab.models.base import replicas_of
    from storage.analysis import positive_t, read_cell
    from storage.select import open_arrays, read_spec  # no xarray/pandas (nor zarr, for a plain cube)

    batch_of = _batch  # not flows.analyze's: that module imports Prefect (seconds of cold start)
    spec = read_spec(store)
    ds = open_arrays(store)
    ia, ib, ip = _plot_cell(ds, sel)
    alpha, beta, P = ds.coords["alpha"], ds.coords["beta"], ds.coords["P"]
    if not np.all(ds.status[ia, ib, :, ip] == storage.DONE):
        _fail(f"cell alpha={_cell_text(float(alpha[ia]))}, beta={_cell_text(float(beta[ib]))}, "
              f"P={_coord_text(float(P[ip]))}: not done yet; `scalinglab resume {store}` computes it", EXIT_FAILED)
    c = read_cell(ds, ia, ib, ip)
    w = positive_t(c)  # the log-t axis
    t, th, sm, flag = w["t"], w["theory"], w["sim"], w["theory_flag"]
    a, b, P = float(alpha[ia]), float(beta[ib]), float(P[ip])
    where = f"cell alpha={_cell_text(a)}, beta={_cell_text(b)}, P={_coord_text(P)}"
    title = plots.cell_title(a, b, P, spec.model)
    data = th if method == "theory" else sm
    if kind in ("frontier", "surface") and method not in spec.methods:
        raise SpecError("cli", "--method", method, f"a method present in the cube: {', '.join(spec.methods)}")
    if kind == "residuals" and (th is None or sm is None):
        raise SpecError("cli", "--kind", kind, "a cube holding both theory and simulation")
    if not np.isfinite(data if data is not None else np.nan).any():
        _fail(f"{where}: no data ({method}); the cell is not done", EXIT_FAILED)
    out.parent.mkdir(parents=True, exist_ok=True)
    if kind == "curves":
        th_curve = th.mean(axis=1) if th is not None and th.ndim == 3 else th  # paired theory: mean over draws
        plots.plot_curves(t, c["N"], sim=sm, theory=th_curve, alpha=a, beta=b, P=P, model=spec.model, path=str(out),
                          replicas=replicas_of(spec.params))
    elif kind in ("frontier", "surface"):
        # the one computation: the stored analysis of this cell, else the same analysis run now
        import json as _json

        from storage.analysis import current_analysis, stored_cell

        an = current_analysis(store, spec, spec.storage_options or None)
        stored = stored_cell(an, ia, ib, ip, method) if an is not None else None
        settings = _json.loads(an.attrs["settings"]) if stored else None
        if kind == "frontier":
            if stored is None:
                import dataclasses

                from scalinglab.analysis.cell import AnalysisSettings, analyze_cell

                st = dataclasses.replace(AnalysisSettings(), n_bootstrap_fit=0)
                typer.echo(f"note: no stored analysis of this cell: computed now with settings "
                           f"{_json.dumps(st.to_dict())} (`scalinglab analyze` stores them)", err=True)
                data_kw = {"theory": c["theory"], "theory_flag": c["theory_flag"]} if method == "theory" else {"sim": c["sim"]}
                record = plots.frontier_record(analyze_cell(c["N"], c["t"], batch=batch_of(spec), settings=st, **data_kw),
                                               method, st.confidence)
            else:
                record = plots.frontier_record({}, method, settings["confidence"], stored=stored)
            if isinstance(record, str):
                _fail(f"{where}: compute frontier not measurable ({method}): {_one_line(record)}", EXIT_FAILED)
            plots.plot_frontier(c["N"], t, data, batch_of(spec), frontier=record, title=f"{title} ({method})",
                                path=str(out))
        else:
            from scalinglab.analysis import ScalingSurface

            fields = ["L0", "a_t", "r_t", "a_N", "r_N"]
            row = _cell_rows(ds, spec, [(ia, ib, ip)], method, fields, store=store, surface_intervals=False)[0]
            if not np.isfinite(row["r_t"]):
                _fail(f"{where}: scaling surface not measurable ({method}): "
                      f"{_one_line(row.get('why', {}).get('surface', 'not measured'))}", EXIT_FAILED)
            surface = ScalingSurface.from_params(("N", "t"), L0=row["L0"], coefficients={"N": row["a_N"], "t": row["a_t"]},
                                                 exponents={"N": row["r_N"], "t": row["r_t"]})
            t_min = settings["t_min"] if settings else _default_t_min()
            tt = t >= t_min
            plots.plot_surface(t[tt], c["N"], data[..., tt], surface, title=f"{title} ({method})", path=str(out))
    else:
        t_min = (_json_settings(store, spec) or {}).get("t_min", _default_t_min())
        plots.plot_residuals(t, c["N"], th, sm, t_min=t_min, theory_flag=flag, title=f"{title}: theory vs simulation",
                             path=str(out), sim_se=w.get("sim_se"), sim_se_dof=w.get("sim_se_dof"))
    typer.echo(str(out))


@app.command()
@cli_errors
def report(store: str = typer.Argument(..., metavar="STORE"),
           out: Optional[Path] = typer.Option(None, "--out", help="folder for index.html (default: beside the store, "
                                                                "<name>_report/)"),
           as_json: bool = typer.Option(False, "--json")) -> None:
    """Write one self-contained HTML page for the cube: the paper's claims beside the measured
    exponents (read from the cube's `analysis` group; run `scalinglab analyze STORE` first for
    them), figures embedded as PNG, the spec, provenance, and what was flagged or excluded."""
    import storage

    storage.read_spec(store)  # validates STORE first (one line, exit 2)
    from flows.report import write_report

    path = write_report(store, out)
    analysed = storage.analysis_exists(store)
    if as_json:
        typer.echo(json.dumps({"store": store, "report": str(path), "analysis": analysed}))
    else:
        if not analysed:
            typer.echo(f"note: {store} has no analysis group; `scalinglab analyze {store}` adds the fitted exponents",
                       err=True)
        typer.echo(str(path))


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
