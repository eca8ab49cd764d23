"""scale_service against the simulated ECS (in-process and server mode)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.async_workers import AsyncWorkerActivities
from meshshift.activities.aws import AwsClients
from meshshift.migration.contracts import AwsContext, ScaleServiceInput, ScaleServiceResult
from tests.activities.throttle import no_retry_backoff, throttle_once

__all__ = ["no_retry_backoff"]

CTX = AwsContext(region="us-east-1")
FAST = {"timeout": timedelta(seconds=30), "poll_interval": timedelta(milliseconds=1)}


@pytest.fixture(params=["inprocess", "server"])
def aws_mode(request: pytest.FixtureRequest) -> str:
    request.getfixturevalue("aws_inprocess" if request.param == "inprocess" else "aws_server_env")
    return str(request.param)


def make_service(name: str, desired: int, cluster: str = "shop") -> None:
    ecs = boto3.client("ecs", region_name="us-east-1")
    ecs.create_cluster(clusterName=cluster)
    ecs.register_task_definition(
        family=name, containerDefinitions=[{"name": "worker", "image": "worker:1", "memory": 256}]
    )
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition=name, desiredCount=desired)


def count_calls(clients: AwsClients, operation: str) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    clients.ecs(CTX).meta.events.register(
        f"provide-client-params.ecs.{operation}", lambda params, **_: calls.append(dict(params))
    )
    return calls


def override_describe(clients: AwsClients, **fields: Any) -> list[int]:
    """Make DescribeServices report ``fields`` (e.g. tasks still stopping); returns a call counter."""
    seen: list[int] = []

    def after(parsed: dict[str, Any], **_: Any) -> None:
        seen.append(1)
        for svc in parsed.get("services", []):
            svc.update({k: (v(len(seen)) if callable(v) else v) for k, v in fields.items()})

    clients.ecs(CTX).meta.events.register("after-call.ecs.DescribeServices", after)
    return seen


def scale(clients: AwsClients, service: str, desired: int, env: ActivityEnvironment | None = None, **kw: Any) -> Any:
    inp = ScaleServiceInput(aws=CTX, cluster="shop", service=service, desired_count=desired, **{**FAST, **kw})
    return (env or ActivityEnvironment()).run(AsyncWorkerActivities(clients).scale_service, inp)


def test_scale_up_then_repeat_is_a_no_op(aws_mode: str, aws_clients: AwsClients) -> None:
    make_service("order-worker-sc", 0)
    updates = count_calls(aws_clients, "UpdateService")
    first = scale(aws_clients, "order-worker-sc", 2)
    assert first == ScaleServiceResult(
        service="order-worker-sc",
        desired_count=2,
        running_count=2,
        pending_count=0,
        stable=True,
        previous_desired_count=0,
    )
    again = scale(aws_clients, "order-worker-sc", 2)
    assert again.stable and again.previous_desired_count == 2
    assert len(updates) == 1  # the repeat found it already at 2 and changed nothing


def test_scale_to_zero_waits_until_no_task_is_running_or_pending(aws_inprocess: None, aws_clients: AwsClients) -> None:
    make_service("order-worker", 2)
    # Tasks take a few polls to stop (SIGTERM, then their stopTimeout).
    override_describe(
        aws_clients,
        runningCount=lambda n: max(0, 4 - n),  # call 1 is the read before the update
        pendingCount=lambda n: 1 if n == 2 else 0,
    )
    beats: list[Any] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details[0])
    result = scale(aws_clients, "order-worker", 0, env=env)
    assert (result.running_count, result.pending_count, result.stable) == (0, 0, True)
    assert result.previous_desired_count == 2
    assert [b["running_count"] for b in beats] == [2, 1]  # heartbeats carry the counts seen


def test_not_stable_in_time_is_retryable_with_counts(aws_inprocess: None, aws_clients: AwsClients) -> None:
    make_service("order-worker", 2)
    override_describe(aws_clients, runningCount=1, pendingCount=0)
    with pytest.raises(ApplicationError) as err:
        scale(aws_clients, "order-worker", 0, timeout=timedelta(0))
    assert not err.value.non_retryable
    assert err.value.type == "ServiceNotStable"
    assert "desired 0, running 1, pending 0" in str(err.value)


def test_no_wait_returns_after_the_update(aws_inprocess: None, aws_clients: AwsClients) -> None:
    make_service("order-worker", 2)
    override_describe(aws_clients, runningCount=2)
    result = scale(aws_clients, "order-worker", 0, wait_stable=False)
    assert result.desired_count == 0 and not result.stable


def test_missing_service_is_non_retryable_and_named(aws_inprocess: None, aws_clients: AwsClients) -> None:
    make_service("order-worker", 1)
    with pytest.raises(ApplicationError) as err:
        scale(aws_clients, "order-wrker", 0)
    assert err.value.non_retryable
    assert "'order-wrker'" in str(err.value) and "async_workers" in str(err.value)


def test_missing_cluster_is_non_retryable(aws_inprocess: None, aws_clients: AwsClients) -> None:
    inp = ScaleServiceInput(aws=CTX, cluster="nope", service="order-worker", desired_count=0, **FAST)
    with pytest.raises(ApplicationError) as err:
        ActivityEnvironment().run(AsyncWorkerActivities(aws_clients).scale_service, inp)
    assert err.value.non_retryable and "cluster 'nope'" in str(err.value)


def test_desired_count_overridden_by_something_else(aws_inprocess: None, aws_clients: AwsClients) -> None:
    make_service("order-worker", 2)
    override_describe(aws_clients, desiredCount=1)
    with pytest.raises(ApplicationError) as err:
        scale(aws_clients, "order-worker", 0)
    assert err.value.non_retryable and "Auto Scaling" in str(err.value)


def test_throttled_update_succeeds_on_retry(
    aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    make_service("order-worker-sc", 0)
    fault = throttle_once(aws_clients.ecs(CTX), "UpdateService", "ThrottlingException")
    result = scale(aws_clients, "order-worker-sc", 3)
    assert fault.fired == 1
    assert result.stable and result.running_count == 3
