"""Deployable entry flows (sweep, resume, analyze) and ``scalinglab serve``.

Each entry flow takes plain parameters (a spec path or a store) so that a run triggered through
the Prefect API (``prefect deployment run 'scalinglab-sweep/sweep' --param spec_path=...``), or by
a schedule, performs the same work as the CLI.
"""
from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

import storage

__all__ = ["sweep_entry", "resume_entry", "analyze_entry", "build_deployments", "serve"]


def _summary(spec, store: str, result: dict[str, Any] | None) -> dict[str, Any]:
    counts = storage.status_counts(spec, store, spec.storage_options or None)
    return {"store": store, **counts, "ran_blocks": (result or {}).get("submitted", 0)}


@flow(name="scalinglab-sweep")
def sweep_entry(spec_path: str, ray_address: str | None = None, force: bool = False) -> dict[str, Any]:
    """Validate the spec, create or reopen its cube, compute every pending block."""
    from flows.sweep import execute, open_or_create

    logger = get_run_logger()
    spec, store = open_or_create(spec_path, force=force)
    blocks = storage.pending_blocks(spec, store, storage_options=spec.storage_options or None)
    if not blocks:
        logger.info("nothing to do: every block of %s is done", store)
    result = execute(store, spec, blocks, ray_address=ray_address, note=logger.warning)
    return _summary(spec, store, result)


@flow(name="scalinglab-resume")
def resume_entry(store: str, failed: bool = False, ray_address: str | None = None,
                 force: bool = False) -> dict[str, Any]:
    """Run what is not done in the cube (only the failed blocks with ``failed=True``)."""
    from flows.sweep import check_code_version, execute

    logger = get_run_logger()
    spec = storage.read_spec(store)
    check_code_version(store, spec, force)
    blocks = storage.pending_blocks(spec, store, only_failed=failed)
    if not blocks:
        logger.info("nothing to do: every block of %s is done", store)
    result = execute(store, spec, blocks, ray_address=ray_address, note=logger.warning)
    summary = _summary(spec, store, result)
    summary["message"] = "nothing to do" if not blocks else f"ran {len(blocks)} blocks"
    return summary


@flow(name="scalinglab-analyze")
def analyze_entry(store: str, ray_address: str | None = None) -> dict[str, Any]:
    """Fits, frontiers and figures for a filled cube (written back into it)."""
    from flows.analyze import run_analysis

    return run_analysis(store, ray_address=ray_address)


def build_deployments(*, spec_path: str | None = None, store: str | None = None, cron: str | None = None,
                      interval: float | None = None) -> list:
    """Deployments of the three entry flows; a schedule applies to those given a default target."""
    sched: dict[str, Any] = {}
    if cron:
        sched["cron"] = cron
    elif interval:
        sched["interval"] = interval
    deps = [
        sweep_entry.to_deployment(name="sweep", parameters={"spec_path": spec_path} if spec_path else {},
                                  **(sched if spec_path else {})),
        resume_entry.to_deployment(name="resume", parameters={"store": store} if store else {},
                                   **(sched if store else {})),
        analyze_entry.to_deployment(name="analyze", parameters={"store": store} if store else {}),
    ]
    return deps


def serve(deployments: list, limit: int | None = None) -> None:
    """Serve the deployments (blocks until interrupted)."""
    from prefect import serve as prefect_serve

    prefect_serve(*deployments, limit=limit, print_starting_message=True)
