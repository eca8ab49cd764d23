"""The worker's keepalive heartbeats keep a quiet activity alive under a short heartbeat timeout
(so the timeout can be short enough to notice a dead worker in seconds)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import uuid4

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError, TimeoutType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Interceptor, Worker

from meshshift.workers.keepalive import KeepaliveInterceptor

QUIET_SECONDS = 2.5


@activity.defn(name="quiet")
def quiet(seconds: float) -> str:
    """Works for longer than the heartbeat timeout without heartbeating itself."""
    time.sleep(seconds)
    return "done"


@workflow.defn(sandboxed=False)
class QuietCaller:
    @workflow.run
    async def run(self, seconds: float) -> str:
        result: str = await workflow.execute_activity(
            "quiet",
            seconds,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=1),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )
        return result


async def call_quiet(env: WorkflowEnvironment, interceptors: list[Interceptor]) -> str:
    queue = f"keepalive-{uuid4()}"
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with Worker(
            env.client,
            task_queue=queue,
            workflows=[QuietCaller],
            activities=[quiet],
            activity_executor=executor,
            interceptors=interceptors,
        ):
            result: str = await env.client.execute_workflow(
                QuietCaller.run, QUIET_SECONDS, id=f"keepalive-{uuid4()}", task_queue=queue
            )
            return result


async def test_a_quiet_activity_outlives_its_heartbeat_timeout_with_the_keepalive(env_local) -> None:
    assert await call_quiet(env_local, [KeepaliveInterceptor()]) == "done"


async def test_without_the_keepalive_the_same_activity_times_out(env_local) -> None:
    with pytest.raises(WorkflowFailureError) as failure:
        await call_quiet(env_local, [])
    cause = failure.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, TimeoutError)
    assert cause.cause.type is TimeoutType.HEARTBEAT
