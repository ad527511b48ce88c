"""Prefect flows ``sweep`` and ``resume``: submit every pending block to Ray, report progress.

The flow only orchestrates (STYLE.md §13): it reads the cube's stored spec, submits one
:func:`tasks.blocks.run_block` per pending block, and reads each future's final state, so one
failed block never stops the rest. All numbers are written by the tasks themselves.
"""
from __future__ import annotations

import os
import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.futures import as_completed

import storage
from tasks.blocks import run_block

__all__ = ["sweep_flow", "ray_runner", "run_sweep", "open_or_create", "check_code_version", "execute"]


def ray_runner(ray_address: str | None = None, num_cpus: int | None = None):
    """A RayTaskRunner: a new local Ray (default) or an existing cluster at ``ray_address``.

    Workers get PREFECT_API_URL through the runtime env, so every task reports to one API.
    """
    from prefect_ray import RayTaskRunner

    env = {k: v for k, v in os.environ.items() if k.startswith(("PREFECT_", "AWS_", "SCALINGLAB_"))}
    init: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False}
    if ray_address:
        return RayTaskRunner(address=ray_address, init_kwargs=init)
    init.update(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                object_store_memory=200 * 2**20)
    return RayTaskRunner(init_kwargs=init)


@flow(name="sweep", validate_parameters=False)
def sweep_flow(store: str, block_ids: list[int], show_progress: bool = False) -> dict[str, Any]:
    """Compute the given blocks of the cube at ``store`` (its stored spec decides the numbers)."""
    from prefect_ray.context import remote_options

    spec = storage.read_spec(store)
    spec_json = spec.to_json()
    logger = get_run_logger()
    logger.info("sweep %s: %d blocks to run", store, len(block_ids))
    started = time.perf_counter()
    with remote_options(num_cpus=1, max_retries=3):
        futures = [run_block.submit(spec_json, store, b) for b in block_ids]
    done = failed = 0
    block_seconds = 0.0
    failures: list[dict[str, Any]] = []
    progress = _Progress(len(futures)) if show_progress else None
    for fut in as_completed(futures):
        try:
            res = fut.result()
        except Exception as err:  # crashed past its retries (lost worker, I/O error): record it, keep going
            res = {"status": "failed", "error": f"task crashed: {type(err).__name__}: {err}"}
            logger.error(res["error"])
        block_seconds += float(res.get("seconds", 0.0))
        if res["status"] == "done":
            done += 1
        else:
            failed += 1
            failures.append(res)
        if progress:
            progress.update(done, failed)
    if progress:
        progress.close()
    return {"store": store, "submitted": len(block_ids), "done": done, "failed": failed,
            "wall_seconds": time.perf_counter() - started, "block_seconds": block_seconds, "failures": failures}


class _Progress:
    """A live bar: done / failed / pending and ETA (rich)."""

    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.total = total
        self.bar = Progress(TextColumn("[bold]blocks"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), transient=False)
        self.task = self.bar.add_task("sweep", total=total, counts=f"done 0 failed 0 pending {total}")
        self.bar.start()

    def update(self, done: int, failed: int) -> None:
        pending = self.total - done - failed
        self.bar.update(self.task, completed=done + failed, counts=f"done {done} failed {failed} pending {pending}")

    def close(self) -> None:
        self.bar.stop()


def run_sweep(store: str, block_ids: list[int], *, ray_address: str | None = None, num_cpus: int | None = None,
              show_progress: bool = False) -> dict[str, Any]:
    """Run :func:`sweep_flow` on a RayTaskRunner (the flow's parameters are plain data)."""
    runner = ray_runner(ray_address, num_cpus)
    return sweep_flow.with_options(task_runner=runner)(store, block_ids, show_progress)


def check_code_version(store: str, spec, force: bool) -> None:
    """Refuse to continue a cube written by another code version, unless ``force``."""
    from scalinglab.errors import SpecError
    from storage.cube import code_version, open_group

    stored = dict(open_group(store, spec.storage_options or None, mode="r").attrs)
    now = code_version()
    diffs = [f"{k}: {stored.get(k)} -> {now[k]}" for k in ("scalinglab_version", "code_commit") if stored.get(k) != now[k]]
    if diffs and not force:
        raise SpecError("store", "code version", "; ".join(diffs), "the code version that wrote this cube",
                        "Re-run with --force to resume anyway (numbers may then differ from an uninterrupted run)")


def open_or_create(spec_path, store: str | None = None, *, force: bool = False):
    """Validate the spec; create its cube, or reopen it if it holds the same spec (and code).

    Returns (spec, store). A different spec on an existing cube is refused with the differences.
    """
    from scalinglab.errors import SpecError
    from scalinglab.spec import load_spec

    spec = load_spec(spec_path)
    store = store or spec.store_path
    opts = spec.storage_options or None
    if storage.cube_exists(store, opts):
        stored = storage.read_spec(store, opts)
        spec = load_spec(spec_path, chunks=stored.chunks)  # blocks are the cube's, whatever sizing is in force now
        if stored.hash != spec.hash:
            diff = "; ".join(storage.spec_difference(stored, spec)[:6])
            raise SpecError("store", "spec", store, "the spec that created this cube",
                            f"Differences: {diff}. Use a new store path for a different sweep")
        check_code_version(store, spec, force)
    else:
        storage.create_cube(spec, store)
    return spec, store


def execute(store: str, spec, blocks: list, *, ray_address: str | None = None, num_cpus: int | None = None,
            show_progress: bool = False, note=print) -> dict[str, Any] | None:
    """Hold the store's lock, make sure one Prefect API serves the sweep, run the blocks."""
    from flows.server import prefect_api

    if not blocks:
        return None
    from flows.reaper import TOKEN_ENV, start_reaper

    previous = os.environ.get(TOKEN_ENV)
    token = start_reaper() if not ray_address else None
    try:
        with storage.CubeLock(store, spec.storage_options or None, reaper_token=token) as lock:
            if lock.recovered:
                note(f"note: recovered a stale lock of pid {lock.recovered.get('pid')} on "
                     f"{lock.recovered.get('host')} (started {lock.recovered.get('started')})")
            with prefect_api():
                return run_sweep(store, [b.id for b in blocks], ray_address=ray_address, num_cpus=num_cpus,
                                 show_progress=show_progress)
    finally:  # processes started from here on are not this sweep's
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous
