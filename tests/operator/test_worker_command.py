"""`meshshift worker` as users run it: the real console script against a dev server."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import urllib.request

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from meshshift.migration.constants import compensation_task_queue
from tests.foundation.procs import MESHSHIFT, meshshift_env
from tests.netutil import free_port


def _scrape(url: str, attempts: int = 150) -> str:
    for _ in range(attempts):
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return str(resp.read().decode())
        except OSError:
            time.sleep(0.2)  # the worker is still connecting; there is no event to wait on
    raise AssertionError(f"no metrics at {url}")


def _start_worker(address: str, task_queue: str, *flags: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    env = meshshift_env(TEMPORAL_ADDRESS=address, MESHSHIFT_TASK_QUEUE=task_queue, AWS_REGION="us-east-1")
    env.pop("TEMPORAL_API_KEY", None)
    proc = subprocess.Popen(
        [str(MESHSHIFT), "worker", "--metrics-port", str(port), "--log-format", "json", *flags],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, port


def _stop_worker(proc: subprocess.Popen[str]) -> str:
    try:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err
    return err


def _run_worker(address: str, task_queue: str) -> str:
    proc, port = _start_worker(address, task_queue)
    try:
        _scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        err = _stop_worker(proc)
    return err


async def test_worker_serves_metrics_logs_json_and_stops_on_sigterm(
    env_local: WorkflowEnvironment, task_queue: str
) -> None:
    address = env_local.client.service_client.config.target_host
    err = await asyncio.to_thread(_run_worker, address, task_queue)
    assert '"message": "meshshift worker running' in err
    assert task_queue in err


async def _activity_pollers(client: Client, queue: str) -> list[str]:
    """The identities polling ``queue`` for activities, as the server reports them."""
    for _ in range(300):
        described = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            )
        )
        if described.pollers:
            return [p.identity for p in described.pollers]
        await asyncio.sleep(0.1)  # the server learns of a poller only when it polls: no event to wait on
    return []


async def test_worker_polls_its_task_queue_and_the_compensation_queue(
    env_local: WorkflowEnvironment, task_queue: str
) -> None:
    """A rollback's activities are scheduled on the compensation queue: the worker process users run
    must poll it, or a rollback would never start."""
    address = env_local.client.service_client.config.target_host
    proc, _ = await asyncio.to_thread(_start_worker, address, task_queue)
    try:
        main = await _activity_pollers(env_local.client, task_queue)
        compensation = await _activity_pollers(env_local.client, compensation_task_queue(task_queue))
    finally:
        await asyncio.to_thread(_stop_worker, proc)
    assert main and compensation
    assert set(main) == set(compensation)  # the same process serves both


async def test_split_workers_each_poll_their_own_queue(env_local: WorkflowEnvironment, task_queue: str) -> None:
    """`--serve migrations` and `--serve compensation`: rollbacks in a process of their own."""
    address = env_local.client.service_client.config.target_host
    migrations, _ = await asyncio.to_thread(_start_worker, address, task_queue, "--serve", "migrations")
    compensation, _ = await asyncio.to_thread(_start_worker, address, task_queue, "--serve", "compensation")
    try:
        main = await _activity_pollers(env_local.client, task_queue)
        rollbacks = await _activity_pollers(env_local.client, compensation_task_queue(task_queue))
    finally:
        logs = [await asyncio.to_thread(_stop_worker, p) for p in (migrations, compensation)]
    assert main and rollbacks and not set(main) & set(rollbacks)
    assert f"{task_queue} (max 50 concurrent activities) only" in logs[0]
    assert f"{compensation_task_queue(task_queue)} (max 10 concurrent compensations) only" in logs[1]


def test_worker_refuses_an_unknown_role() -> None:
    proc = subprocess.run(
        [str(MESHSHIFT), "worker", "--serve", "rollbacks"],
        env=meshshift_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "'rollbacks' is not one of 'all', 'migrations', 'compensation'" in proc.stderr


def test_worker_reports_an_unreachable_server_in_one_line() -> None:
    proc = subprocess.run(
        [str(MESHSHIFT), "worker", "--address", f"127.0.0.1:{free_port()}"],
        env=meshshift_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "cannot reach Temporal" in proc.stderr and "Traceback" not in proc.stderr
