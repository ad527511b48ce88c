"""The Zarr/xarray cube: create, open, write blocks, status, ledger, lock (only this package imports zarr)."""
from .cube import (DONE, FAILED, PENDING, STATUS_NAMES, CubeWriter, block_status, create_cube, cube_exists, open_cube,
                   pending_blocks, read_spec, set_status, spec_difference, status_counts, verify_blocks, write_block)
from .meta import clear_progress, read_progress, write_progress
from .ledger import clear_failure, read_failures, read_runs, record_failure, record_run, record_runs
from .lock import CubeLock, LockedError, break_lock, read_lock

__all__ = [
    "DONE", "FAILED", "PENDING", "STATUS_NAMES", "block_status", "create_cube", "cube_exists", "open_cube",
    "pending_blocks", "read_spec", "set_status", "spec_difference", "status_counts", "verify_blocks",
    "write_block", "clear_failure", "read_runs", "record_run", "record_runs", "read_failures", "record_failure", "CubeLock", "LockedError",
    "break_lock", "read_lock", "CubeWriter", "read_progress", "write_progress", "clear_progress", "analysis_exists", "open_analysis", "write_analysis",
]

_LAZY = {"analysis_exists", "open_analysis", "write_analysis"}  # storage.analysis pulls scipy: import on use


def __getattr__(name: str):
    if name in _LAZY:
        from . import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'storage' has no attribute {name!r}")
