"""Hermetic settings for every test: Prefect and Ray state in a temporary directory.

Set before prefect or ray is imported anywhere (stack.md §8).
"""
from __future__ import annotations

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


@pytest.fixture(scope="session")
def api_url():
    """A real local Prefect server shared by the CLI subprocesses of the tests (a user's
    `prefect server start` + PREFECT_API_URL): saves each CLI run its own server start."""
    from flows.server import start_local_server, stop_server

    proc, url = start_local_server()
    yield url
    stop_server(proc)


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


@pytest.fixture(scope="session")
def ray_local():
    """A real local Ray (2 CPUs), shared by the in-process flow tests."""
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 2**20,
                 log_to_driver=False)
    yield ray
    ray.shutdown()


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
