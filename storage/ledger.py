"""The failure ledger beside the cube: one JSON file per failed block (``_ledger/block-<id>.json``).

Written by the task that failed (after marking the block failed), removed when the block
later succeeds; ``scalinglab status`` shows why each failed block failed.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import socket
from typing import Any

from .paths import filesystem, join

__all__ = ["record_failure", "clear_failure", "read_failures", "record_run", "read_runs"]

_DIR = "_ledger"


def _file(root: str, block_id: int) -> str:
    return join(root, _DIR, f"block-{block_id:06d}.json")


def record_failure(path: str, block_id: int, units: list[dict[str, Any]], error: str,
                   storage_options: dict[str, Any] | None = None) -> None:
    fs, root = filesystem(path, storage_options)
    entry = {"block": block_id, "units": units, "error": error,
             "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "host": socket.gethostname(), "pid": os.getpid()}
    fs.makedirs(join(root, _DIR), exist_ok=True)
    with fs.open(_file(root, block_id), "w") as f:
        f.write(json.dumps(entry))


def clear_failure(path: str, block_id: int, storage_options: dict[str, Any] | None = None) -> None:
    fs, root = filesystem(path, storage_options)
    f = _file(root, block_id)
    if fs.exists(f):
        fs.rm(f)


def read_failures(path: str, storage_options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    fs, root = filesystem(path, storage_options)
    d = join(root, _DIR)
    if not fs.exists(d):
        return []
    out = []
    for f in sorted(fs.ls(d, detail=False)):
        if str(f).endswith(".json"):
            with fs.open(f, "r") as fh:
                out.append(json.loads(fh.read()))
    return out


_RUNS = "_runs"


def record_run(path: str, block_id: int, info: dict[str, Any], storage_options: dict[str, Any] | None = None) -> None:
    """Append-only provenance: one small file each time a block starts computing."""
    import uuid

    fs, root = filesystem(path, storage_options)
    entry = {"block": block_id, "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
             "host": socket.gethostname(), "pid": os.getpid(), **info}
    fs.makedirs(join(root, _RUNS), exist_ok=True)
    with fs.open(join(root, _RUNS, f"block-{block_id:06d}-{uuid.uuid4().hex[:12]}.json"), "w") as f:
        f.write(json.dumps(entry))


def read_runs(path: str, storage_options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every recorded start of a block computation, oldest first."""
    fs, root = filesystem(path, storage_options)
    d = join(root, _RUNS)
    if not fs.exists(d):
        return []
    out = []
    for f in fs.ls(d, detail=False):
        if str(f).endswith(".json"):
            with fs.open(f, "r") as fh:
                out.append(json.loads(fh.read()))
    return sorted(out, key=lambda e: e["time"])
