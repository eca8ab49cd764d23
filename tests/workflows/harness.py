"""Helpers for driving MeshMigration in the time-skipping environment with the fake world."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar
from uuid import uuid4

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from meshshift.activities.temporal_meta import TemporalMetaActivities
from meshshift.migration.constants import QUERY_STATUS, WORKFLOW_TYPE
from meshshift.migration.loading import validate_spec
from meshshift.migration.state import MigrationReport, MigrationStatus
from meshshift.workers.keepalive import KeepaliveInterceptor
from meshshift.workers.worker import WORKFLOWS, MeshshiftWorker, paired_worker
from meshshift.workflows.sandbox import workflow_runner
from tests.workflows.fakes import FakeActivities, FakeWorld

LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
BLUE_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-blue/73e2d6bc24d8a067"
GREEN_TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-green/9f1c3a7be0d24e55"

BASE_SPEC: dict[str, Any] = {
    "name": "shop",
    "region": "us-east-1",
    "blue": {"cluster": "shop", "services": ["frontend", "user-api", "stock-api"]},
    "green": {"cluster": "shop", "namespace": "shop.local", "provision": "create", "service_suffix": "-sc"},
    "edge": [
        {
            "type": "alb",
            "listener_arn": LISTENER,
            "rule_arn": None,
            "blue_target_group_arn": BLUE_TG,
            "green_target_group_arn": GREEN_TG,
        },
        {
            "type": "route53",
            "hosted_zone_id": "Z0123456789",
            "record_name": "api.shop.example.com",
            "record_type": "CNAME",
            "blue": {"set_identifier": "blue", "value": "blue.shop.example.com"},
            "green": {"set_identifier": "green", "value": "green.shop.example.com"},
        },
    ],
    "health": {"urls": ["http://green.internal/health"], "timeout": "PT10M"},
    "ramp": {"steps": [1, 5, 25, 50, 100], "bake": "PT10M", "approval": "auto", "approval_timeout": "PT24H"},
    "analysis": {"interval": "PT2M", "window": "PT5M", "min_request_count": 50},
    "alarms": ["shop-green-5xx", "shop-green-p99"],
    "alarm_poll_interval": "PT1M",
    "drain": {"max_wait": "PT2H", "window": "PT5M", "poll_interval": "PT1M"},
    "async_workers": [{"blue_service": "order-worker", "green_service": "order-worker-sc", "desired_count": 2}],
    "decommission": {"after": "PT1H", "approval": "auto"},
    "approvers": ["alice", "bob"],
    "requested_by": "carol",
}


def _merged(spec: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with top-level sections merged (one level deep) from ``overrides``."""
    spec = copy.deepcopy(spec)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(spec.get(key), dict):
            spec[key] = {**spec[key], **value}
        else:
            spec[key] = value
    return spec


def make_spec(**overrides: Any) -> dict[str, Any]:
    """The test spec with top-level sections merged (one level deep) from ``overrides``."""
    return _merged(BASE_SPEC, overrides)


# Every duration of BASE_SPEC cut to seconds, for tests on a real dev server (real time).
FAST: dict[str, Any] = {
    "ramp": {"bake": "PT2S", "approval_timeout": "PT1M"},
    "analysis": {"interval": "PT1S", "window": "PT5M", "min_request_count": 50},
    "alarm_poll_interval": "PT1S",
    "drain": {"max_wait": "PT1M", "window": "PT1S", "poll_interval": "PT1S"},
    "decommission": {"after": "PT1S"},
}


def fast_spec(**overrides: Any) -> dict[str, Any]:
    """``make_spec`` with FAST's second-scale durations under ``overrides``."""
    return _merged(make_spec(**FAST), overrides)


def world_for(spec: dict[str, Any]) -> FakeWorld:
    return FakeWorld(validate_spec(spec))


@asynccontextmanager
async def running_worker(
    env: WorkflowEnvironment, world: FakeWorld, task_queue: str, **options: Any
) -> AsyncIterator[MeshshiftWorker]:
    """The fakes served as `meshshift worker` serves the real activities: on ``task_queue`` and on
    its compensation queue (``paired_worker``). ``options`` go to the main queue's Worker."""
    worker = paired_worker(
        env.client,
        task_queue,
        workflows=WORKFLOWS,
        # Reading a large continue-as-new state's parts back is Temporal, not AWS: the real activity.
        activities=[*FakeActivities(world).all(), TemporalMetaActivities(env.client).read_state_part],
        workflow_runner=workflow_runner(),
        interceptors=[KeepaliveInterceptor()],
        # Fakes that wait for a cancellation learn of it on their next heartbeat: send them at once.
        max_heartbeat_throttle_interval=timedelta(milliseconds=20),
        default_heartbeat_throttle_interval=timedelta(milliseconds=20),
        **options,
    )
    async with worker:
        try:
            yield worker
        finally:
            # Blocked fake calls must end before the worker shuts down.
            world.release_all()


async def start(
    env: WorkflowEnvironment, task_queue: str, body: dict[str, Any], workflow_id: str | None = None
) -> WorkflowHandle[Any, MigrationReport]:
    """Start by type name with the raw JSON, exactly as `temporal workflow start --input-file` does."""
    return await env.client.start_workflow(
        WORKFLOW_TYPE,
        body,
        id=workflow_id or f"mesh-migration-test-{uuid4()}",
        task_queue=task_queue,
        result_type=MigrationReport,
    )


