"""Leave no process behind when the driver is killed with SIGKILL (stack.md §8).

``ray.init`` starts gcs, raylet and agents; after a ``kill -9`` of the driver, Ray's
DashboardAgent and RuntimeEnvAgent survive (they ignore SIGTERM). The driver therefore
marks its environment with a per-sweep token before Ray starts (every process Ray spawns
inherits it) and starts this small watcher in its own session. When the driver is gone, the
watcher SIGKILLs every process that carries the token. Linux only; a no-op elsewhere.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

__all__ = ["start_reaper", "TOKEN_ENV", "kill_marked"]

TOKEN_ENV = "SCALINGLAB_SWEEP_TOKEN"


def kill_marked(token: str, exclude: set[int] | None = None) -> int:
    """SIGKILL every process whose environment carries ``TOKEN_ENV=token``; returns how many.

    Reads ``/proc/<pid>/environ`` as raw bytes: Ray renames its processes with setproctitle,
    which can overwrite the start of that area, so a parsed environ may lose the marker.
    """
    import signal

    marker = f"{TOKEN_ENV}={token}".encode()
    exclude = (exclude or set()) | {os.getpid()}
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in exclude:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if marker not in fh.read():
                    continue
            os.kill(int(entry), signal.SIGKILL)
            killed += 1
        except (OSError, ProcessLookupError):
            continue
    return killed


def start_reaper() -> str | None:
    """Mark this process's environment with a new token and start the watcher; returns the token.

    The caller keeps the marker in ``os.environ`` only while it starts the processes to be
    reaped (see :func:`flows.sweep.execute`), so processes it starts later are not marked.
    """
    if not sys.platform.startswith("linux"):
        return None
    token = uuid.uuid4().hex
    os.environ[TOKEN_ENV] = token
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    subprocess.Popen([sys.executable, "-m", "flows.reaper", str(os.getpid()), token], env=env,
                     start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, close_fds=True)
    return token


def _watch(pid: int, token: str) -> None:
    from storage.lock import pid_alive

    while pid_alive(pid):
        time.sleep(0.5)
    for _ in range(3):  # processes may still be spawning while the tree collapses
        kill_marked(token)
        time.sleep(1.0)


if __name__ == "__main__":
    _watch(int(sys.argv[1]), sys.argv[2])
