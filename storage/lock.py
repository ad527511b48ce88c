"""One writer per cube: a lock file in the store (path :data:`LOCK_FILE`, relative to the store).

The lock names its holder (host, pid, the process's start, a token, start time). A second
sweep on the same store is refused with that information. A lock whose holder is on this
host and no longer alive (or whose pid now belongs to another process) is *stale* (a killed
driver): it is detected, reported and taken over.

How the lock is made atomic, per kind of store:

- **local disk**: the holder's record is written to a temporary file, which is then
  hard-linked into place (``os.link`` fails if the lock exists). The lock file therefore
  appears whole or not at all: a SIGKILL at any point leaves either no lock, a complete lock
  (stale, taken over), or an orphaned temporary file (removed by the next acquirer).
- **S3**: a conditional put, ``If-None-Match: *`` (s3fs ``pipe_file(..., mode="create")``): the
  store itself lets exactly one create win. The first lock taken on a store is probed (the
  same create again must be refused); a store that ignores the condition is reported and
  treated as below.
- **any other fsspec store** (or an S3 look-alike without conditional writes): check, write,
  wait, read back. This is best effort only; see README, "Locks".

Removing a lock (release, taking over a stale one, ``scalinglab unlock``) is a
compare-and-delete built from the same atomic create: whoever removes the lock with token T
must first create ``<lock>.break-T``, so of several drivers taking over one stale lock
exactly one removes it, and none removes a lock that another driver created meanwhile.
A break file left by a killed driver is itself stale and is taken over the same way.
"""
from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import socket
import sys
import time
import uuid
from typing import Any

from scalinglab.errors import SpecError

from .killpoints import kill_point
from .paths import filesystem, is_local, join

__all__ = ["LOCK_FILE", "CubeLock", "LockedError", "read_lock", "break_lock", "pid_alive", "is_stale",
           "holder_alive", "lock_path"]

#: Where the writer lock lives, relative to the store root (the one place that says so).
LOCK_FILE = "_meta/lock.json"  # inside the cube's bookkeeping group (storage/meta.py)

_SETTLE_S = 1.0  # non-atomic stores: time between writing the lock and reading it back
_NOTED: set[str] = set()


def lock_path(root: str) -> str:
    """The lock file of the store whose root (inside its filesystem) is ``root``."""
    return join(root, LOCK_FILE)


class LockedError(SpecError):
    """The store is being written by another live sweep."""


def pid_alive(pid: int) -> bool:
    """Whether a process of this host is alive (a zombie, killed but not yet reaped, is dead)."""
    import psutil

    if pid <= 0:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


#: Prefix of process identities made by :func:`_process_identity` (locks written by older
#: versions recorded another format, which is then not compared).
_IDENTITY = "psutil:"


def _process_identity(pid: int) -> str | None:
    """``psutil:<boot time>:<process start time>``, so that a pid reused by another process
    after a reboot or a kill is not mistaken for the lock's holder."""
    import psutil

    try:
        return f"{_IDENTITY}{psutil.boot_time():.0f}:{psutil.Process(pid).create_time():.3f}"
    except (psutil.Error, OSError):
        return None


def holder_alive(info: dict[str, Any]) -> bool | None:
    """True if the lock's holder is a live process of this host, False if it is on this host
    and dead, None if it is on another host (or the lock is unreadable): nothing can be known."""
    if info.get("host") != socket.gethostname():
        return None
    try:
        pid = int(info.get("pid", -1))
    except (TypeError, ValueError):
        return None
    if not pid_alive(pid):
        return False
    recorded = info.get("proc")
    if recorded and str(recorded).startswith(_IDENTITY) and _process_identity(pid) not in (None, recorded):
        return False  # the pid now belongs to another process
    return True


def is_stale(info: dict[str, Any]) -> bool:
    """A lock whose holder was on this host and is gone."""
    return holder_alive(info) is False


