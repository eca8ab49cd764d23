"""A migration whose status its workers cannot answer: the query fails in the worker, or the worker
cannot replay the run's history. `meshshift status` says which and what to do next, and the alarm
bridge still signals it, and every other migration, rather than failing the whole alarm.

The runs here are stand-ins registered under meshshift's workflow type, on the real dev server:
what is tested is how the operator's tools read what Temporal answers, not the migration itself."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import uuid4

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from meshshift.migration.constants import QUERY_STATUS, SIGNAL_ALARM, WORKFLOW_TYPE, workflow_id
from meshshift.migration.state import MigrationStatus
from meshshift.workers import alarm_bridge
from meshshift.workers.alarm_bridge import AlarmNotice, TemporalAlarmRouter
from tests.operator.conftest import address_of, cli
from tests.operator.test_progress import a_status

pytestmark = pytest.mark.integration

ALARM = "shop-green-5xx"
# What the "changes" stand-in's first workflow task does: flipped between two of its tasks, as a
# worker of another build would see it.
BUILD = {"waits_with_a_timer": True}


@workflow.defn(name=WORKFLOW_TYPE, sandboxed=False)
class StandIn:
    """``mode``: "watching" answers a status that watches ALARM; "broken" fails its status query;
    "changes" issues a different first command once BUILD is flipped (a replay that breaks)."""

    def __init__(self) -> None:
        self.mode = ""
        self.alarms: list[str] = []
        self.poked = False

    @workflow.run
    async def run(self, mode: str) -> None:
        self.mode = mode
        if mode == "changes" and BUILD["waits_with_a_timer"]:
            await workflow.wait_condition(lambda: self.poked, timeout=timedelta(hours=1))
        await workflow.wait_condition(lambda: self.poked)

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> MigrationStatus:
        if self.mode == "broken":
            raise RuntimeError("the status cannot be built")
        return a_status(app=self.mode, alarms=[ALARM])

    @workflow.query
    def received(self) -> list[str]:
        return self.alarms

    @workflow.signal(name=SIGNAL_ALARM)
    def alarm(self, notice: AlarmNotice) -> None:
        self.alarms.append(notice.alarm_name)

    @workflow.signal
    def poke(self) -> None:
        self.poked = True


class StandIns:
    """Runs of StandIn on a task queue of their own; each named as a migration of its app would be."""

    def __init__(self, env: WorkflowEnvironment) -> None:
        self.env = env
        self.task_queue = f"stand-in-{uuid4()}"
        self.started: list[WorkflowHandle[None, None]] = []

    async def start(self, mode: str) -> tuple[str, WorkflowHandle[None, None]]:
        name = f"{mode}-{uuid4().hex[:8]}"
        handle = await self.env.client.start_workflow(
            WORKFLOW_TYPE, mode, id=workflow_id(name), task_queue=self.task_queue, result_type=type(None)
        )
        self.started.append(handle)
        return name, handle


@contextlib.asynccontextmanager
async def stand_ins(
    env: WorkflowEnvironment, max_cached_workflows: int = 1000, runs: StandIns | None = None, *, end_runs: bool = True
) -> AsyncIterator[StandIns]:
    """A worker for StandIn; unless told otherwise the runs are terminated at the end, so that later
    tests' alarm routing does not query them."""
    runs = runs or StandIns(env)
    async with Worker(
        env.client,
        task_queue=runs.task_queue,
        workflows=[StandIn],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_cached_workflows=max_cached_workflows,
    ):
        try:
            yield runs
        finally:
            for handle in runs.started if end_runs else []:
                with contextlib.suppress(RPCError):
                    await handle.terminate("test ended")