async def status(handle: WorkflowHandle[Any, Any]) -> MigrationStatus:
    """The status query. Retried: the time-skipping test server can drop a query that arrives while
    the run it targets is continuing-as-new (a real server answers it from the next run)."""
    for _ in range(10):
        try:
            return await handle.query(QUERY_STATUS, result_type=MigrationStatus, rpc_timeout=timedelta(seconds=3))
        except RPCError as err:
            if err.status not in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise
    raise AssertionError("the status query never answered")


async def wait_for(
    handle: WorkflowHandle[Any, Any],
    predicate: Callable[[MigrationStatus], bool],
    what: str,
    limit: float = 20.0,
    *,
    no_call_pending: bool = False,
) -> MigrationStatus:
    """Poll the status query until ``predicate`` holds. Only the query can observe the workflow's
    state from outside, so this polls (briefly) rather than sleeping a fixed time.

    With ``no_call_pending``, also until the workflow has no activity scheduled or running. Cancel
    the workflow only then: when it cancels an activity that no worker had started yet, the
    time-skipping test server never unlocks its clock again, so that test and every later one on
    the same server would wait for their timers in real time.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    last: MigrationStatus | None = None
    calls: list[str] = []
    while loop.time() < deadline:
        last = await status(handle)
        if predicate(last):
            if not no_call_pending:
                return last
            calls = await pending_calls(handle)
            if not calls:
                return last
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}; last status: {_summary(last)}; calls pending: {calls}")


def _summary(last: MigrationStatus | None) -> str:
    return (
        f"phase={last and last.phase} awaiting={last and last.awaiting_approval} stage={last and last.step_stage} "
        f"events={[e.detail for e in (last.events if last else [])][-8:]}"
    )


async def pending_calls(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The activities of the workflow that the server has scheduled and not yet seen end."""
    description = await handle.describe(rpc_timeout=timedelta(seconds=3))
    return [a.activity_type.name for a in description.raw_description.pending_activities]


R = TypeVar("R")

# A migration on the time-skipping server ends in seconds, even on a loaded machine.
FINISH_LIMIT = 60.0


async def finish(handle: WorkflowHandle[Any, R], limit: float = FINISH_LIMIT) -> R:
    """``handle.result()``, bounded: a workflow that never ends fails the test after ``limit``
    seconds, saying where it stopped, rather than hanging until pytest-timeout."""
    try:
        async with asyncio.timeout(limit):
            return await handle.result()
    except TimeoutError:
        pass
    try:
        where = f"last status: {_summary(await status(handle))}; calls pending: {await pending_calls(handle)}"
    except (RPCError, AssertionError) as err:
        where = f"(the status could not be read: {err})"
    raise AssertionError(f"the workflow did not end within {limit:g} s; {where}; {await _history_tail(handle)}")


async def _history_tail(handle: WorkflowHandle[Any, Any], count: int = 12) -> str:
    """The last events of the run, with any workflow task failure's message: a run that stopped
    because its workflow tasks fail (a replay that is not deterministic) says so here."""
    try:
        events = (await handle.fetch_history()).events
    except RPCError as err:
        return f"(the history could not be read: {err})"
    tail = []
    for event in events[-count:]:
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
        if event.HasField("workflow_task_failed_event_attributes"):
            name += f" ({event.workflow_task_failed_event_attributes.failure.message})"
        tail.append(f"{event.event_id} {name}")
    return "last events: " + ", ".join(tail)


def gate_open(step: int) -> Callable[[MigrationStatus], bool]:
    return lambda s: s.awaiting_approval is not None and s.awaiting_approval.step == step


def baking(step_index: int) -> Callable[[MigrationStatus], bool]:
    return lambda s: s.step_index == step_index and s.countdown is not None and s.countdown.purpose == "bake"


async def advance_until(
    env: WorkflowEnvironment, event: asyncio.Event, step: timedelta = timedelta(seconds=30)
) -> asyncio.Task[None] | None:
    """Move the test server's clock in small steps until ``event`` is set (e.g. a held fake call was
    entered). The server does not move time while a call is running, so the sleep in progress when
    the call is held only finishes after it is released: it is returned for the caller to await then.
    """
    entered = asyncio.create_task(event.wait())
    try:
        for _ in range(2000):
            sleeper = asyncio.create_task(env.sleep(step))
            await asyncio.wait({sleeper, entered}, return_when=asyncio.FIRST_COMPLETED)
            if event.is_set():
                return None if sleeper.done() else sleeper
        raise AssertionError("the awaited call never happened")
    finally:
        entered.cancel()


async def send(handle: WorkflowHandle[Any, Any], signal: str, payload: Any) -> MigrationStatus:
    """Signal, then wait until the workflow has audited it (every message is audited at once).

    One at a time: the time-skipping test server mishandles a signal that arrives while the
    workflow task for the previous one is in flight ("invalid history builder state").
    """
    before = len((await status(handle)).events)
    await handle.signal(signal, payload)
    return await wait_for(handle, lambda s: len(s.events) > before, f"the {signal} signal to be audited")