def _s3_error(err: BaseException) -> tuple[str | None, int | None]:
    """(error code, HTTP status) of the S3 response behind an s3fs error, if there was one."""
    while err is not None:
        response = getattr(err, "response", None)
        if isinstance(response, dict):
            return (response.get("Error", {}).get("Code"),
                    response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        err = err.__cause__ or err.__context__
    return None, None


def _note(key: str, message: str) -> None:
    if key not in _NOTED:
        _NOTED.add(key)
        print(f"note: {message}", file=sys.stderr, flush=True)


class _Files:
    """Atomic create, read and compare-and-delete of small JSON files in one store."""

    def __init__(self, path: str, storage_options: dict[str, Any] | None = None) -> None:
        self.path = path
        self.fs, self.root = filesystem(path, storage_options)
        self.local = is_local(path)
        proto = self.fs.protocol
        self.protocol = proto if isinstance(proto, str) else proto[0]
        # s3: conditional put, checked by a probe on the first create; memory: one process
        self.atomic = self.local or self.protocol in ("s3", "s3a", "memory")
        self._probed = self.protocol not in ("s3", "s3a")

    # -- reading ---------------------------------------------------------------------------
    def read(self, target: str) -> dict[str, Any] | None:
        """The record in ``target``; None if there is none. Read without any listing cache."""
        try:
            raw = self.fs.cat_file(target)
        except FileNotFoundError:
            return None
        try:
            info = json.loads(raw)
            if not isinstance(info, dict):
                raise ValueError(type(info).__name__)
            return info
        except (ValueError, UnicodeDecodeError):
            return {"host": "?", "pid": -1, "started": "?", "unreadable": True,
                    "token": "unreadable-" + hashlib.sha1(raw).hexdigest()[:12]}

    def torn(self, target: str, held: dict[str, Any]) -> bool:
        """An unreadable lock on local disk, older than a minute: only a writer killed mid-write
        leaves one (the O_EXCL fallback without hard links, or code before the linked lock)."""
        if not (self.local and held.get("unreadable")):
            return False
        try:
            return time.time() - os.stat(target).st_mtime > 60
        except FileNotFoundError:
            return False

    def remove(self, target: str) -> None:
        try:
            if self.local:
                os.unlink(target)
            else:
                self.fs.rm_file(target)
        except FileNotFoundError:
            pass

    # -- atomic create ---------------------------------------------------------------------
    def create(self, target: str, info: dict[str, Any]) -> bool:
        """Create ``target`` holding ``info`` unless it exists. True if this call created it."""
        data = json.dumps(info).encode()
        if self.local:
            return self._create_local(target, data)
        if self.atomic:
            try:
                self._put_if_absent(target, data)
            except FileExistsError:
                return False
            except NotImplementedError:
                self._not_atomic("the store does not support conditional writes (If-None-Match)")
            else:
                if not self._probed:
                    self._probe(target, data)
                return self.atomic or self._read_back(target, info)
        return self._create_checked(target, info, data)

    def _put_if_absent(self, target: str, data: bytes) -> None:
        for attempt in range(8):
            try:
                self.fs.pipe_file(target, data, mode="create")
                return
            except FileExistsError:
                raise
            except OSError as err:
                code, status = _s3_error(err)
                if code == "PreconditionFailed" or status == 412:  # refused, without naming the condition
                    raise FileExistsError(target) from err
                if code == "NotImplemented" or status == 501:  # an S3 look-alike without conditional writes
                    raise NotImplementedError(str(err)) from err
                if code == "ConditionalRequestConflict" or status == 409:  # S3: a racing conditional write
                    time.sleep(0.05 * 2 ** attempt)
                    continue
                raise
        raise FileExistsError(target)  # conflicts all along: another create is winning

    def _probe(self, target: str, data: bytes) -> None:
        """Does the store honour ``If-None-Match: *``? Put the same bytes again: it must refuse."""
        self._probed = True
        try:
            self._put_if_absent(target, data)
        except FileExistsError:
            return  # honoured: the create above was atomic
        except OSError as err:
            self._not_atomic(f"conditional put failed ({type(err).__name__}: {str(err)[:80]})")
            return
        self._not_atomic("the store ignores If-None-Match")

    def _not_atomic(self, why: str) -> None:
        self.atomic = False
        _note(f"{self.protocol}:{self.root.split('/')[0]}",
              f"{self.path}: {why}; its lock is best effort (two sweeps started within about a second "
              "of each other may both run; see README, Locks)")

    def _read_back(self, target: str, info: dict[str, Any]) -> bool:
        time.sleep(_SETTLE_S)
        return (self.read(target) or {}).get("token") == info.get("token")

    def _create_checked(self, target: str, info: dict[str, Any], data: bytes) -> bool:
        """Best effort where no atomic create exists: check, write, wait, read back."""
        self._not_atomic("no atomic create (conditional put) on this kind of store")
        if self.read(target) is not None:
            return False
        self.fs.pipe_file(target, data)
        return self._read_back(target, info)

    def _create_local(self, target: str, data: bytes) -> bool:
        """Write a temporary file, then hard-link it into place: the lock is whole or absent."""
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        tmp = f"{target}.{socket.gethostname()}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            kill_point("lock:after-tmp")
            try:
                os.link(tmp, target)
                return True
            except FileExistsError:
                return False
            except OSError as err:  # a filesystem without hard links: exclusive create, then write
                if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EXDEV):
                    raise
            try:
                fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            return True
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    def clean_orphans(self, target: str) -> None:
        """Local stores: remove what killed drivers of this host left beside the lock, i.e.
        temporary files (killed mid-create) and break files of records long gone."""
        if not self.local:
            return
        folder, base = os.path.split(target)
        try:
            names = os.listdir(folder or ".")
        except FileNotFoundError:
            return
        host = socket.gethostname()
        current = str((self.read(target) or {}).get("token"))
        for name in names:
            path = os.path.join(folder, name)
            try:
                if name.startswith(base + ".") and name.endswith(".tmp"):
                    rest, pid, _ = name[:-4].rsplit(".", 2)
                    if rest.endswith("." + host) and not pid_alive(int(pid)):
                        os.unlink(path)
                elif name.startswith(base + ".break-") and name[len(base) + 7:] != current:
                    if is_stale(self.read(path) or {}):
                        os.unlink(path)
            except (ValueError, OSError):
                continue

    # -- compare-and-delete ----------------------------------------------------------------
    def replace(self, target: str, held: dict[str, Any], info: dict[str, Any] | None,
                breaker: dict[str, Any]) -> bool:
        """If ``target`` still holds ``held``, remove it; then create it with ``info`` (unless
        None). True if the file now holds ``info`` (or, with ``info=None``, if ``held`` is gone).

        Serialised by ``<target>.break-<token of held>``: one remover per record, ever."""
        token = str(held.get("token"))
        brk = f"{target}.break-{token}"
        if not self.create(brk, breaker):
            other = self.read(brk)
            if other is None:  # that remover has finished
                return self.create(target, info) if info is not None else self.read(target) is None
            if not is_stale(other) or not self.replace(brk, other, breaker, breaker):
                return False  # a live driver is removing it now
        try:
            current = self.read(target)
            if current is not None and str(current.get("token")) == token:
                kill_point("lock:during-takeover")
                self.remove(target)
            if info is None:
                return True
            return self.create(target, info)
        finally:
            self.remove(brk)


