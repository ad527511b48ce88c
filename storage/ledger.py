"""Ledgers inside the cube's ``_meta`` group (storage/meta.py).

- failures: one JSON file per failed block (``_meta/ledger/block-<id>.json``), written by the
  worker that failed (after marking the block failed), removed when the block later
  succeeds; ``scalinglab status`` shows why each failed block failed;
- runs: append-only provenance, one small file each time a block starts computing
  (``_meta/runs/``): which node and process computed it, and when.

Cubes made before ``_meta`` existed are read from their root-level ``_ledger``/``_runs``.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import socket
from typing import Any

from .meta import legacy_dir, meta_dir
from .paths import filesystem, join

__all__ = ["record_failure", "clear_failure", "read_failures", "record_run", "record_runs", "read_runs"]

_DIR = "ledger"


def _file(root: str, block_id: int) -> str:
    return meta_dir(root, _DIR, f"block-{block_id:06d}.json")


def _read_dir(fs, dirs: list[str]) -> list[dict[str, Any]]:
    out = []
    for d in dirs:
        if not fs.exists(d):
            continue
        for f in sorted(fs.ls(d, detail=False)):
            if str(f).endswith(".json"):
                with fs.open(f, "r") as fh:
                    out.append(json.loads(fh.read()))
    return out


def record_failure(path: str, block_id: int, units: list[dict[str, Any]], error: str,
                   storage_options: dict[str, Any] | None = None) -> None:
    fs, root = filesystem(path, storage_options)
    entry = {"block": block_id, "units": units, "error": error,
             "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
             "host": socket.gethostname(), "pid": os.getpid()}
    fs.makedirs(meta_dir(root, _DIR), exist_ok=True)
    with fs.open(_file(root, block_id), "w") as f:
        f.write(json.dumps(entry))


def clear_failure(path: str, block_id: int, storage_options: dict[str, Any] | None = None) -> None:
    fs, root = filesystem(path, storage_options)
    for f in (_file(root, block_id), join(legacy_dir(root, "ledger"), f"block-{block_id:06d}.json")):
        try:
            fs.rm(f)
        except FileNotFoundError:
            pass


def read_failures(path: str, storage_options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    fs, root = filesystem(path, storage_options)
    by_block = {e["block"]: e for e in _read_dir(fs, [legacy_dir(root, "ledger"), meta_dir(root, _DIR)])}
    return [by_block[b] for b in sorted(by_block)]


_RUNS = "runs"


def record_run(path: str, block_id: int, info: dict[str, Any], storage_options: dict[str, Any] | None = None) -> None:
    """Append-only provenance: one small file each time a block starts computing."""
    record_runs(path, [block_id], info, storage_options)


def record_runs(path: str, block_ids: list[int], info: dict[str, Any],
                storage_options: dict[str, Any] | None = None,
                per_block: dict[int, dict[str, Any]] | None = None) -> None:
    """One small file when a batch of blocks starts computing (a worker, one Ray call): which
    blocks, on which node and process, when; ``per_block`` adds fields to single blocks (what
    a block copies from older cubes, issue 10.6). :func:`read_runs` returns one entry per block."""
    import uuid

    fs, root = filesystem(path, storage_options)
    entry = {"blocks": [int(b) for b in block_ids],
             "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
             "host": socket.gethostname(), "pid": os.getpid(), **info}
    if per_block:
        entry["per_block"] = {str(int(b)): v for b, v in per_block.items()}
    fs.makedirs(meta_dir(root, _RUNS), exist_ok=True)
    with fs.open(meta_dir(root, _RUNS, f"batch-{int(block_ids[0]):06d}-{uuid.uuid4().hex[:12]}.json"), "w") as f:
        f.write(json.dumps(entry))


def read_runs(path: str, storage_options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every recorded start of a block computation, oldest first."""
    fs, root = filesystem(path, storage_options)
    out = []
    for e in _read_dir(fs, [legacy_dir(root, "runs"), meta_dir(root, _RUNS)]):
        if "blocks" in e:  # a batch record: one entry per block, with the batch's start time
            common = {k: v for k, v in e.items() if k not in ("blocks", "per_block")}
            per = e.get("per_block", {})
            out += [{"block": b, **common, **per.get(str(b), {})} for b in e["blocks"]]
        else:
            out.append(e)
    return sorted(out, key=lambda e: e["time"])
