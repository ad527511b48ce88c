"""Hermetic settings for every test: Prefect and Ray state in a temporary directory.

Set before prefect or ray is imported anywhere (stack.md §8).
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

_TMP = Path(tempfile.mkdtemp(prefix="sl-"))
for key, value in {
    "PREFECT_HOME": str(_TMP / "prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(_TMP / "results"),
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_TMPDIR": str(_TMP / "ray"),
    "SCALINGLAB_BLOCK_SECONDS": "0",
    "SCALINGLAB_BLOCK_BYTES": "0",
    # one BLAS thread: as in Ray tasks (num_cpus=1), and fast on a contended 2-core machine
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",  # one (alpha, beta, P) cell per block: many small blocks
}.items():
    os.environ[key] = value
os.environ.pop("PREFECT_API_URL", None)
(_TMP / "ray").mkdir(exist_ok=True)

REPO = Path(__file__).resolve().parents[1]


_SERVER: dict = {}  # the session's Prefect server: (process, API URL), launched once collection is done


def pytest_collection_finish(session):
    """Launch the session's Prefect server as soon as the collected tests are known to need it, without
    waiting for it: its boot (~20 s, database migrations) overlaps the tests that run before the first
    one that uses it, instead of adding to the suite's time."""
    if any({"api_url", "prefect_api"} & set(getattr(item, "fixturenames", ())) for item in session.items):
        from flows.server import launch_local_server

        _SERVER["server"] = launch_local_server()


def pytest_sessionfinish(session):
    if "server" in _SERVER:
        from flows.server import stop_server

        stop_server(_SERVER.pop("server")[0])


@pytest.fixture(scope="session")
def api_url():
    """A real local Prefect server shared by the CLI subprocesses of the tests (a user's
    `prefect server start` + PREFECT_API_URL): saves each CLI run its own server start."""
    from flows.server import launch_local_server, stop_server, wait_until_healthy

    if "server" not in _SERVER:
        _SERVER["server"] = launch_local_server()
    proc, url = _SERVER["server"]
    wait_until_healthy(proc, url, 90)
    yield url
    stop_server(_SERVER.pop("server")[0])


@pytest.fixture(scope="session")
def prefect_api(api_url):
    """One Prefect API for the in-process flow tests: the same real local server as the CLI
    subprocesses' (``api_url``; one server start per session instead of two, each ~20 s of
    database migrations on this machine), set the way ``prefect_test_harness`` sets its own:
    PREFECT_API_URL in the settings context, also as the process-global one (its settings
    reach Ray workers through the task runner's serialized context)."""
    import prefect.context
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        with prefect.context._temporary_global_settings_context(prefect.context.get_settings_context()):
            yield


def init_local_ray():
    """Start the tests' local Ray (2 CPUs) in this process."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
             log_to_driver=False)


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray (2 CPUs), shared by the in-process flow tests. The tests that replace it by a
    multi-node cluster (tests/flows/test_cluster.py, tests/reliability/test_node_loss.py) start it
    again when they are done (``restore_local_ray``), so later tests do not each start their own."""
    import ray

    if not ray.is_initialized():
        init_local_ray()
    yield ray
    ray.shutdown()


@contextlib.contextmanager
def restore_local_ray():
    """Around a test that shuts the shared local Ray down: start it again afterwards if it was running."""
    import ray

    was_running = ray.is_initialized()
    try:
        yield
    finally:
        if was_running and not ray.is_initialized():
            init_local_ray()


def write_spec(path: Path, *, store: Path, model: str = "plrf", methods=("theory", "simulation"), seeds: int = 2,
               grid: str | None = None, params: str = "", extra: str = "") -> Path:
    """A small TOML spec for tests."""
    grid = grid or 'alpha = [1.0]\nbeta = [0.4]\nN = [16, 32]\nP = ["inf"]\nt = {geomspace = [1, 1000], num = 10}'
    methods_s = ", ".join(f'"{m}"' for m in methods)
    text = (f'model = "{model}"\nmethods = [{methods_s}]\nseeds = {seeds}\n{extra}\n[grid]\n{grid}\n'
            f'[params]\n{params}\n[store]\npath = "{store}"\n')
    path.write_text(text)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server (moto in standalone server mode) on loopback, in its own process."""
    pytest.importorskip("s3fs")
    port = _free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    import urllib.request

    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except Exception:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("moto_server did not start")
            time.sleep(0.2)
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": url}
    yield url, env
    proc.terminate()
    proc.wait(timeout=10)
