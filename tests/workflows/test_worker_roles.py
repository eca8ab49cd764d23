"""Worker roles (``meshshift worker --serve``): rollbacks in processes of their own.

A ``migrations`` process serves the workflow and every activity but a rollback's; a
``compensation`` process serves only a rollback's. Split, a rollback runs on the compensation
process; with no compensation process up, the rollback waits on its queue without losing anything,
and goes on as soon as one starts."""

from __future__ import annotations

import asyncio
import logging

import pytest
from temporalio.testing import WorkflowEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.migration import contracts as c
from meshshift.migration.constants import compensation_task_queue
from meshshift.migration.state import Phase
from meshshift.workers.worker import WorkerRole, build_worker, watch_compensation_pollers
from tests.workflows.harness import (
    baking,
    fast_spec,
    finish,
    pending_calls,
    running_worker,
    send,
    start,
    wait_for,
    world_for,
)


async def test_each_role_serves_its_own_queue(env_timeskipping: WorkflowEnvironment) -> None:
    client = env_timeskipping.client
    # Different queues each: the SDK refuses a second worker of one client on the same queue.
    migrations = build_worker(client, "tq-a", AwsClients(), 4, serve=WorkerRole.MIGRATIONS)
    assert migrations.task_queues == ("tq-a",) and migrations.compensation is None
    assert migrations.main is not None and migrations.main.config()["workflows"]
    compensation = build_worker(client, "tq-b", AwsClients(), 4, serve=WorkerRole.COMPENSATION)
    assert compensation.task_queues == ("tq-b-compensation",) and compensation.main is None
    assert compensation.compensation is not None and compensation.compensation.config()["workflows"] == []


async def test_a_rollback_waits_for_a_compensation_process_and_runs_there(
    env_local: WorkflowEnvironment, task_queue: str
) -> None:
    body = fast_spec(ramp={"bake": "PT1H"})
    world = world_for(body)
    rollback_queue = compensation_task_queue(task_queue)
    async with running_worker(env_local, world, task_queue, serve=WorkerRole.MIGRATIONS):
        handle = await start(env_local, task_queue, body)
        await wait_for(handle, baking(0), "the first bake")
        writes = world.calls[c.SET_EDGE_WEIGHTS.name]

        await send(handle, "rollback", {"requested_by": "dave", "reason": "drill"})
        await wait_for(handle, lambda s: s.phase is Phase.ROLLING_BACK, "the rollback")
        for _ in range(500):
            if c.SET_EDGE_WEIGHTS.name in await pending_calls(handle):
                break
            await asyncio.sleep(0.02)  # the server's pending list is the only place to see it
        assert c.SET_EDGE_WEIGHTS.name in await pending_calls(handle)
        # The first write ran in this process (a local activity) and put blue back at once; the
        # verified write is scheduled on the compensation queue, which nobody serves: it waits there.
        assert world.calls[c.SET_EDGE_WEIGHTS.name] == writes + 1 and world.local[-1] == c.SET_EDGE_WEIGHTS.name
        assert world.all_blue()

        async with running_worker(env_local, world, task_queue, serve=WorkerRole.COMPENSATION) as rollbacks:
            assert rollbacks.task_queues == (rollback_queue,)
            report = await finish(handle)
    assert report.outcome == "rolled_back"
    assert world.all_blue()
    assert [q for name, q in world.queues if name == c.SET_EDGE_WEIGHTS.name][-1] == rollback_queue


async def test_a_migrations_process_says_when_nobody_serves_rollbacks(
    env_local: WorkflowEnvironment, task_queue: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="meshshift.worker")
    queue = compensation_task_queue(task_queue)
    watch = asyncio.create_task(watch_compensation_pollers(env_local.client, queue, first_after=0.0, every=0.1))
    try:
        error = await _logged(caplog, logging.ERROR)
        assert f"no worker serves the compensation queue {queue}" in error and "--serve compensation" in error
        world = world_for(fast_spec())
        async with running_worker(env_local, world, task_queue, serve=WorkerRole.COMPENSATION):
            assert await _logged(caplog, logging.INFO) == f"a worker serves the compensation queue {queue} again"
    finally:
        watch.cancel()


async def _logged(caplog: pytest.LogCaptureFixture, level: int) -> str:
    """The first message logged at ``level``, once there is one (the watch runs on its own clock)."""
    for _ in range(600):
        found = [r.getMessage() for r in caplog.records if r.levelno == level]
        if found:
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing logged at {logging.getLevelName(level)}: {[r.getMessage() for r in caplog.records]}")
