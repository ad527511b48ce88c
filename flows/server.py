"""One Prefect API for the whole sweep (stack.md §2).

Without PREFECT_API_URL, Prefect would start a temporary server in *every* Ray worker.
So the driver starts one local server (uvicorn, like Prefect's own ephemeral server) and
exports its URL before Ray starts; workers inherit it. The server dies with the driver
(PR_SET_PDEATHSIG), so a ``kill -9`` of the driver leaves no orphaned server behind.
If PREFECT_API_URL is already set (a real ``prefect server start``), it is used as is.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Callable, Iterator

__all__ = ["prefect_api", "quiet_defaults"]


def quiet_defaults(logging_level: str = "WARNING") -> None:
    """Environment defaults for a quiet, offline, fast run (only where the user set nothing)."""
    for key, value in {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_LOGGING_LEVEL": logging_level,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_DEDUP_LOGS": "0",
    }.items():
        os.environ.setdefault(key, value)
    # Ray 2.60 turns token authentication on for a new local cluster (its secure default, kept)
    # and says so on every start ("Token authentication is enabled…", "Generated new
    # authentication token…"): keep those notices out of a run's output, errors still show.
    # RAY_AUTH_MODE set by the user is honoured as is.
    import logging

    logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_local_server() -> tuple[subprocess.Popen, str]:
    """Start a local Prefect API server that dies with this process; return (process, API URL)
    at once, without waiting for it to answer (see :func:`wait_until_healthy`)."""
    import prefect

    port = _free_port()
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect.__module_path__.parent), "--factory",
         "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"],
        env=env, preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    return proc, f"http://127.0.0.1:{port}/api"


def wait_until_healthy(proc: subprocess.Popen, url: str, timeout: float = 90.0) -> None:
    """Block until the server at ``url`` answers ``/health`` (or raise, stopping it)."""
    import httpx

    deadline = time.monotonic() + timeout
    with httpx.Client() as client:
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
                raise RuntimeError(f"the local Prefect server exited with code {proc.returncode}: {err}")
            try:
                if client.get(f"{url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                stop_server(proc)
                raise RuntimeError(f"the local Prefect server did not answer within {timeout:.0f} s")
            time.sleep(0.1)


def start_local_server(timeout: float = 90.0) -> tuple[subprocess.Popen, str]:
    """Start a local Prefect API server that dies with this process; return (process, API URL)."""
    proc, url = launch_local_server()
    wait_until_healthy(proc, url, timeout)
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def prefect_api(timeout: float = 90.0, while_starting: Callable[[], None] | None = None) -> Iterator[str]:
    """Yield the API URL every process of this sweep reports to (starting a local server if needed).

    ``while_starting`` runs while the server boots (e.g. Ray's start-up), so the two fixed
    costs of a run overlap instead of adding up; it runs once in every case.
    """
    url = os.environ.get("PREFECT_API_URL")
    if url:
        if while_starting:
            while_starting()
        yield url
        return
    proc, url = launch_local_server()
    try:
        if while_starting:
            while_starting()
        wait_until_healthy(proc, url, timeout)
    except BaseException:
        stop_server(proc)
        raise
    os.environ["PREFECT_API_URL"] = url
    try:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
        stop_server(proc)
