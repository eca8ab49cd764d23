"""Continue-as-new: state, approvals and a pending rollback carry over to the next run."""

from __future__ import annotations

import asyncio

from meshshift.migration.state import MigrationInput, MigrationState, Phase, RollbackTrigger, RunOptions
from tests.workflows.harness import (
    baking,
    fast_spec,
    gate_open,
    make_spec,
    running_worker,
    send,
    start,
    wait_for,
    world_for,
)

# Low enough that a few seconds of bake polling (alarms and metrics every second) reach it.
CAN_AT = 60

# These run on the dev server in real time, with second-scale durations: the time-skipping test
# server mishandled queries and signals sent while a run was continuing-as-new (HTTP/2 errors,
# dropped queries) and made these tests flaky in a full suite.


def envelope(body: dict) -> dict:
    return MigrationInput.envelope(body, options=RunOptions(continue_as_new_at_history_length=CAN_AT)).model_dump(
        mode="json"
    )


async def test_state_and_approvals_survive_continue_as_new(env_local, task_queue) -> None:
    body = fast_spec(ramp={"steps": [5, 100], "approval": "required", "bake": "PT8S"})
    world = world_for(body)
    async with running_worker(env_local, world, task_queue):
        handle = await start(env_local, task_queue, envelope(body))
        await wait_for(handle, gate_open(5), "gate 5")
        await send(handle, "approve", {"approver": "mallory"})  # refused, audited
        await send(handle, "approve", {"approver": "alice", "step": 5})
        gate = await wait_for(handle, gate_open(100), "gate 100", limit=30)
        assert gate.runs > 1, "the bake's polling should have continued-as-new at least once"
        await send(handle, "approve", {"approver": "bob"})
        report = await asyncio.wait_for(handle.result(), 60)
    assert report.outcome == "completed"
    assert [(a.step, a.approver) for a in report.approvals] == [(5, "alice"), (100, "bob")]
    # The audit trail of the first run is still there, refusals included.
    assert report.events[0].kind in ("warning", "phase")
    assert any(e.actor == "mallory" and not e.accepted for e in report.events)
    assert sum(e.kind == "continue_as_new" for e in report.events) >= gate.runs - 1
    # Weights are not re-applied on resume: one write per step, no more.
    assert world.calls["set_edge_weights"] == 2


async def test_a_rollback_requested_across_continue_as_new_completes(env_local, task_queue) -> None:
    body = fast_spec(ramp={"steps": [50, 100], "bake": "PT2M"})
    world = world_for(body)
    async with running_worker(env_local, world, task_queue):
        handle = await start(env_local, task_queue, envelope(body))
        first = await wait_for(handle, baking(0), "bake of 50%")
        assert first.countdown is not None and first.countdown.ends_at is not None
        during = await wait_for(handle, lambda s: s.runs > first.runs, "a continue-as-new during the bake", limit=60)
        assert during.phase is Phase.RAMPING and during.countdown is not None
        # The bake resumed with its remaining time, not a fresh one: same end time.
        assert during.countdown.ends_at == first.countdown.ends_at
        await send(handle, "rollback", {"requested_by": "dave", "reason": "drill"})
        report = await asyncio.wait_for(handle.result(), 60)
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