def _files(path: str, storage_options: dict[str, Any] | None) -> tuple[_Files, str]:
    files = _Files(path, storage_options)
    return files, lock_path(files.root)


def read_lock(path: str, storage_options: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The holder's record, or None if no lock is held."""
    files, target = _files(path, storage_options)
    return files.read(target)


def break_lock(path: str, storage_options: dict[str, Any] | None = None, *,
               token: str | None = None) -> dict[str, Any] | None:
    """Remove the lock (only if it still has ``token``, when given). Returns what was removed."""
    files, target = _files(path, storage_options)
    held = files.read(target)
    if held is None or (token is not None and str(held.get("token")) != token):
        return None
    if files.replace(target, held, None, _who()):
        return held
    return None


def _who() -> dict[str, Any]:
    info: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "token": uuid.uuid4().hex,
                            "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    ident = _process_identity(os.getpid())
    if ident:
        info["proc"] = ident
    return info


class CubeLock:
    """Context manager holding the store's writer lock."""

    def __init__(self, path: str, storage_options: dict[str, Any] | None = None, *, force: bool = False,
                 reaper_token: str | None = None) -> None:
        self.path, self.storage_options, self.force = path, storage_options, force
        self.reaper_token = reaper_token
        self.info = _who()
        self.token = self.info["token"]
        if reaper_token:  # marks the processes this sweep starts (flows/reaper.py)
            self.info["reaper_token"] = reaper_token
        self.recovered: dict[str, Any] | None = None

    def acquire(self) -> "CubeLock":
        files, target = _files(self.path, self.storage_options)
        files.clean_orphans(target)
        held: dict[str, Any] = {}
        for _ in range(3):  # a lock released while we looked: try again
            if files.create(target, self.info):
                kill_point("lock:after-create")
                return self
            held = files.read(target) or {}
            if not held:
                continue
            if not (self.force or is_stale(held) or files.torn(target, held)):
                break
            if files.replace(target, held, self.info, {**_who(), "breaking": held.get("token")}):
                self.recovered = held
                kill_point("lock:after-create")
                return self
            held = files.read(target) or held
            break
        if held.get("unreadable"):
            raise LockedError("store", "lock", "an unreadable lock file", "a whole lock record or none",
                              "A lock torn by a killed writer is taken over once a minute old; "
                              "`scalinglab unlock --force STORE` removes it now")
        raise LockedError(
            "store", "lock", f"held by pid {held.get('pid')} on {held.get('host')} since {held.get('started')}",
            "no other sweep writing this store",
            "Wait for it to finish, or if that process is gone run `scalinglab unlock STORE`",
        )

    def release(self) -> None:
        files, target = _files(self.path, self.storage_options)
        held = files.read(target)
        if held and held.get("token") == self.token:
            files.replace(target, held, None, _who())

    def __enter__(self) -> "CubeLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()
