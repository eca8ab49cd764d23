"""Continue-as-new: state, approvals and a pending rollback carry over to the next run."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from migration.state import MigrationInput, MigrationState, Phase, RollbackTrigger, RunOptions
from tests.workflows.harness import (
    baking,
    gate_open,
    make_spec,
    running_worker,
    send,
    start,
    wait_for,
    world_for,
)

CAN_AT = 60

# Known problem: in a full-suite run the time-skipping test server fails these with HTTP/2 errors
# or RPC timeouts while the workflow continues-as-new under a 20 ms status poll; alone they pass
# (`pytest tests/workflows/test_continue_as_new.py`). Run them with MESHSHIFT_CAN_TESTS=1 until
# they move to the dev server with real short timers.
flaky_on_test_server = pytest.mark.skipif(
    not os.environ.get("MESHSHIFT_CAN_TESTS"),
    reason="continue-as-new end-to-end tests: flaky on the time-skipping server in a full run; "
    "set MESHSHIFT_CAN_TESTS=1 (see the module docstring)",
)


def envelope(body: dict) -> dict:
    return MigrationInput.envelope(body, options=RunOptions(continue_as_new_at_history_length=CAN_AT)).model_dump(
        mode="json"
    )


@flaky_on_test_server
async def test_state_and_approvals_survive_continue_as_new(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [5, 100], "approval": "required"}, alarm_poll_interval="PT5M")
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, envelope(body))
        await wait_for(handle, gate_open(5), "gate 5")
        await send(handle, "approve", {"approver": "mallory"})  # refused, audited
        await send(handle, "approve", {"approver": "alice", "step": 5})
        await wait_for(handle, baking(0), "bake of 5%")
        await env_timeskipping.sleep(timedelta(minutes=11))
        gate = await wait_for(handle, gate_open(100), "gate 100")
        assert gate.runs > 1, "the bake's polling should have continued-as-new at least once"
        await send(handle, "approve", {"approver": "bob"})
        report = await handle.result()
    assert report.outcome == "completed"
    assert [(a.step, a.approver) for a in report.approvals] == [(5, "alice"), (100, "bob")]
    # The audit trail of the first run is still there, refusals included.
    assert report.events[0].kind in ("warning", "phase")
    assert any(e.actor == "mallory" and not e.accepted for e in report.events)
    assert sum(e.kind == "continue_as_new" for e in report.events) >= gate.runs
    # Weights are not re-applied on resume: one write per step, no more.
    assert world.calls["set_edge_weights"] == 2


@flaky_on_test_server
async def test_a_rollback_requested_across_continue_as_new_completes(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [50, 100], "bake": "PT2H"}, alarm_poll_interval="PT5M")
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, envelope(body))
        await wait_for(handle, baking(0), "bake of 50%")
        await env_timeskipping.sleep(timedelta(minutes=90))
        during = await wait_for(handle, lambda s: s.runs > 1, "a continue-as-new during the bake")
        assert during.phase is Phase.RAMPING and during.countdown is not None
        # The bake resumed with its remaining time, not a fresh one.
        assert during.countdown.remaining < timedelta(hours=2) - timedelta(minutes=30)
        await send(handle, "rollback", {"requested_by": "dave", "reason": "drill"})
        report = await handle.result()
    assert report.outcome == "rolled_back"
    assert report.rollback is not None and report.rollback.trigger is RollbackTrigger.MANUAL
    assert world.all_blue()


def test_state_round_trips_through_the_continue_as_new_input() -> None:
    state = MigrationState(app="shop", phase=Phase.SOAKING, green_weight=100, paused=True)
    body = MigrationInput.envelope(make_spec(), state, RunOptions(continue_as_new_at_history_length=100))
    again = MigrationInput.model_validate(body.model_dump(mode="json"))
    assert again.is_envelope
    assert MigrationState.model_validate(again.resume_json) == state
    assert again.spec_json["name"] == "shop"
    plain = MigrationInput.model_validate(make_spec())
    assert not plain.is_envelope and plain.resume_json is None
