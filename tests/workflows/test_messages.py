"""Approvals, refusals and pauses: every refused message is audited and changes nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from meshshift.migration import contracts as c
from meshshift.migration.constants import UPDATE_APPROVE, UPDATE_PAUSE, UPDATE_RESUME
from meshshift.migration.state import CommandResult, Phase, RollbackTrigger
from tests.workflows.harness import (
    baking,
    gate_open,
    make_spec,
    running_worker,
    send,
    start,
    status,
    wait_for,
    world_for,
)


async def test_invalid_approvals_are_refused_audited_and_change_nothing(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [5, 100], "approval": "required"})
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        await wait_for(handle, gate_open(5), "gate 5")
        refused = [
            {"approver": "mallory", "step": 5},  # not an approver
            {"approver": "carol", "step": 5},  # the requester: two-person rule
            {"approver": "alice", "step": 100},  # a future step
            {"approver": "alice", "step": 5, "extra": "field"},  # malformed: unknown field
            {"approver": 42},  # malformed: wrong type
        ]
        for payload in refused:
            await send(handle, "approve", payload)
        await send(handle, "approve", "not even an object")
        await send(handle, "alarm", {"alarm_name": "someone-elses-alarm", "state": "ALARM"})
        await send(handle, "alarm", {"alarm_name": "shop-green-5xx", "state": "OK"})
        before = await wait_for(handle, lambda s: sum(not e.accepted for e in s.events) == 8, "8 refusals")
        assert before.awaiting_approval is not None and before.awaiting_approval.step == 5
        assert before.green_weight == 0
        assert world.calls[c.SET_EDGE_WEIGHTS.name] == 0

        await send(handle, "approve", {"approver": "alice", "step": 5})
        await wait_for(handle, baking(0), "bake of 5%")
        # No gate is open during a bake, and a past step is never accepted.
        await send(handle, "approve", {"approver": "bob", "step": None})
        await send(handle, "approve", {"approver": "bob", "step": 5})
        await env_timeskipping.sleep(timedelta(minutes=11))
        await wait_for(handle, gate_open(100), "gate 100")
        await send(handle, "approve", {"approver": "bob", "step": 5})
        await send(handle, "approve", {"approver": "bob"})
        report = await handle.result()

    refusals = [e for e in report.events if not e.accepted]
    reasons = [e.reason or "" for e in refusals]
    assert len(refusals) == 11
    assert "'mallory' is not an approver" in reasons[0]
    assert "two-person rule" in reasons[1]
    assert "future step" in reasons[2]
    assert "malformed approve payload" in reasons[3] and "extra" in reasons[3]
    assert "malformed approve payload" in reasons[4]
    assert "expected a JSON object" in reasons[5]
    assert "not one of the spec's alarms" in reasons[6]
    assert "only ALARM" in reasons[7]
    assert "no approval gate is open" in reasons[8]
    assert "no approval gate is open" in reasons[9]
    assert "past step" in reasons[10]
    assert [e.actor for e in refusals[:3]] == ["mallory", "carol", "alice"]
    assert report.outcome == "completed"
    assert [(a.step, a.approver) for a in report.approvals] == [(5, "alice"), (100, "bob")]


async def test_a_refused_update_answers_at_once_and_is_audited(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [100], "approval": "required"})
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        await wait_for(handle, gate_open(100), "gate 100")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(UPDATE_APPROVE, {"approver": "carol", "step": 100}, result_type=CommandResult)
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "Refused"
        assert "two-person rule" in cause.message
        after = await status(handle)
        assert after.events[-1].accepted is False
        assert after.awaiting_approval is not None
        accepted = await handle.execute_update(
            UPDATE_APPROVE, {"approver": "alice", "step": None}, result_type=CommandResult
        )
        assert accepted.accepted and "approved step 100" in accepted.reason
        report = await handle.result()
    assert report.outcome == "completed"


async def test_pause_holds_the_bake_and_resume_continues_it(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [50, 100]})
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        baking_now = await wait_for(handle, baking(0), "bake of 50%")
        assert baking_now.countdown is not None
        paused = await handle.execute_update(
            UPDATE_PAUSE, {"requested_by": "dave", "reason": "investigating"}, result_type=CommandResult
        )
        assert paused.accepted and paused.paused
        await env_timeskipping.sleep(timedelta(hours=3))
        held = await status(handle)
        assert held.paused
        assert held.step_index == 0 and held.green_weight == 50
        assert held.countdown is not None
        # Three paused hours did not count (only the instant of real time before the pause did).
        assert baking_now.countdown.remaining - held.countdown.remaining < timedelta(seconds=5)
        assert held.bake_ends_at is None
        assert world.green_percent() == 50
        with pytest.raises(WorkflowUpdateFailedError):  # dave is neither the requester nor an approver
            await handle.execute_update(UPDATE_RESUME, {"requested_by": "dave"}, result_type=CommandResult)
        await send(handle, "resume", {"requested_by": "carol"})
        running = await wait_for(handle, lambda s: not s.paused, "resume")
        assert running.step_index == 0
        report = await handle.result()
    assert report.outcome == "completed"
    kinds = [(e.kind, e.accepted) for e in report.events if e.kind in ("pause", "resume")]
    assert kinds == [("pause", True), ("resume", False), ("resume", True)]


async def test_approval_timeout_rolls_back_by_default(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"approval": "required", "approval_timeout": "PT1H"})
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        report = await handle.result()
    assert report.outcome == "rolled_back"
    assert report.rollback is not None
    assert report.rollback.trigger is RollbackTrigger.APPROVAL_TIMEOUT
    assert world.calls[c.SET_EDGE_WEIGHTS.name] == 0  # nothing had moved: nothing to reverse
    assert world.all_blue()


async def test_approval_timeout_can_pause_and_resume_reopens_the_gate(env_timeskipping, task_queue) -> None:
    body = make_spec(
        ramp={"steps": [100], "approval": "required", "approval_timeout": "PT1H", "on_approval_timeout": "pause"}
    )
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        first = await wait_for(handle, gate_open(100), "gate 100")
        await env_timeskipping.sleep(timedelta(hours=2))
        paused = await wait_for(handle, lambda s: s.paused, "paused after the timeout")
        assert paused.phase is Phase.RAMPING
        assert any(e.kind == "approval_timeout" for e in paused.events)
        await send(handle, "approve", {"approver": "alice"})  # refused while paused
        await send(handle, "resume", {"requested_by": "alice"})
        reopened = await wait_for(
            handle,
            lambda s: (
                not s.paused
                and s.awaiting_approval is not None
                and s.awaiting_approval.since > first.awaiting_approval.since
            ),
            "gate re-opened",
        )
        assert reopened.countdown is not None and reopened.countdown.remaining == timedelta(hours=1)
        await send(handle, "approve", {"approver": "alice"})
        report = await handle.result()
    assert report.outcome == "completed"
    assert any(e.reason and "paused" in e.reason for e in report.events if not e.accepted)
