"""Prefect flow ``sweep``: one flow run and one dispatch task per sweep, however many blocks.

The flow only orchestrates (STYLE.md §13). It reads the cube's stored spec and hands the
pending blocks to :func:`tasks.dispatch.dispatch_blocks`, which feeds them to Ray in
batches with bounded blocks in flight; workers run plain Ray remote functions that write
the cube themselves. Prefect's cost is therefore one task run per sweep (not one per
block), and Prefect still shows the sweep: the flow run, its ``dispatch-blocks`` task, a
live progress artifact (``sweep-progress``) and a closing markdown summary. The driver also
publishes its counts, rate and ETA to ``_meta/progress.json`` for ``scalinglab status``.
"""
from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

from prefect import flow, get_run_logger, task

import storage

__all__ = ["sweep_flow", "ray_runner", "run_sweep", "open_or_create", "check_code_version", "execute",
           "connect_ray", "warm_workers", "STOP", "Interrupted"]

#: Set to ask a running dispatch to stop after the blocks in flight (SIGINT sets it).
STOP = threading.Event()
#: Seconds between updates of the Prefect progress artifact and of ``_meta/progress.json``.
PUBLISH_EVERY = 2.0


class Interrupted(Exception):
    """The sweep was stopped by the user (SIGINT); finished blocks are kept."""

    def __init__(self, summary: dict[str, Any]) -> None:
        super().__init__("interrupted")
        self.summary = summary


def _worker_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "SCALINGLAB_"))}


def ray_runner(ray_address: str | None = None, num_cpus: int | None = None):
    """A RayTaskRunner (for the analyze flow): a new local Ray or an existing cluster.

    Workers get PREFECT_API_URL through the runtime env, so every task reports to one API.
    """
    from prefect_ray import RayTaskRunner

    env = {k: v for k, v in os.environ.items() if k.startswith(("PREFECT_", "AWS_", "SCALINGLAB_"))}
    import logging

    init: dict[str, Any] = {"runtime_env": {"env_vars": env}, "log_to_driver": False,
                            "logging_level": logging.WARNING}  # no "Started a local Ray instance." line
    if ray_address:
        return RayTaskRunner(address=ray_address, init_kwargs=init)
    init.update(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                object_store_memory=200 * 2**20)
    return RayTaskRunner(init_kwargs=init)


def connect_ray(ray_address: str | None = None, num_cpus: int | None = None) -> bool:
    """Start a local Ray (default) or join the cluster at ``ray_address``; reuse one already
    connected. Returns whether this call connected (and so should disconnect)."""
    import ray

    if ray.is_initialized():
        return False
    import logging

    # quiet by default: Ray's INFO lines ("Started a local Ray instance.") are not a run's output
    kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
    if ray_address:  # remote workers do not share this process's environment
        kwargs.update(address=ray_address, runtime_env={"env_vars": _worker_env()})
    else:  # local workers inherit it (fault-injection hooks, credentials)
        kwargs.update(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                      object_store_memory=200 * 2**20)
    ray.init(**kwargs)
    return True


def warm_workers(store: str) -> list:
    """Start one worker per CPU and have it import the block code and open the cube (numpy,
    scipy, zarr, the model packages) now, while the Prefect server is still booting, so the
    sweep's first batches land on warm workers. Returns the refs (nobody needs to wait)."""
    import ray

    from tasks.blocks import warm_up
    from tasks.dispatch import cluster_workers

    remote = ray.remote(warm_up).options(num_cpus=1)
    return [remote.remote(store) for _ in range(cluster_workers())]


class _Publisher:
    """Progress for people: a rich bar (CLI), the Prefect artifact, ``_meta/progress.json``."""

    def __init__(self, store: str, storage_options, total: int, show_bar: bool) -> None:
        from prefect.artifacts import create_progress_artifact

        self.store, self.storage_options, self.total = store, storage_options, total
        self.artifact = create_progress_artifact(progress=0.0, key="sweep-progress",
                                                 description=f"blocks of {store}: 0 of {total} finished")
        self.last_publish = 0.0
        self.bar = _Bar(total) if show_bar else None

    def __call__(self, tally) -> None:
        if self.bar:
            self.bar.update(tally)
        now = time.perf_counter()
        if now - self.last_publish < PUBLISH_EVERY and tally.pending:
            return
        self.last_publish = now
        from prefect.artifacts import update_progress_artifact

        info = tally.as_dict()
        update_progress_artifact(self.artifact, progress=100.0 * tally.finished / max(tally.total, 1),
                                 description=(f"done {tally.done}, failed {tally.failed}, pending {tally.pending}; "
                                              f"{info['rate_blocks_per_s']} blocks/s, ETA {info['eta_s']} s"))
        storage.write_progress(self.store, {**info, "pid": os.getpid()}, self.storage_options)

    def close(self) -> None:
        if self.bar:
            self.bar.close()
        storage.clear_progress(self.store, self.storage_options)