async def listed(router: TemporalAlarmRouter, handles: list[WorkflowHandle[None, None]]) -> None:
    """Until the visibility store lists every run (it lags the start a little)."""
    for _ in range(200):
        if {h.id for h in handles} <= set(await router.running_migrations()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the runs never appeared in the visibility listing")


async def test_an_alarm_reaches_every_migration_when_one_fails_its_status_query(env_local: WorkflowEnvironment) -> None:
    async with stand_ins(env_local) as runs:
        _, broken = await runs.start("broken")
        _, watching = await runs.start("watching")
        router = TemporalAlarmRouter(env_local.client)
        await listed(router, [broken, watching])
        signalled = await router.route(AlarmNotice(alarm_name=ALARM, reason="Threshold Crossed"))
        # The one whose status cannot be read is signalled anyway: its workflow audits an alarm it
        # does not watch, and missing one it does watch is worse.
        assert {broken.id, watching.id} <= set(signalled)
        for handle in (broken, watching):
            assert await handle.query(StandIn.received) == [ALARM]


async def test_an_alarm_does_not_wait_for_a_migration_whose_worker_is_gone(
    env_local: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The router asks every running migration whether it watches the alarm; one whose worker has
    gone answers only when its query times out. The others are signalled without waiting for it."""
    monkeypatch.setattr(alarm_bridge, "ROUTER_QUERY_TIMEOUT", timedelta(seconds=6))
    abandoned = StandIns(env_local)
    try:
        async with stand_ins(env_local, runs=StandIns(env_local)) as alive:
            _, watching = await alive.start("watching")
            async with stand_ins(env_local, runs=abandoned, end_runs=False):
                _, gone = await abandoned.start("watching")
                await gone.query(StandIn.received)  # it ran: its status is answered from now on...
            # ...until its worker stopped.
            router = TemporalAlarmRouter(env_local.client)
            await listed(router, [watching, gone])
            routing = asyncio.create_task(router.route(AlarmNotice(alarm_name=ALARM)))
            await alarm_received(watching)
            assert not routing.done(), "the watching migration got the alarm only after the other's query timed out"
            assert {watching.id, gone.id} <= set(await routing)
    finally:
        for handle in abandoned.started:
            with contextlib.suppress(RPCError):
                await handle.terminate("test ended")


async def test_status_says_the_query_failed_in_the_worker_and_where_to_look(env_local: WorkflowEnvironment) -> None:
    async with stand_ins(env_local) as runs:
        name, _ = await runs.start("broken")
        result = await cli("status", name, "--address", address_of(env_local))
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert f"the status query of {workflow_id(name)} failed in the worker" in message
    assert "the status cannot be built" in message
    assert f"temporal workflow describe --workflow-id {workflow_id(name)}" in message


async def test_status_says_the_workers_cannot_replay_the_run_and_what_to_do(env_local: WorkflowEnvironment) -> None:
    """A worker whose code issues other commands than the history holds (another build), with no
    cache, so that every workflow task and every query replays."""
    BUILD["waits_with_a_timer"] = True
    try:
        async with stand_ins(env_local, max_cached_workflows=0) as runs:
            name, handle = await runs.start("changes")
            await until_event(handle, "timer_started_event_attributes")
            BUILD["waits_with_a_timer"] = False
            await handle.signal(StandIn.poke)
            await until_event(handle, "workflow_task_failed_event_attributes")
            result = await cli("status", name, "--address", address_of(env_local))
    finally:
        BUILD["waits_with_a_timer"] = True
    assert result.exit_code == 1
    message = " ".join(result.stderr.split())
    assert f"the workers cannot replay the history of {workflow_id(name)}" in message
    assert "TMPRL1100" in message
    assert "docs/operations.md, 'Upgrading meshshift while migrations run'" in message


async def alarm_received(handle: WorkflowHandle[None, None]) -> None:
    for _ in range(500):
        if await handle.query(StandIn.received) == [ALARM]:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{handle.id} never received {ALARM}")


async def until_event(handle: WorkflowHandle[None, None], attributes: str) -> None:
    for _ in range(200):
        if any(e.HasField(attributes) for e in (await handle.fetch_history()).events):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no event with {attributes} in the history of {handle.id}")
