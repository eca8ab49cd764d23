"""What the Temporal Web UI reads from a running migration: its current details (through the
``__temporal_workflow_metadata`` query the UI itself uses) and the summary of each activity call
(user metadata on the ActivityTaskScheduled events)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.converter import PayloadConverter

from meshshift.migration.constants import UPDATE_APPROVE
from tests.workflows.harness import finish, gate_open, make_spec, running_worker, send, start, wait_for, world_for

METADATA_QUERY = "__temporal_workflow_metadata"


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata = await handle.query(METADATA_QUERY, result_type=WorkflowMetadata, rpc_timeout=timedelta(seconds=3))
    return metadata.current_details


async def activity_summaries(handle: WorkflowHandle[Any, Any], converter: PayloadConverter) -> list[str]:
    return [
        converter.from_payload(event.user_metadata.summary, str)
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and event.user_metadata.HasField("summary")
    ]


async def test_the_web_ui_reads_the_open_gate_its_commands_and_the_last_refusal(env_timeskipping, task_queue) -> None:
    body = make_spec(ramp={"steps": [5, 100], "approval": "required"})
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body, workflow_id="mesh-migration-shop")
        await wait_for(handle, gate_open(5), "gate 5")
        await send(handle, "approve", {"approver": "mallory", "step": 5})

        details = await current_details(handle)
        assert details.startswith("**shop**: phase **ramping**, green 0%")
        assert "**Waiting for approval** of ramp step 5% green" in details
        assert "`meshshift approve shop --step 5 --as <approver>`" in details
        assert (
            "`temporal workflow update execute --workflow-id mesh-migration-shop "
            f'--name {UPDATE_APPROVE} --input \'{{"approver": "<approver>", "step": 5}}\'`'
        ) in details
        assert "**Countdown:** approval timeout ends at" in details
        assert "**Last refusal:** approve from mallory" in details and "'mallory' is not an approver" in details

        await send(handle, "approve", {"approver": "alice", "step": 5})
        await wait_for(handle, lambda s: s.countdown is not None and s.countdown.purpose == "bake", "bake of 5%")
        details = await current_details(handle)
        assert "green 5%" in details and "Waiting for approval" not in details
        assert "ALB listener" in details and ": 5% green" in details
        assert "**Countdown:** bake ends at" in details

        await env_timeskipping.sleep(timedelta(minutes=11))
        await wait_for(handle, gate_open(100), "gate 100")
        await send(handle, "approve", {"approver": "bob"})
        report = await finish(handle)
        assert report.outcome == "completed"
        # A closed workflow answers queries by replay, so the worker is still needed here.
        assert (await current_details(handle)).startswith("**shop**: phase **completed**, green 100%")

    summaries = await activity_summaries(handle, env_timeskipping.client.data_converter.payload_converter)
    # Discovery in pages (issue 22): the mesh and the edge once, then one page of services here.
    assert "discover blue: no App Mesh and 2 edge shifters" in summaries
    assert "discover blue: 3 services + 1 async worker (frontend .. order-worker)" in summaries
    assert "ALB listener, Route 53 record → 5% green" in summaries
    assert "ALB listener, Route 53 record → 100% green" in summaries