@task(name="dispatch-blocks", cache_policy=None, persist_result=False)
def dispatch_task(store: str, block_ids: list[int], show_progress: bool) -> dict[str, Any]:
    """Feed ``block_ids`` to Ray (tasks/dispatch.py) and publish progress while they run."""
    from tasks.dispatch import dispatch_blocks

    spec = storage.read_spec(store)
    opts = spec.storage_options or None
    logger = get_run_logger()
    publisher = _Publisher(store, opts, len(block_ids), show_progress)
    try:
        return dispatch_blocks(spec, store, block_ids, on_progress=publisher, stop=STOP.is_set, log=logger.error)
    finally:
        publisher.close()


@flow(name="sweep", validate_parameters=False)
def sweep_flow(store: str, block_ids: list[int] | None = None, show_progress: bool = False,
               only_failed: bool = False) -> dict[str, Any]:
    """Compute the pending (or given) blocks of the cube at ``store``; its stored spec decides the numbers.

    ``block_ids=None`` means every pending and failed block (only the failed ones with
    ``only_failed``), read from the cube here, so a 10^5-block sweep does not travel as a
    flow parameter.
    """
    from prefect.artifacts import create_markdown_artifact

    if block_ids is None:
        spec = storage.read_spec(store)
        block_ids = [b.id for b in storage.pending_blocks(spec, store, only_failed=only_failed,
                                                          storage_options=spec.storage_options or None)]
    get_run_logger().info("sweep %s: %d blocks to run", store, len(block_ids))
    from prefect.runtime import flow_run

    result = dispatch_task(store, block_ids, show_progress)
    result["flow_run_id"] = str(flow_run.id)
    create_markdown_artifact(key="sweep-summary", description=f"sweep of {store}", markdown=(
        f"| blocks | done | failed | batches | workers | wall s | block s |\n|---|---|---|---|---|---|---|\n"
        f"| {result['submitted']} | {result['done']} | {result['failed']} | {result['batches']} | "
        f"{result['workers']} | {result['wall_seconds']:.1f} | {result['block_seconds']:.1f} |"))
    return result


class _Bar:
    """A live bar: done / failed / pending, rate and ETA (rich)."""

    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.total = total
        self.bar = Progress(TextColumn("[bold]blocks"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), transient=False)
        self.task = self.bar.add_task("sweep", total=total, counts=f"done 0 failed 0 pending {total}")
        self.bar.start()

    def update(self, tally) -> None:
        self.bar.update(self.task, completed=tally.finished,
                        counts=f"done {tally.done} failed {tally.failed} pending {tally.pending} "
                               f"({tally.rate:.1f}/s)")

    def close(self) -> None:
        self.bar.stop()


def run_sweep(store: str, block_ids: list[int] | None = None, *, ray_address: str | None = None,
              num_cpus: int | None = None, show_progress: bool = False, only_failed: bool = False) -> dict[str, Any]:
    """Run :func:`sweep_flow` on Ray: the connected cluster, ``ray_address``, or a new local one.

    Raises :class:`Interrupted` (with the partial summary) when :data:`STOP` was set.
    """
    import ray

    started = connect_ray(ray_address, num_cpus)
    try:
        result = sweep_flow(store, block_ids, show_progress, only_failed)
    finally:
        if started:
            ray.shutdown()
    if result.get("interrupted"):
        raise Interrupted(result)
    return result


def check_code_version(store: str, spec, force: bool) -> None:
    """Refuse to continue a cube written by another code version, unless ``force``."""
    from scalinglab.errors import SpecError
    from storage.cube import code_version, open_group

    from storage.cube import layout_difference

    layout = layout_difference(spec, store, spec.storage_options or None)
    if layout:  # no --force: this code cannot write into that layout
        raise SpecError("store", "layout", "; ".join(layout[:3]), "a cube laid out as this code writes it",
                        "It was written by an older scalinglab; run the spec into a new store path")
    stored = dict(open_group(store, spec.storage_options or None, mode="r").attrs)
    now = code_version()
    diffs = [f"{k}: {stored.get(k)} -> {now[k]}" for k in ("scalinglab_version", "code_commit") if stored.get(k) != now[k]]
    if diffs and not force:
        raise SpecError("store", "code version", "; ".join(diffs), "the code version that wrote this cube",
                        "Re-run with --force to resume anyway (numbers may then differ from an uninterrupted run)")


