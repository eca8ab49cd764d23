"""Continue-as-new: state, approvals and a pending rollback carry over to the next run."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowQueryFailedError

from meshshift.migration import paging
from meshshift.migration.constants import QUERY_PLAN_SERVICES, QUERY_STATUS
from meshshift.migration.contracts import StatePartHeld
from meshshift.migration.state import (
    PLAN_SERVICES_SHOWN,
    MigrationInput,
    MigrationState,
    MigrationStatus,
    Phase,
    PlanServicesPage,
    PlanServicesRequest,
    RollbackTrigger,
    RunOptions,
    plan_services,
)
from tests.workflows.fakes import FakeWorld
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


def test_a_large_state_is_carried_compressed_and_comes_back_equal() -> None:
    state = MigrationState(app="shop", phase=Phase.RAMPING, warnings=[f"warning {i:05d}" for i in range(10_000)])
    body = MigrationInput.envelope(make_spec(), state).model_dump(mode="json")
    assert isinstance(body["resume"], str)
    assert len(json.dumps(body)) < len(state.model_dump_json()) / 4
    assert MigrationState.model_validate(MigrationInput.model_validate(body).resume_json) == state
    # A small state stays readable JSON.
    small = MigrationInput.envelope(make_spec(), MigrationState(app="shop")).model_dump(mode="json")
    assert isinstance(small["resume"], dict)


def test_a_damaged_compressed_state_is_refused_by_name() -> None:
    body = MigrationInput.envelope(make_spec(), MigrationState(app="shop")).model_dump(mode="json")
    body["resume"] = "not base64 of zlib!"
    with pytest.raises(ValueError, match="resume: expected the compressed state"):
        _ = MigrationInput.model_validate(body).resume_json


# Enough services that the plan (about 1 KB each) is carried compressed, and more than the status
# query shows.
MANY = 2 * PLAN_SERVICES_SHOWN + 20


def many_services(**overrides: Any) -> tuple[dict[str, Any], FakeWorld, list[str]]:
    """A migration of MANY services with a long bake: its spec, its world, and its green services
    (the services, then the async workers)."""
    body = fast_spec(ramp={"steps": [50, 100], "bake": "PT2M"}, **overrides)
    body["blue"]["services"] = [f"svc-{i:03d}" for i in range(MANY)]
    green = [*body["blue"]["services"], *(w["blue_service"] for w in body["async_workers"])]
    return body, world_for(body), green


async def test_a_large_plan_survives_continue_as_new_compressed_and_is_read_in_pages(
    env_local, task_queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Provisioning goes 100 services at a time and may continue-as-new between chunks (1,000 in production).
    monkeypatch.setattr(paging, "PROVISION_CHUNK", 100)
    body, world, green = many_services()
    async with running_worker(env_local, world, task_queue):
        handle = await start(env_local, task_queue, envelope(body))
        first = await wait_for(handle, baking(0), "bake of 50%", limit=120)
        during = await wait_for(handle, lambda s: s.runs > first.runs, "a continue-as-new during the bake", limit=60)
        latest = env_local.client.get_workflow_handle(handle.id)
        started = (await latest.fetch_history()).events[0].workflow_execution_started_event_attributes
        carried = json.loads(started.input.payloads[0].data)
        pages = [
            await latest.query(
                QUERY_PLAN_SERVICES, PlanServicesRequest(offset=o, limit=100), result_type=PlanServicesPage
            )
            for o in range(0, len(green), 100)
        ]
        with pytest.raises(
            WorkflowQueryFailedError, match=r"status_plan_services: offset: .*greater than or equal to 0"
        ):
            await latest.query(QUERY_PLAN_SERVICES, {"offset": -1})
        first_page = await latest.query(QUERY_PLAN_SERVICES, result_type=PlanServicesPage)
        await handle.terminate("test done")
    assert isinstance(carried["resume"], str), "the plan should have been carried compressed"
    # Two continue-as-new during provisioning (after 100 and 200 of 221), then each service
    # provisioned exactly once across the runs.
    assert first.runs >= 3
    assert world.calls["provision_green_service"] == len(green)
    provisioned = [e.detail for e in first.events if e.kind == "provisioned"]
    assert provisioned and provisioned[-1].startswith(f"{len(green)} green services")
    assert during.plan is not None and during.plan_services_total == len(green)
    assert len(during.plan.services) + len(during.plan.async_workers) == PLAN_SERVICES_SHOWN
    assert [p.blue_service for page in pages for p in page.services] == green
    assert all(page.total == len(green) for page in pages)
    assert first_page == pages[0]


async def test_a_state_too_large_for_one_payload_waits_in_parts_and_comes_back_whole(
    env_local, task_queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same migration as above, with parts of 4 KiB (192 KiB in production): the per-service
    # fields leave the input for holder workflows, and the next run reads them back.
    monkeypatch.setattr(paging, "PROVISION_CHUNK", 100)
    body, world, green = many_services()
    options = RunOptions(continue_as_new_at_history_length=CAN_AT, state_part_bytes=4096)
    async with running_worker(env_local, world, task_queue):
        handle = await start(
            env_local, task_queue, MigrationInput.envelope(body, options=options).model_dump(mode="json")
        )
        first = await wait_for(handle, baking(0), "bake of 50%", limit=120)
        latest = env_local.client.get_workflow_handle(handle.id)
        started = (await latest.fetch_history()).events[0].workflow_execution_started_event_attributes
        carried = json.loads(started.input.payloads[0].data)
        holders = [
            env_local.client.get_workflow_handle(i, result_type=StatePartHeld)
            for i in carried["resume_parts"]["workflow_ids"]
        ]
        # Each holder is released once its run has read it back.
        held = [await asyncio.wait_for(h.result(), 30) for h in holders]
        pages = [await page_once_read_back(latest, o) for o in range(0, len(green), 100)]
        report = await latest.query(QUERY_STATUS, result_type=MigrationStatus)
        await handle.terminate("test done")
    assert first.runs >= 3
    assert len(holders) >= 2 and all(h.released for h in held)
    # The input keeps the head: the first PLAN_SERVICES_SHOWN services, not all 221.
    head = MigrationState.model_validate(MigrationInput.model_validate(carried).resume_json)
    assert head.plan is not None and len(plan_services(head.plan)) == PLAN_SERVICES_SHOWN
    assert carried["resume_parts"]["totals"]["plan_services_total"] == len(green)
    # Each service provisioned exactly once across the runs, and the whole plan is back.
    assert world.calls["provision_green_service"] == len(green)
    assert [p.blue_service for page in pages for p in page.services] == green
    assert report.plan_services_total == len(green)
    assert first.plan is not None and report.plan is not None and report.plan.steps == first.plan.steps


async def page_once_read_back(handle: WorkflowHandle[Any, Any], offset: int) -> PlanServicesPage:
    """A page of the plan; the bake keeps continuing-as-new here, and while a new run reads its
    parts back the paging query says to ask again."""
    for _ in range(500):
        try:
            page: PlanServicesPage = await handle.query(
                QUERY_PLAN_SERVICES, PlanServicesRequest(offset=offset, limit=100), result_type=PlanServicesPage
            )
            return page
        except WorkflowQueryFailedError as err:
            if "ask again in a moment" not in str(err):
                raise
        await asyncio.sleep(0.02)
    raise AssertionError("the plan was still being read back after 500 tries")


async def test_an_input_that_cannot_be_read_keeps_the_run_open_instead_of_starting_over(env_local, task_queue) -> None:
    body = fast_spec()
    world = world_for(body)
    carried = MigrationInput.envelope(body, MigrationState(app="shop", phase=Phase.RAMPING)).model_dump(mode="json")
    carried["resume"] = "not base64 of zlib!"
    async with running_worker(env_local, world, task_queue):
        handle = await start(env_local, task_queue, carried)
        failure = await workflow_task_failure(handle)
        description = await handle.describe()
        await handle.terminate("test done")
    assert "the continue-as-new input could not be read" in failure
    assert "Nothing was done by this run" in failure
    assert description.status is WorkflowExecutionStatus.RUNNING
    # Nothing was planned or provisioned again.
    assert not world.calls


async def test_parts_that_are_gone_roll_back_on_the_head_and_leave_green_to_the_operator(env_local, task_queue) -> None:
    body, world, _ = many_services(decommission={"keep_green_on_rollback": False})
    options = RunOptions(continue_as_new_at_history_length=CAN_AT, state_part_bytes=4096)
    async with running_worker(env_local, world, task_queue):
        first = await start(
            env_local, task_queue, MigrationInput.envelope(body, options=options).model_dump(mode="json")
        )
        at = await wait_for(first, baking(0), "bake of 50%", limit=120)
        await wait_for(first, lambda s: s.runs > at.runs, "a continue-as-new during the bake", limit=60)
        latest = env_local.client.get_workflow_handle(first.id)
        started = (await latest.fetch_history()).events[0].workflow_execution_started_event_attributes
        await latest.terminate("test: the next run starts elsewhere")
        carried = json.loads(started.input.payloads[0].data)
        # As if the holders had been terminated with the migration's last run.
        carried["resume_parts"]["workflow_ids"] = [f"gone-{i}" for i in carried["resume_parts"]["workflow_ids"]]
        carried["options"].pop("continue_as_new_at_history_length")
        handle = await start(env_local, task_queue, carried, workflow_id=f"{first.id}-again")
        report = await asyncio.wait_for(handle.result(), 60)
    assert report.outcome == "rolled_back"
    assert world.all_blue(), "the head's rollback weights restored blue"
    assert world.calls["delete_ecs_services"] == 0
    assert any("green services were not deleted" in w and "from gone-" in w for w in report.warnings), report.warnings
    assert report.rollback is not None and not report.rollback.green_deleted


async def workflow_task_failure(handle: WorkflowHandle[Any, Any]) -> str:
    """The message of the run's first failed workflow task, once there is one."""
    for _ in range(500):
        async for event in handle.fetch_history_events():
            if event.HasField("workflow_task_failed_event_attributes"):
                return str(event.workflow_task_failed_event_attributes.failure.message)
        await asyncio.sleep(0.02)
    raise AssertionError("no workflow task failed")
