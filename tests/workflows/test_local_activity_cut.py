"""A worker may complete the workflow task that ran a local activity with the local activity's
marker and carry on in the next workflow task (how its timing cuts it is not up to the workflow: a
query arriving then is one way). The history must replay wherever the cut fell. On replay, the SDK
resolves the local activity before it shows the next task's events, so a ``workflow.patched()``
asked for the first time right after a local activity is answered without that task's patch markers
(TMPRL1100: every query of the run fails, and the run stops at its next workflow task).

This records a migration that uses every local activity (the search attributes' listing and the
rollback's first write) with notifications on, cuts its history after each local activity's marker
as a worker could have, and replays every cut."""

from __future__ import annotations

import json
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from meshshift.workflows.migration import MeshMigration
from meshshift.workflows.sandbox import workflow_runner
from tests.workflows.harness import baking, finish, make_spec, running_worker, send, start, wait_for, world_for

TASK_SCHEDULED = "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED"
TASK_STARTED = "EVENT_TYPE_WORKFLOW_TASK_STARTED"
TASK_COMPLETED = "EVENT_TYPE_WORKFLOW_TASK_COMPLETED"
COMPLETED_BY = "workflowTaskCompletedEventId"
LOCAL_ACTIVITY = "core_local_activity"


def _attributes(event: dict[str, Any]) -> dict[str, Any]:
    return next(v for k, v in event.items() if k.endswith("Attributes"))


def _shift_ids(node: Any, after: int, by: int) -> Any:
    """Every event id above ``after``, as the event's own id or as a reference, moved up by ``by``."""
    if isinstance(node, dict):
        return {
            k: str(int(v) + by) if k.endswith(("EventId", "eventId")) and int(v) > after else _shift_ids(v, after, by)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_shift_ids(v, after, by) for v in node]
    return node


def local_activity_cuts(events: list[dict[str, Any]]) -> list[int]:
    """Indexes of the local activity markers that share their workflow task with commands after them."""
    cuts = []
    for i, event in enumerate(events[:-1]):
        attributes = event.get("markerRecordedEventAttributes")
        if attributes is None or attributes["markerName"] != LOCAL_ACTIVITY:
            continue
        following = events[i + 1]
        if following["eventType"] != TASK_SCHEDULED and _attributes(following).get(COMPLETED_BY) == attributes.get(
            COMPLETED_BY
        ):
            cuts.append(i)
    return cuts


def cut_after(events: list[dict[str, Any]], index: int) -> list[dict[str, Any]]:
    """The history with the workflow task ended after ``events[index]`` and the commands that
    followed it in that task moved into a new one, as the server records it when a worker does so."""
    marker = events[index]
    at = int(marker["eventId"])
    task = marker["markerRecordedEventAttributes"][COMPLETED_BY]
    scheduled = next(e for e in reversed(events[:index]) if e["eventType"] == TASK_SCHEDULED)
    new = [
        {
            "eventId": str(at + 1),
            "eventTime": marker["eventTime"],
            "eventType": TASK_SCHEDULED,
            "workflowTaskScheduledEventAttributes": _attributes(scheduled),
        },
        {
            "eventId": str(at + 2),
            "eventTime": marker["eventTime"],
            "eventType": TASK_STARTED,
            "workflowTaskStartedEventAttributes": {"scheduledEventId": str(at + 1)},
        },
        {
            "eventId": str(at + 3),
            "eventTime": marker["eventTime"],
            "eventType": TASK_COMPLETED,
            "workflowTaskCompletedEventAttributes": {"scheduledEventId": str(at + 1), "startedEventId": str(at + 2)},
        },
    ]
    rest = []
    for event in _shift_ids(events[index + 1 :], at, 3):
        attributes = _attributes(event)
        if attributes.get(COMPLETED_BY) == task:
            attributes[COMPLETED_BY] = str(at + 3)
        rest.append(event)
    return [*events[: index + 1], *new, *rest]


async def test_the_history_replays_wherever_a_local_activity_ends_its_workflow_task(
    env_timeskipping, task_queue
) -> None:
    body = make_spec(
        ramp={"steps": [25, 100], "approval": "auto"},
        notifications={"sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:shop-migrations"},
    )
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        await wait_for(handle, baking(0), "bake of 25%")
        await send(handle, "alarm", {"alarm_name": "shop-green-5xx", "state": "ALARM"})
        report = await finish(handle)
        recorded = json.loads((await handle.fetch_history()).to_json())["events"]
    assert report.outcome == "rolled_back"
    assert world.local == ["registered_search_attributes", "set_edge_weights"]
    markers = [e for e in recorded if e.get("markerRecordedEventAttributes", {}).get("markerName") == LOCAL_ACTIVITY]
    assert len(markers) == 2
    cuts = local_activity_cuts(recorded)
    replayer = Replayer(
        workflows=[MeshMigration], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    # A cut the worker already made is in the recorded history; each other one is made here.
    variants = {"as recorded": recorded}
    variants |= {f"cut after event {recorded[i]['eventId']}": cut_after(recorded, i) for i in cuts}
    every = recorded
    for i in reversed(cuts):  # from the last one back, so that each index still points at its marker
        every = cut_after(every, i)
    variants["every cut"] = every
    for name, events in variants.items():
        history = WorkflowHistory.from_json(handle.id, json.dumps({"events": events}))
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, f"{name}: {result.replay_failure}"
