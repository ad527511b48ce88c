"""`scalinglab serve`: deployments of sweep/resume/analyze on a real Prefect server; a run
triggered through the Prefect API performs a real sweep; a resume of a finished cube does
nothing and says so; schedules come from the CLI or the spec's [schedule] table."""
from __future__ import annotations

import os
import signal
import subprocess

import pytest

import storage
from tests.conftest import write_spec
from tests.flows.helpers import CLI, REPO, cli_env, wait_for


@pytest.fixture
def served(tmp_path, api_url):
    store = tmp_path / "cube.zarr"
    spec = write_spec(tmp_path / "spec.toml", store=store, seeds=2,
                      grid='alpha = [1.0]\nbeta = [0.4, 0.6]\nN = [16, 32]\nP = ["inf"]\nt = [1, 10, 100, 1000]',
                      extra="[schedule]\ninterval = 3600")
    log = open(tmp_path / "serve.log", "w")
    # the runner looks for new runs every second (Prefect's default: 10 s), and run_deployment
    # below polls every second (default 5 s): both only wait
    proc = subprocess.Popen([*CLI, "serve", "--spec", str(spec), "--store", str(store)], cwd=REPO,
                            env=cli_env(api_url, PREFECT_LOGGING_LEVEL="INFO", PREFECT_RUNNER_POLL_FREQUENCY="1"), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        from prefect.client.orchestration import get_client

        def registered() -> bool:
            with get_client(sync_client=True) as client:
                try:
                    client.read_deployment_by_name("scalinglab-resume/resume")
                    return True
                except Exception:
                    return False

        assert wait_for(registered, timeout=90, step=0.25), (tmp_path / "serve.log").read_text()
        yield spec, store
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def test_deployment_run_through_the_api_performs_a_real_sweep(served):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
    from prefect.deployments import run_deployment

    spec_path, store = served
    with get_client(sync_client=True) as client:
        dep = client.read_deployment_by_name("scalinglab-sweep/sweep")
        assert dep.parameters == {"spec_path": str(spec_path.resolve())}
        assert dep.schedules and dep.schedules[0].schedule.interval.total_seconds() == 3600  # from [schedule]
    run = run_deployment("scalinglab-sweep/sweep", timeout=300, poll_interval=1)
    assert run.state.is_completed(), run.state
    from scalinglab.spec import load_spec

    counts = storage.status_counts(load_spec(spec_path), str(store))
    assert counts["units_done"] == counts["units_total"] == 4
    n_runs = len(storage.read_runs(str(store)))
    # a resume of the finished cube does nothing, and says so in its log
    run = run_deployment("scalinglab-resume/resume", timeout=300, poll_interval=1)
    assert run.state.is_completed(), run.state
    assert len(storage.read_runs(str(store))) == n_runs
    logs: list = []

    def said_nothing_to_do() -> bool:  # run logs reach the API in batches, a moment after the run ends
        with get_client(sync_client=True) as client:
            logs[:] = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        return any("nothing to do" in log.message for log in logs)

    assert wait_for(said_nothing_to_do, timeout=30, step=0.5), [log.message for log in logs]
