"""Where a cube keeps its bookkeeping: the ``_meta`` sub-group, out of xarray's sight.

Ledgers (failures, block starts), the writer lock and the live progress of a running sweep
are small JSON files under ``<store>/_meta/``. ``_meta`` is a real (empty) Zarr group, so a
plain ``xr.open_zarr(store)`` lists it as a group and ignores it instead of warning about an
object that "is not recognized as a component of a Zarr hierarchy"; with the consolidated
metadata written at creation (:func:`storage.cube.create_cube`) readers never list the store.

Cubes written before ``_meta`` existed kept ``_ledger/`` and ``_runs/`` at the root; readers
look there too (:func:`legacy_dir`).
"""
from __future__ import annotations

import datetime as _dt
import json
import time
from typing import Any

from .paths import filesystem, join

__all__ = ["META", "meta_dir", "legacy_dir", "write_progress", "read_progress", "clear_progress", "now_iso"]

#: The sub-group that holds every bookkeeping file of a cube.
META = "_meta"
_PROGRESS = "progress.json"


def meta_dir(root: str, *parts: str) -> str:
    """``<root>/_meta/<parts...>`` (``root`` as returned by :func:`storage.paths.filesystem`)."""
    return join(root, META, *parts)


def legacy_dir(root: str, name: str) -> str:
    """Where cubes made before ``_meta`` kept the ledger ``name`` (``_ledger`` or ``_runs``)."""
    return join(root, f"_{name}")


def now_iso(timespec: str = "seconds") -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec=timespec)


def write_progress(path: str, counts: dict[str, Any], storage_options: dict[str, Any] | None = None) -> None:
    """Publish a running sweep's counts (done/failed/pending, rate, ETA) for ``scalinglab status``.

    Written by the driver every few seconds; one small object, replaced whole (``LocalStore``-
    style temp-and-rename on local disks via fsspec's ``pipe_file``)."""
    fs, root = filesystem(path, storage_options)
    target = meta_dir(root, _PROGRESS)
    payload = json.dumps({**counts, "updated": now_iso(), "updated_unix": time.time()}).encode()
    fs.makedirs(meta_dir(root), exist_ok=True)
    fs.pipe_file(target, payload)


def read_progress(path: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The last progress a driver published, or None."""
    fs, root = filesystem(path, storage_options)
    target = meta_dir(root, _PROGRESS)
    try:
        return json.loads(fs.cat_file(target))
    except (FileNotFoundError, json.JSONDecodeError, OSError):
        return None


def clear_progress(path: str, storage_options: dict[str, Any] | None = None) -> None:
    fs, root = filesystem(path, storage_options)
    target = meta_dir(root, _PROGRESS)
    try:
        fs.rm(target)
    except (FileNotFoundError, OSError):
        pass
