"""Benchmark 5, the workflow at scale: one migration of N services through MeshMigration itself,
with the fake activities of the workflow tests registered under the real activity names, so that
what is measured is the workflow's own history, payloads and state, not the simulated AWS (the
``large`` benchmark runs the real activities, and is bounded by the simulation's speed).

Each migration plans, provisions and validates N services and reaches the ramp's first approval
gate. It may continue-as-new at every chance (``RunOptions.continue_as_new_at_history_length``):
between provisioning chunks of 1,000 services and at the gate, so that the state a new run carries
is measured too. History figures are over every run. The figures are compared with Temporal's limits, which are the
floor here: a payload over 2 MB or a query answer over 4 MB fails, a history over 51,200 events
ends the workflow, and the issue's targets (256 KB per payload, < 60 events per service).
"""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any, cast

from temporalio.api.history.v1 import HistoryEvent
from temporalio.testing import WorkflowEnvironment

from bench.common import run_histories
from bench.harness import Harness
from bench.stats import target
from meshshift.migration.constants import QUERY_STATUS
from meshshift.migration.state import MigrationInput, MigrationStatus, Phase, RunOptions
from tests.workflows.harness import make_spec, running_worker, start, wait_for, world_for

TARGET_PAYLOAD_BYTES = 256 * 1024
PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024
QUERY_LIMIT_BYTES = 4 * 1024 * 1024
TARGET_EVENTS_PER_SERVICE = 60
# Any history is longer than this by the first gate: the run continues-as-new as soon as it may.
CONTINUE_AS_NEW_AT = 50
ENDED = (Phase.FAILED, Phase.ROLLED_BACK, Phase.COMPLETED)


async def run(h: Harness, sizes: list[int]) -> dict[str, Any]:
    rows = [await _one(h, n) for n in sizes]
    largest = max(rows, key=lambda r: r["largest_event_bytes"])
    carried = max(r["continue_as_new_input_bytes"] for r in rows)
    status = max(r["status_query_bytes"] for r in rows)
    events = max(r["history_events_per_service"] for r in rows)
    top = max(r["services"] for r in rows)
    return {
        "setup": (
            "MeshMigration on the dev server with the workflow tests' fake activities (tests/workflows/fakes.py) "
            "under the real names: plan, provision and validate N services to the ramp's first gate, then "
            "continue-as-new; measures the workflow's history, payloads and state, not AWS"
        ),
        "runs": rows,
        "targets": [
            target(
                "largest payload",
                largest["largest_event_bytes"] <= TARGET_PAYLOAD_BYTES,
                f"{largest['largest_event_bytes']:,} B ({largest['largest_event']}) at N={largest['services']}",
                f"<= {TARGET_PAYLOAD_BYTES:,} B at every N",
                "a discovery page and a part of the continue-as-new state are cut at 192 KiB; the continue-as-new "
                "input keeps what the status query shows and the spec, whose service list grows with N",
            ),
            target(
                f"N={top} completes to the first gate",
                all(r["completed"] for r in rows),
                ", ".join(f"N={r['services']}: {'yes' if r['completed'] else r['error']}" for r in rows),
                "every N reaches the ramp's first gate and continues-as-new",
                "see the row's error",
            ),
            target(
                "events per service",
                events < TARGET_EVENTS_PER_SERVICE,
                f"{events} at most",
                f"< {TARGET_EVENTS_PER_SERVICE}",
                "provisioning takes three events per service, plus its share of workflow tasks",
            ),
            target(
                "hard limits",
                carried < PAYLOAD_LIMIT_BYTES and status < QUERY_LIMIT_BYTES,
                f"continue-as-new input {carried:,} B, status query {status:,} B",
                f"continue-as-new input < {PAYLOAD_LIMIT_BYTES:,} B, status query < {QUERY_LIMIT_BYTES:,} B",
                "a payload over 2 MB fails the workflow task; a query answer over 4 MB fails the query",
            ),
        ],
    }


async def _one(h: Harness, n: int) -> dict[str, Any]:
    assert h.client is not None
    body = make_spec(ramp={"steps": [1, 100], "approval": "required", "bake": "PT0S"})
    body["blue"]["services"] = [f"svc-{i:04d}" for i in range(n)]
    world = world_for(body)
    env = cast(WorkflowEnvironment, SimpleNamespace(client=h.client))
    queue = f"bench-scale-{n}-{time.monotonic_ns()}"
    options = RunOptions(continue_as_new_at_history_length=CONTINUE_AS_NEW_AT)
    began = time.monotonic()
    row: dict[str, Any] = {"services": n, "completed": False}
    async with running_worker(env, world, queue):
        handle = await start(env, queue, MigrationInput.envelope(body, options=options).model_dump(mode="json"))
        try:
            at_gate = await wait_for(
                handle,
                lambda s: s.phase in ENDED or (s.runs >= 2 and s.awaiting_approval is not None),
                "the first gate",
                limit=3600,
            )
        except AssertionError as err:
            at_gate = None
            row["error"] = str(err)[:500]
        if at_gate is None or at_gate.phase in ENDED:
            row.setdefault("error", f"ended in {at_gate and at_gate.phase}: {at_gate and at_gate.error}")
            await handle.terminate("bench: did not reach the first gate")
            return row
        row["wall_seconds"] = round(time.monotonic() - began, 1)
        runs = await run_histories(h.client, handle)
        raw = await h.client.get_workflow_handle(handle.id).query(QUERY_STATUS)
        await handle.terminate("bench: measured")
    events = [e for history in runs for e in history.events]
    biggest = max(events, key=lambda e: e.ByteSize())
    row |= {
        "completed": True,
        "runs": MigrationStatus.model_validate(raw).runs,
        "plan_services_total": at_gate.plan_services_total,
        # Over every run: provisioning in chunks continues-as-new between them.
        "history_events": len(events),
        "history_events_per_service": round(len(events) / n, 2),
        "largest_run_events": max(len(history.events) for history in runs),
        "history_bytes": sum(e.ByteSize() for e in events),
        "largest_event_bytes": biggest.ByteSize(),
        "largest_event": _label(biggest, events),
        "continue_as_new_input_bytes": max(
            history.events[0].workflow_execution_started_event_attributes.input.ByteSize() for history in runs[1:]
        ),
        "status_query_bytes": len(json.dumps(raw)),
    }
    return row


def _label(event: HistoryEvent, events: list[HistoryEvent]) -> str:
    """The event's type, and its activity's name for an activity's events."""
    kind = HistoryEvent.DESCRIPTOR.fields_by_name["event_type"].enum_type.values_by_number[event.event_type].name
    if event.HasField("activity_task_completed_event_attributes"):
        scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
        for other in events:
            if other.event_id == scheduled:
                return f"{kind} {other.activity_task_scheduled_event_attributes.activity_type.name}"
    if event.HasField("activity_task_scheduled_event_attributes"):
        return f"{kind} {event.activity_task_scheduled_event_attributes.activity_type.name}"
    return kind
