"""Rollback (compensation): from every phase before decommission, on every trigger, and through a
workflow cancellation. The end state is always checked in the fake world: every shifter at 100%
blue, async workers handed back to blue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment

from meshshift.migration import contracts as c
from meshshift.migration.constants import COMPENSATION_PRIORITY_KEY, compensation_task_queue
from meshshift.migration.state import Phase, RollbackTrigger
from tests.workflows.fakes import BLUE_WORKER_COUNT, FakeWorld
from tests.workflows.harness import (
    baking,
    fast_spec,
    finish,
    gate_open,
    make_spec,
    running_worker,
    send,
    start,
    status,
    wait_for,
    world_for,
)

ALARM = {"alarm_name": "shop-green-5xx", "state": "ALARM", "reason": "5xx above 1%", "source": "alarm-bridge"}


# Long calls that a rollback request cancels mid-flight.
INTERRUPTED = {
    c.DISCOVER_BLUE_SERVICES.name,
    c.PROVISION_GREEN_SERVICE.name,
    c.WAIT_SERVICES_STABLE.name,
    c.SCALE_SERVICE.name,
}


def _soak_started(w: FakeWorld) -> bool:
    return w.calls[c.SCALE_SERVICE.name] >= 2


# (phase the alarm arrives in, the activity during which it arrives, which call of it)
PHASE_CASES: list[tuple[Phase, str, Callable[[FakeWorld], bool]]] = [
    (Phase.PLANNING, c.DISCOVER_BLUE_SERVICES.name, lambda w: True),
    (Phase.PROVISIONING, c.PROVISION_GREEN_SERVICE.name, lambda w: True),
    (Phase.VALIDATING, c.WAIT_SERVICES_STABLE.name, lambda w: True),
    (Phase.RAMPING, c.POLL_ALARMS.name, lambda w: w.green_percent() >= 25),
    (Phase.DRAINING, c.COLLECT_METRICS.name, lambda w: w.green_percent() >= 100 and w.calls[c.SCALE_SERVICE.name] == 0),
    (Phase.FLIPPING_WORKERS, c.SCALE_SERVICE.name, lambda w: True),
    (Phase.SOAKING, c.POLL_ALARMS.name, _soak_started),
]


# Phases the alarm reaches before any timer: on the dev server. The rollback cancels several calls
# at once there (provisioning runs ten); when one of them completes while the workflow task that
# cancels it is in flight, the time-skipping server refuses the cancel (ACTIVITY_UNKNOWN) and the
# workflow stalls behind its failed task, where the real server accepts it (1 run in about 10).
BEFORE_ANY_TIMER = {Phase.PLANNING, Phase.PROVISIONING, Phase.VALIDATING}


EARLY_CASES = [case for case in PHASE_CASES if case[0] in BEFORE_ANY_TIMER]
LATER_CASES = [case for case in PHASE_CASES if case[0] not in BEFORE_ANY_TIMER]


@pytest.mark.parametrize(("phase", "held", "when"), EARLY_CASES, ids=[p[0].value for p in EARLY_CASES])
async def test_alarm_before_any_timer_rolls_back_to_blue(
    env_local, task_queue, phase: Phase, held: str, when: Callable[[FakeWorld], bool]
) -> None:
    await alarm_rolls_back_to_blue(env_local, task_queue, phase, held, when)


@pytest.mark.parametrize(("phase", "held", "when"), LATER_CASES, ids=[p[0].value for p in LATER_CASES])
async def test_alarm_in_every_later_phase_rolls_back_to_blue(
    env_timeskipping, task_queue, phase: Phase, held: str, when: Callable[[FakeWorld], bool]
) -> None:
    await alarm_rolls_back_to_blue(env_timeskipping, task_queue, phase, held, when)


async def alarm_rolls_back_to_blue(
    env: WorkflowEnvironment, task_queue: str, phase: Phase, held: str, when: Callable[[FakeWorld], bool]
) -> None:
    # No metric analysis during the bakes, so the first read of metrics at 100% is the drain's.
    body = make_spec(analysis={"interval": "PT1H"})
    world = world_for(body)
    seen: list[Phase] = []

    async def alarm_now() -> None:
        seen.append((await status(handle)).phase)
        await handle.signal("alarm", ALARM)

    # A call the rollback cancels mid-flight ends the way a real one does: on its cancellation.
    world.block(held, when, action=alarm_now, until_cancelled=held in INTERRUPTED)
    async with running_worker(env, world, task_queue):
        handle = await start(env, task_queue, body)
        report = await finish(handle)
        final = await status(handle)

    assert seen == [phase]
    assert report.outcome == "rolled_back"
    assert report.phase is Phase.ROLLED_BACK
    assert report.rollback is not None
    assert report.rollback.trigger is RollbackTrigger.ALARM
    assert report.rollback.actor == "alarm-bridge"
    assert report.rollback.duration_seconds is not None
    assert [t.phase for t in report.timings][-3:] == [phase, Phase.ROLLING_BACK, Phase.ROLLED_BACK]
    assert world.all_blue()
    if phase in (Phase.FLIPPING_WORKERS, Phase.SOAKING):
        assert world.services[("shop", "order-worker")] == BLUE_WORKER_COUNT
        assert world.services[("shop", "order-worker-sc")] == 0
    # Green is kept for forensics by default.
    assert not world.deleted
    assert final.rollback_possible is False
    assert "100% blue" in final.rollback.message


async def test_polled_alarm_during_bake_rolls_back(env_timeskipping, task_queue) -> None:
    body = make_spec()
    world = world_for(body)
    world.hooks[c.SET_EDGE_WEIGHTS.name] = lambda w: (
        w.alarms.update({"shop-green-p99": "ALARM"}) if w.calls[c.SET_EDGE_WEIGHTS.name] == 3 else None
    )
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        report = await finish(handle)
    assert report.outcome == "rolled_back"
    assert report.rollback is not None
    assert report.rollback.trigger is RollbackTrigger.ALARM
    assert "shop-green-p99" in report.rollback.reason
    assert world.all_blue()


async def test_compensation_calls_carry_the_task_priority_and_ramp_calls_do_not(env_timeskipping, task_queue) -> None:
    body = make_spec()
    world = world_for(body)
    # The alarm fires after the third weight write (step 25); the fourth write is the rollback's.
    world.hooks[c.SET_EDGE_WEIGHTS.name] = lambda w: (
        w.alarms.update({"shop-green-p99": "ALARM"}) if w.calls[c.SET_EDGE_WEIGHTS.name] == 3 else None
    )
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        report = await finish(handle)
        history = await handle.fetch_history()
    assert report.outcome == "rolled_back"
    writes = [key for name, key in world.priorities if name == c.SET_EDGE_WEIGHTS.name]
    # What the worker received: ramp writes inherit the workflow's (default) priority; the
    # rollback's first write is a local activity (no task priority: its input says it is a
    # rollback's, activities/edge/activities.py), its verified write runs at COMPENSATION_PRIORITY_KEY.
    assert writes == [None, None, None, None, COMPENSATION_PRIORITY_KEY], writes
    assert world.local == [c.REGISTERED_SEARCH_ATTRIBUTES.name, c.SET_EDGE_WEIGHTS.name]
    # The first write is neither waited on nor read back: the verified write does both.
    first, verified = world.weight_writes[-2:]
    assert (first.rollback, first.wait_for_sync, first.read_back) == (True, False, False)
    assert (verified.wait_for_sync, verified.read_back) == (True, True)
    # ... and waits for the changes the first write made instead of making them again.
    assert {t.pending_change for t in first.targets} == {""}
    assert [t.pending_change for t in verified.targets] == [f"change-{len(world.weight_writes) - 1}"] * len(
        verified.targets
    )
    others = {key for name, key in world.priorities if name != c.SET_EDGE_WEIGHTS.name}
    assert others == {None}  # nothing else ran as a compensation (no workers were flipped yet)
    # What the workflow asked the server for: the same, in its ActivityTaskScheduled events.
    scheduled = [
        (e.activity_task_scheduled_event_attributes.activity_type.name, e.activity_task_scheduled_event_attributes)
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    asked = [a.priority.priority_key for name, a in scheduled if name == c.SET_EDGE_WEIGHTS.name]
    assert asked == [0, 0, 0, COMPENSATION_PRIORITY_KEY]
    assert all(a.priority.priority_key == 0 for name, a in scheduled if name != c.SET_EDGE_WEIGHTS.name)
    # ...and on the compensation queue beside the workflow's own (patch compensation-task-queue).
    rollback_queue = compensation_task_queue(task_queue)
    assert [q for name, q in world.queues if name == c.SET_EDGE_WEIGHTS.name] == [task_queue] * 4 + [rollback_queue]
    assert {q for name, q in world.queues if name != c.SET_EDGE_WEIGHTS.name} == {task_queue}
    assert [a.task_queue.name for name, a in scheduled if name == c.SET_EDGE_WEIGHTS.name][-1] == rollback_queue


async def test_a_rollback_runs_while_ramp_work_holds_every_slot_of_the_main_queue(env_timeskipping, task_queue) -> None:
    """The main queue has one activity slot, and another migration's call holds it for the whole
    rollback: the rollback's write still runs, on the compensation queue's own slots. Before that
    queue, it waited for the held call to end (Temporal task priority orders only queued tasks)."""
    rolling = make_spec(name="shop-b")
    world = world_for(rolling)
    async with running_worker(env_timeskipping, world, task_queue, max_concurrent_activities=1):
        handle = await start(env_timeskipping, task_queue, rolling)
        await wait_for(handle, baking(0), "the first bake", no_call_pending=True)
        # A second migration's first call takes the only slot and keeps it until released.
        held = world.block(c.DISCOVER_BLUE_MESH.name, lambda w: True)
        other = await start(env_timeskipping, task_queue, make_spec(name="shop-a"))
        await held.entered.wait()

        await send(handle, "rollback", {"requested_by": "dave", "reason": "drill"})
        report = await finish(handle)

        assert not held.left.is_set(), "the slot was held for the whole rollback"
        held.released.set()
        await other.terminate("test done")
    assert report.outcome == "rolled_back"
    assert world.all_blue()
    writes = [q for name, q in world.queues if name == c.SET_EDGE_WEIGHTS.name]
    # The ramp's write, the rollback's first write (a local activity: local activity slots of its
    # own) and its verified write on the compensation queue.
    assert writes == [task_queue, task_queue, compensation_task_queue(task_queue)]
    assert world.local.count(c.SET_EDGE_WEIGHTS.name) == 1


async def test_a_failed_first_write_leaves_the_rollback_to_the_verified_write(env_timeskipping, task_queue) -> None:
    """The rollback's first write (a local activity in the worker that took the signal) is only a
    head start: when it fails, the verified write on the compensation queue puts blue back."""
    body = make_spec()
    world = world_for(body)

    def throttled_here(_: FakeWorld) -> None:
        if activity.info().is_local:
            raise ApplicationError("Rate exceeded", type="Throttling", non_retryable=True)

    world.hooks[c.SET_EDGE_WEIGHTS.name] = throttled_here
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        await wait_for(handle, baking(0), "the first bake")
        await send(handle, "rollback", {"requested_by": "dave", "reason": "drill"})
        report = await finish(handle)
    assert report.outcome == "rolled_back"
    assert world.all_blue()
    assert world.local.count(c.SET_EDGE_WEIGHTS.name) == 1
    assert [q for name, q in world.queues if name == c.SET_EDGE_WEIGHTS.name][-1] == compensation_task_queue(task_queue)


async def test_failed_analysis_rolls_back(env_timeskipping, task_queue) -> None:
    body = make_spec()
    world = world_for(body)
    world.green = c.TrafficFigures(requests=1000, errors_5xx=200, p99_ms=50)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        report = await finish(handle)
    assert report.outcome == "rolled_back"
    assert report.rollback is not None
    assert report.rollback.trigger is RollbackTrigger.ANALYSIS
    assert "5xx" in report.rollback.reason
    assert world.all_blue()


async def test_analysis_waits_for_the_dns_ttl(env_timeskipping, task_queue) -> None:
    """With a 1-hour Route 53 TTL, no verdict is taken during a 10-minute bake (resolvers still cache)."""
    body = make_spec(ramp={"steps": [50, 100]})
    body["edge"][1]["ttl"] = 3600
    world = world_for(body)
    world.green = c.TrafficFigures(requests=1000, errors_5xx=500, p99_ms=50)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        report = await finish(handle)
    # The failing green is judged only once the TTL has passed: in the soak, not in the bakes.
    assert report.outcome == "rolled_back"
    assert report.rollback is not None
    assert report.rollback.trigger is RollbackTrigger.ANALYSIS
    assert [t.phase for t in report.timings][-3] is Phase.SOAKING


async def test_reject_rolls_back(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"approval": "required"})
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        await wait_for(handle, gate_open(1), "gate 1")
        await handle.signal("approve", {"approver": "alice", "step": 1})
        await env_timeskipping.sleep(timedelta(minutes=11))
        await wait_for(handle, gate_open(5), "gate 5")
        await handle.signal("reject", {"approver": "bob", "reason": "p99 looks worse than blue"})
        report = await finish(handle)
    assert report.outcome == "rolled_back"
    assert report.rollback is not None
    assert report.rollback.trigger is RollbackTrigger.REJECT
    assert report.rollback.actor == "bob"
    assert report.rollback.reason == "p99 looks worse than blue"
    assert world.all_blue()


async def test_rollback_signal_deletes_green_when_the_spec_says_so(env_timeskipping, task_queue) -> None:
    body = make_spec(decommission={"keep_green_on_rollback": False})
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        await wait_for(handle, baking(0), "first bake")
        await handle.signal("rollback", {"requested_by": "dave", "reason": "customer escalation"})
        report = await finish(handle)
    assert report.rollback is not None
    assert report.rollback.trigger is RollbackTrigger.MANUAL
    assert report.rollback.green_deleted
    assert sorted(world.deleted) == ["frontend-sc", "order-worker-sc", "stock-api-sc", "user-api-sc"]
    assert world.all_blue()


@pytest.mark.parametrize("write", [2, 3], ids=["during_the_first_write", "during_the_verified_write"])
async def test_cancellation_during_rollback_still_completes_it(env_timeskipping, task_queue, write: int) -> None:
    body = make_spec()
    world = world_for(body)
    # The first weight write was the 1% step; the second is the rollback's first (a local activity),
    # the third its verified write.
    block = world.block(c.SET_EDGE_WEIGHTS.name, lambda w: w.calls[c.SET_EDGE_WEIGHTS.name] == write)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        await wait_for(handle, baking(0), "first bake")
        await handle.signal("rollback", {"requested_by": "dave", "reason": "drill"})
        await block.entered.wait()
        await handle.cancel()
        block.released.set()
        with pytest.raises(WorkflowFailureError) as failure:
            await finish(handle)
        assert isinstance(failure.value.cause, CancelledError)
        final = await status(handle)
    assert world.all_blue()
    assert final.phase is Phase.ROLLED_BACK
    assert final.rollback.record is not None
    assert final.rollback.record.finished is not None
    assert world.calls[c.SET_EDGE_WEIGHTS.name] == 3
    assert any(e.kind == "cancel" for e in final.events)


async def test_cancellation_during_ramp_compensates(env_timeskipping, task_queue) -> None:
    body = make_spec()
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        # Cancelled while it sleeps in the bake; the cancellations that meet a call are below.
        await wait_for(handle, baking(0), "first bake", no_call_pending=True)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await finish(handle)
        assert isinstance(failure.value.cause, CancelledError)
        final = await status(handle)
    assert world.all_blue()
    assert final.phase is Phase.ROLLED_BACK
    assert final.rollback.record is not None
    assert final.rollback.record.trigger is RollbackTrigger.CANCELLED


@pytest.mark.parametrize("call_ends", ["on_its_cancellation", "with_a_result"])
async def test_cancellation_during_an_alarm_poll_compensates(env_local, task_queue, call_ends: str) -> None:
    """A watch call is awaited directly (a rollback request does not cancel it), so the SDK turns the
    workflow's cancellation into the call's outcome: the cancellation must still compensate, and
    not pass for a failed poll (or vanish behind a successful one) while the migration goes on.

    On the dev server, not the time-skipping one: when the poll's result arrives while the
    workflow task that asks to cancel the poll is in flight, the real server accepts the cancel
    request of an activity whose completion it holds buffered; the time-skipping server refuses
    it (ACTIVITY_UNKNOWN), and the workflow then stalled behind its failed task, so the test's
    verdict depended on which of the two arrived first."""
    body = fast_spec()
    world = world_for(body)

    async def cancel_now() -> None:
        await handle.cancel()

    world.block(
        c.POLL_ALARMS.name,
        lambda w: w.calls[c.SET_EDGE_WEIGHTS.name] == 1,  # the first poll of the first bake
        action=cancel_now,
        until_cancelled=call_ends == "on_its_cancellation",
    )
    async with running_worker(env_local, world, task_queue):
        handle = await start(env_local, task_queue, body)
        with pytest.raises(WorkflowFailureError) as failure:
            await finish(handle)
        assert isinstance(failure.value.cause, CancelledError)
        final = await status(handle)
    assert final.phase is Phase.ROLLED_BACK
    assert final.rollback.record is not None
    assert final.rollback.record.trigger is RollbackTrigger.CANCELLED
    assert world.all_blue()
    # The 1% write, then the rollback's two (the first, local, and the verified one): no step after
    # the cancellation.
    assert world.calls[c.SET_EDGE_WEIGHTS.name] == 3
    assert world.local[-1] == c.SET_EDGE_WEIGHTS.name


async def test_cancellation_during_a_weight_write_waits_for_it_before_compensating(
    env_timeskipping, task_queue
) -> None:
    """As for a rollback request: the interrupted call has stopped before the compensation starts,
    so the rollback's write cannot be overtaken by the interrupted write."""
    body = make_spec()
    world = world_for(body)

    async def cancel_now() -> None:
        await handle.cancel()

    held = world.block(c.SET_EDGE_WEIGHTS.name, lambda w: w.calls[c.SET_EDGE_WEIGHTS.name] == 1, action=cancel_now)
    held.until_cancelled = True
    rollback_write_started_after_it: list[bool] = []
    world.hooks[c.SET_EDGE_WEIGHTS.name] = lambda w: (
        rollback_write_started_after_it.append(held.left.is_set()) if w.calls[c.SET_EDGE_WEIGHTS.name] == 2 else None
    )
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        with pytest.raises(WorkflowFailureError) as failure:
            await finish(handle)
        assert isinstance(failure.value.cause, CancelledError)
        final = await status(handle)
    assert rollback_write_started_after_it == [True]
    assert final.phase is Phase.ROLLED_BACK
    assert final.rollback.record is not None
    assert final.rollback.record.trigger is RollbackTrigger.CANCELLED
    assert world.all_blue()


async def test_activity_failure_after_traffic_moved_rolls_back(env_timeskipping, task_queue) -> None:
    from temporalio.exceptions import ApplicationError

    body = make_spec()
    world = world_for(body)

    def break_edge(w: FakeWorld) -> None:
        if w.calls[c.SET_EDGE_WEIGHTS.name] == 3:
            w.fail[c.SET_EDGE_WEIGHTS.name] = ApplicationError("AccessDenied on ModifyListener", non_retryable=True)
        else:
            w.fail.pop(c.SET_EDGE_WEIGHTS.name, None)

    world.hooks[c.SET_EDGE_WEIGHTS.name] = break_edge
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        report = await finish(handle)
    assert report.outcome == "rolled_back"
    assert report.rollback is not None
    assert report.rollback.trigger is RollbackTrigger.ERROR
    assert "AccessDenied" in report.rollback.reason
    assert world.all_blue()
