"""One writer per cube: a lock file ``_lock.json`` in the store.

The lock names its holder (host, pid, start time). A second sweep on the same store is
refused with that information. A lock whose holder is on this host and no longer alive is
*stale* (a killed driver): it is detected, reported and taken over.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import uuid
from typing import Any

from scalinglab.errors import SpecError

from .paths import filesystem, is_local, join

__all__ = ["CubeLock", "LockedError", "read_lock", "break_lock", "pid_alive", "is_stale"]

_NAME = "_lock.json"


class LockedError(SpecError):
    """The store is being written by another live sweep."""


def pid_alive(pid: int) -> bool:
    """Whether a process of this host is alive (a zombie counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) still answers kill(0)
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True  # no /proc (not Linux): trust kill(0)


def read_lock(path: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    fs, root = filesystem(path, storage_options)
    f = join(root, _NAME)
    if not fs.exists(f):
        return None
    try:
        with fs.open(f, "r") as fh:
            return json.loads(fh.read())
    except (json.JSONDecodeError, OSError):
        return {"host": "?", "pid": -1, "started": "?", "token": "?"}


def is_stale(info: dict[str, Any]) -> bool:
    return info.get("host") == socket.gethostname() and not pid_alive(int(info.get("pid", -1)))


def break_lock(path: str, storage_options: dict[str, Any] | None = None) -> None:
    fs, root = filesystem(path, storage_options)
    f = join(root, _NAME)
    if fs.exists(f):
        fs.rm(f)


class CubeLock:
    """Context manager holding the store's writer lock."""

    def __init__(self, path: str, storage_options: dict[str, Any] | None = None, *, force: bool = False,
                 reaper_token: str | None = None) -> None:
        self.path, self.storage_options, self.force = path, storage_options, force
        self.reaper_token = reaper_token
        self.token = uuid.uuid4().hex
        self.recovered: dict[str, Any] | None = None

    def _write_exclusive(self, info: dict[str, Any]) -> bool:
        fs, root = filesystem(self.path, self.storage_options)
        target = join(root, _NAME)
        if is_local(self.path):
            try:
                fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(info))
            return True
        if fs.exists(target):  # object stores have no O_EXCL: check, write, read back
            return False
        with fs.open(target, "w") as fh:
            fh.write(json.dumps(info))
        return (read_lock(self.path, self.storage_options) or {}).get("token") == info["token"]

    def acquire(self) -> "CubeLock":
        info = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token,
                "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        if self.reaper_token:  # marks the processes this sweep starts (flows/reaper.py)
            info["reaper_token"] = self.reaper_token
        if self._write_exclusive(info):
            return self
        held = read_lock(self.path, self.storage_options) or {}
        if self.force or is_stale(held):
            self.recovered = held
            break_lock(self.path, self.storage_options)
            if self._write_exclusive(info):
                return self
            held = read_lock(self.path, self.storage_options) or {}
        raise LockedError(
            "store", "lock", f"held by pid {held.get('pid')} on {held.get('host')} since {held.get('started')}",
            "no other sweep writing this store",
            "Wait for it to finish, or if that process is gone run `scalinglab unlock STORE`",
        )

    def release(self) -> None:
        held = read_lock(self.path, self.storage_options)
        if held and held.get("token") == self.token:
            break_lock(self.path, self.storage_options)

    def __enter__(self) -> "CubeLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
