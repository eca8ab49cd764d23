"""What every benchmark shares: starting migrations and waiting for what they publish."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory

from bench.observe import Published, published
from meshshift.migration.constants import WORKFLOW_TASK_TIMEOUT, WORKFLOW_TYPE, workflow_id
from meshshift.migration.state import MigrationInput, RunOptions


async def start(
    client: Client, task_queue: str, spec: dict[str, Any], options: RunOptions | None = None
) -> WorkflowHandle[Any, Any]:
    """Start the migration of ``spec`` as ``meshshift start`` does; with ``options``, as the input a
    continue-as-new carries them."""
    body: Any = MigrationInput.envelope(spec, options=options).model_dump(mode="json") if options else spec
    return await client.start_workflow(
        WORKFLOW_TYPE, body, id=workflow_id(spec["name"]), task_queue=task_queue, task_timeout=WORKFLOW_TASK_TIMEOUT
    )


ENDED_PHASES = frozenset({"failed", "rolled_back"})


class MigrationEnded(RuntimeError):
    """The migration failed, rolled back or closed before it published what a benchmark waited for."""

    def __init__(self, message: str, *, phase: str | None, closed: bool) -> None:
        super().__init__(message)
        self.phase = phase
        self.closed = closed


async def wait_published(
    handle: WorkflowHandle[Any, Any],
    *,
    weight: int | None = None,
    phase: str | None = None,
    timeout: float = 600.0,  # noqa: ASYNC109 - a bench guard, not an API timeout
) -> Published:
    """The first upsert with this green weight (or phase). Raises ``MigrationEnded`` as soon as the
    migration publishes ``failed`` or ``rolled_back`` (it will not get there any more, although the
    workflow may stay open a while to compensate and notify) or closes; follows continue-as-new."""

    async def find() -> Published:
        last: str | None = None
        while True:
            # The handle names no run: each pass reads the latest run's history, until that run closes.
            async for event in published(handle):
                if weight is not None and event.green_weight == weight:
                    return event
                if phase is not None and event.phase == phase:
                    return event
                last = event.phase or last
                if event.phase in ENDED_PHASES:
                    raise MigrationEnded(
                        f"{handle.id} published phase {event.phase} before weight={weight} phase={phase}",
                        phase=event.phase,
                        closed=False,
                    )
            description = await handle.describe()
            if description.status == WorkflowExecutionStatus.RUNNING:
                continue  # continued as new: the next run publishes on
            try:
                outcome = (await handle.result()).get("outcome")
                detail = f"it ended {outcome}"
            except Exception as err:
                detail = f"it failed: {err}: {err.__cause__}"
            raise MigrationEnded(
                f"{handle.id} closed before publishing weight={weight} phase={phase}; {detail}", phase=last, closed=True
            )

    return await asyncio.wait_for(find(), timeout)


async def run_histories(client: Client, handle: WorkflowHandle[Any, Any]) -> list[WorkflowHistory]:
    """The history of every run of the migration so far, first to latest (continue-as-new ends a run
    with the next run's id)."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = handle.first_execution_run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        continued = last.HasField("workflow_execution_continued_as_new_event_attributes")
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id if continued else None
    return histories


async def publications(handle: WorkflowHandle[Any, Any]) -> list[Published]:
    """Everything published so far (no waiting)."""
    return [item async for item in published(handle, wait=False)]


def seconds_between(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


# rollback_timeline's marks, in the order they happen.
TIMELINE_MARKS = (
    "task_started",
    "task_completed",
    "set_scheduled",
    "set_started",
    "set_completed",
    "read_completed",
    "closed",
)


async def rollback_timeline(handle: WorkflowHandle[Any, Any]) -> dict[str, float]:
    """Where a signal-triggered rollback's time goes, from the server's event times (seconds after
    the signal was recorded): the workflow task that handled the signal started and completed, the
    restoring set_edge_weights scheduled, started, completed, a
    second read of the weights completed (only when the write's read-back did not match yet), and
    the workflow closed."""
    from temporalio.api.enums.v1 import EventType as E

    from meshshift.migration.contracts import READ_EDGE_WEIGHTS, SET_EDGE_WEIGHTS

    signaled: datetime | None = None
    marks: dict[str, float] = {}
    names: dict[int, str] = {}
    async for event in handle.fetch_history_events():
        when = event.event_time.ToDatetime()
        if event.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED and signaled is None:
            signaled = when
            continue
        if signaled is None:
            continue
        offset = round((when - signaled).total_seconds(), 4)
        if event.event_type == E.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            marks.setdefault("task_started", offset)
        elif event.event_type == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            marks.setdefault("task_completed", offset)
        elif event.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            names[event.event_id] = name
            if name == SET_EDGE_WEIGHTS.name:
                marks.setdefault("set_scheduled", offset)
        elif event.event_type == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            if names.get(event.activity_task_started_event_attributes.scheduled_event_id) == SET_EDGE_WEIGHTS.name:
                marks.setdefault("set_started", offset)
        elif event.event_type == E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            name = names.get(event.activity_task_completed_event_attributes.scheduled_event_id, "")
            if name == SET_EDGE_WEIGHTS.name:
                marks.setdefault("set_completed", offset)
            elif name == READ_EDGE_WEIGHTS.name:
                marks["read_completed"] = offset
        elif event.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            marks["closed"] = offset
    return marks