def open_or_create(spec_path, store: str | None = None, *, force: bool = False):
    """Validate the spec; create its cube, or reopen it if it holds the same spec (and code).

    Returns (spec, store). A different spec on an existing cube is refused with the differences.
    A half-made store (its creation was killed: no data) is made again, with a note on stderr.
    """
    import sys

    from scalinglab.errors import SpecError
    from scalinglab.spec import load_spec
    from storage.cube import cube_state

    spec = load_spec(spec_path)
    store = store or spec.store_path
    opts = spec.storage_options or None
    state = cube_state(store, opts)
    if state == "foreign":
        raise SpecError("store", "path", store, "a new path or a scalinglab cube",
                        "It holds a Zarr group that scalinglab did not make: use a new store path")
    if state != "complete":
        # Create under the store's lock: one creator at a time, and a half-made store (a creation
        # killed midway, holding no data) is made again here, never while another driver makes it.
        with storage.CubeLock(store, opts) as lock:
            if lock.recovered:
                print(f"note: recovered a stale lock of pid {lock.recovered.get('pid')} on "
                      f"{lock.recovered.get('host')} (started {lock.recovered.get('started')})", file=sys.stderr)
            state = cube_state(store, opts)
            if state == "half-made":
                print(f"note: {store} is half-made (its creation was interrupted; it holds no data): "
                      "creating it again", file=sys.stderr)
            if state != "complete":
                storage.create_cube(spec, store, replace_half_made=True)
                return spec, store
    stored = storage.read_spec(store, opts)
    spec = load_spec(spec_path, chunks=stored.chunks)  # blocks are the cube's, whatever sizing is in force now
    if stored.hash != spec.hash:
        diff = "; ".join(storage.spec_difference(stored, spec)[:6])
        raise SpecError("store", "spec", store, "the spec that created this cube",
                        f"Differences: {diff}. Use a new store path for a different sweep")
    check_code_version(store, spec, force)
    return spec, store


def execute(store: str, spec, blocks: list, *, ray_address: str | None = None, num_cpus: int | None = None,
            show_progress: bool = False, only_failed: bool = False, note=print) -> dict[str, Any] | None:
    """Hold the store's lock, start Ray and one Prefect API (side by side), run the pending blocks.

    A first SIGINT asks the dispatch to stop after the blocks in flight (:class:`Interrupted`
    is raised with the partial summary); a second one ends the process at once. Either way
    the cube keeps every finished block (status is written last) and ``resume`` goes on.
    """
    from flows.reaper import TOKEN_ENV, start_reaper
    from flows.server import prefect_api

    if not blocks:
        return None
    previous = os.environ.get(TOKEN_ENV)
    token = start_reaper() if not ray_address else None
    STOP.clear()
    restore = _install_sigint(store)
    started_ray = False
    try:
        with storage.CubeLock(store, spec.storage_options or None, reaper_token=token) as lock:
            if lock.recovered:
                note(f"note: recovered a stale lock of pid {lock.recovered.get('pid')} on "
                     f"{lock.recovered.get('host')} (started {lock.recovered.get('started')})")

            def start_ray() -> None:  # while the Prefect server boots
                nonlocal started_ray
                started_ray = connect_ray(ray_address, num_cpus)
                warm_workers(store)

            entered = time.perf_counter()
            with prefect_api(while_starting=start_ray):
                ready = time.perf_counter()
                result = run_sweep(store, None, ray_address=ray_address, num_cpus=num_cpus,
                                   show_progress=show_progress, only_failed=only_failed)
                result["startup_seconds"] = ready - entered  # Ray and the Prefect server, side by side
                result["flow_seconds"] = time.perf_counter() - ready
                return result
    finally:  # processes started from here on are not this sweep's
        if started_ray:
            import ray

            ray.shutdown()
        restore()
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous


def _install_sigint(store: str):
    """First SIGINT: set :data:`STOP`. Second: one line on stderr and exit 130 at once."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum, frame) -> None:
        if STOP.is_set():
            import sys

            sys.stderr.write(f"interrupted again: stopped at once; finished blocks are kept: "
                             f"`scalinglab resume {store}`\n")
            sys.stderr.flush()
            os._exit(130)
        STOP.set()

    previous = signal.signal(signal.SIGINT, handler)
    return lambda: signal.signal(signal.SIGINT, previous)
