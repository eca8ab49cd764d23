"""The lifecycle end to end with fake activities: approvals at every gate (by signal and by
update), dry run, an invalid spec, a failure before traffic moved, and the status query."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from meshshift.migration import contracts as c
from meshshift.migration import plan as planning
from meshshift.migration.constants import UPDATE_APPROVE
from meshshift.migration.edge.alb import AlbFacts
from meshshift.migration.edge.route53 import Route53Facts, Route53RecordFacts
from meshshift.migration.state import CommandResult, GateKind, Phase
from tests.workflows.fakes import BLUE_WORKER_COUNT
from tests.workflows.harness import (
    baking,
    gate_open,
    make_spec,
    running_worker,
    start,
    status,
    wait_for,
    world_for,
)

STEPS = [1, 5, 25, 50, 100]


async def approve(handle: WorkflowHandle[Any, Any], via: str, approver: str, step: int | None) -> None:
    payload = {"approver": approver, "step": step, "comment": f"looks good at {step}"}
    if via == "signal":
        await handle.signal("approve", payload)
    else:
        result = await handle.execute_update(UPDATE_APPROVE, payload, result_type=CommandResult)
        assert result.accepted


@pytest.mark.parametrize("via", ["signal", "update"])
async def test_happy_path_with_approval_at_every_gate(env_timeskipping, task_queue, via: str) -> None:
    body = make_spec(ramp={"approval": "required"}, decommission={"approval": "required"})
    body["blue"]["mesh"] = "shop-mesh"
    world = world_for(body)
    world.registered_search_attributes = []
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        for index, step in enumerate(STEPS):
            gate = await wait_for(handle, gate_open(step), f"gate {step}")
            assert gate.awaiting_approval is not None
            assert gate.awaiting_approval.gate is GateKind.RAMP
            assert gate.phase is Phase.RAMPING
            assert gate.green_weight == (STEPS[index - 1] if index else 0)
            await approve(handle, via, "alice" if index % 2 else "bob", step)
            bake = await wait_for(handle, baking(index), f"bake of {step}%")
            assert bake.green_weight == step
            assert bake.bake_ends_at is not None
            assert all(r.green_percent == step for r in bake.weights.values())
            await env_timeskipping.sleep(timedelta(minutes=11))
        # Drain, flip and the one-hour soak, then the decommission gate.
        await env_timeskipping.sleep(timedelta(hours=2))
        gate = await wait_for(
            handle,
            lambda s: s.awaiting_approval is not None and s.awaiting_approval.gate is GateKind.DECOMMISSION,
            "decommission gate",
        )
        assert gate.phase is Phase.SOAKING
        assert gate.rollback_possible
        await approve(handle, via, "alice", None)
        report = await handle.result()
        final = await status(handle)

    assert report.outcome == "completed"
    assert report.phase is Phase.COMPLETED
    assert [a.step for a in report.approvals] == [*STEPS, 100]
    assert report.green_weight == 100
    assert report.drain is not None and report.drain.verified_zero
    assert [t.phase for t in report.timings] == [
        Phase.PLANNING,
        Phase.PROVISIONING,
        Phase.VALIDATING,
        Phase.RAMPING,
        Phase.DRAINING,
        Phase.FLIPPING_WORKERS,
        Phase.SOAKING,
        Phase.DECOMMISSIONING,
        Phase.COMPLETED,
    ]
    assert world.green_percent() == 100
    # Workers handed over, blue deleted, App Mesh skipped with a warning (its API is "gone").
    assert world.services[("shop", "order-worker-sc")] == 2
    assert ("shop", "order-worker") not in world.services
    assert sorted(world.deleted) == ["frontend", "order-worker", "stock-api", "user-api"]
    assert any("App Mesh" in w for w in report.warnings)
    assert world.calls[c.PROVISION_GREEN_SERVICE.name] == 4
    # Status after decommission: blue is gone, no rollback possible.
    assert not final.rollback_possible
    assert "blue is gone" in final.rollback.message
    assert final.plan is not None and final.steps == STEPS
    assert final.awaiting_approval is None


async def test_dry_run_stops_after_the_plan(env_timeskipping, task_queue) -> None:
    body = make_spec(dry_run=True)
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        report = await handle.result()
    assert report.outcome == "dry_run"
    assert report.plan is not None
    assert [s.percent for s in report.plan.steps] == STEPS
    assert set(world.calls) == {
        c.REGISTERED_SEARCH_ATTRIBUTES.name,
        c.DISCOVER_BLUE_MESH.name,
        c.DISCOVER_BLUE_SERVICES.name,
    }


async def test_invalid_spec_fails_before_any_activity(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [5, 1, 100]})
    body["edge"][0]["listner_arn"] = "typo"
    world = world_for(make_spec())
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        final = await status(handle)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidSpec"
    assert cause.non_retryable
    assert "ramp.steps" in cause.message
    assert "edge[0]" in cause.message
    assert not world.calls
    assert final.phase is Phase.FAILED


async def test_failure_before_traffic_moved_fails_the_migration(env_timeskipping, task_queue) -> None:
    body = make_spec()
    world = world_for(body)
    world.stable = False
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        final = await status(handle)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "MigrationFailed"
    assert "steady state" in cause.message
    assert final.phase is Phase.FAILED
    assert final.error is not None and "frontend-sc" in final.error
    assert world.calls[c.SET_EDGE_WEIGHTS.name] == 0
    assert world.all_blue()


async def test_an_edge_preflight_error_fails_planning_and_a_warning_joins_the_plan(
    env_timeskipping, task_queue
) -> None:
    body = make_spec()
    world = world_for(body)
    alb, route53 = world.spec.edge
    world.edge_facts = [
        AlbFacts(shifter_id=planning.shifter_id(alb), listener_found=False),
        Route53Facts(
            shifter_id=planning.shifter_id(route53),
            records=[Route53RecordFacts(set_identifier=s, found=False) for s in ("blue", "green")],
        ),
    ]
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        world.edge_facts = world.edge_facts[1:]
        warned = await start(env_timeskipping, task_queue, make_spec(dry_run=True))
        report = await warned.result()
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "MigrationFailed"
    assert "planning failed: edge preflight: 1 error\n" in cause.message
    assert "error edge[0].listener_arn: expected an existing ALB listener" in cause.message
    assert "warning edge[1].blue.set_identifier" in cause.message
    assert world.calls[c.PROVISION_GREEN_SERVICE.name] == 0 and world.calls[c.SET_EDGE_WEIGHTS.name] == 0
    assert report.outcome == "dry_run" and report.plan is not None
    assert [(f.severity, f.field) for f in report.plan.preflight] == [
        ("warning", "edge[1].blue.set_identifier"),
        ("warning", "edge[1].green.set_identifier"),
    ]
    assert any(w.startswith("edge preflight: edge[1].blue.set_identifier") for w in report.warnings)


async def test_async_workers_start_at_zero_until_the_flip(env_timeskipping, task_queue) -> None:
    body = make_spec()
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        await wait_for(handle, baking(0), "first bake")
        assert world.services[("shop", "order-worker-sc")] == 0
        assert world.services[("shop", "order-worker")] == BLUE_WORKER_COUNT
        report = await handle.result()
    assert report.outcome == "completed"
