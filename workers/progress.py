"""What an operator sees of a migration: ``render_status`` for ``meshshift status`` and ``follow``
for ``meshshift watch`` (and the demo).

Everything shown comes from the ``status`` query (``MigrationStatus``), so the CLI shows what any
other client of the contract would see. Countdowns are computed at render time from the
workflow's ``ends_at``, so a live view ticks between polls without querying more often.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.service import RPCError

from meshshift.migration.constants import QUERY_STATUS
from meshshift.migration.details import approve_commands, span
from meshshift.migration.state import (
    TERMINAL_PHASES,
    AuditEvent,
    GateKind,
    MigrationReport,
    MigrationStatus,
    Phase,
    RollbackInfo,
    StepStage,
)

PHASE_STYLE: dict[Phase, str] = {
    Phase.COMPLETED: "bold green",
    Phase.ROLLED_BACK: "bold yellow",
    Phase.ROLLING_BACK: "bold yellow",
    Phase.FAILED: "bold red",
}

COUNTDOWN_LABEL = {
    "bake": "bake",
    "approval": "approval window",
    "soak": "soak",
    "drain_poll": "next drain check",
    "drain_verify": "drain verification",
}

DEFAULT_EVENTS_SHOWN = 10


def _now() -> datetime:
    return datetime.now(UTC)


def format_duration(delta: timedelta) -> str:
    """``1h02m05s``: the Web UI details' spans, packed for a terminal line."""
    return span(delta, sep="")


def approve_command(status: MigrationStatus) -> str | None:
    """The exact command that approves the open gate (the Web UI details' first), or None when no gate is open."""
    gate = status.awaiting_approval
    if gate is None:
        return None
    return approve_commands(status.app, gate)[0]


def event_line(event: AuditEvent) -> Text:
    """One audit event: time, actor, what; refused ones are marked with their reason."""
    line = Text()
    line.append(event.time.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), style="dim")
    line.append(f"  {event.actor:<12} ", style="cyan")
    if event.accepted:
        line.append(event.detail)
    else:
        line.append("REFUSED ", style="bold red")
        line.append(event.detail)
        if event.reason:
            line.append(f": {event.reason}", style="red")
    return line


def ramp_line(status: MigrationStatus) -> Text:
    """The step list with the reached steps in green and the next one highlighted."""
    text = Text("steps ")
    next_marked = False
    for percent in status.steps:
        if percent <= status.green_weight and status.green_weight > 0:
            text.append(f"[{percent}%]", style="bold green")
        elif not next_marked and status.phase is Phase.RAMPING:
            text.append(f"<{percent}%>", style="bold yellow")
            next_marked = True
        else:
            text.append(f" {percent}% ", style="dim")
        text.append(" ")
    return text


class StatusView:
    """A rich renderable of one status; time-dependent parts are computed when rendered."""

    def __init__(
        self,
        status: MigrationStatus,
        *,
        events: int = DEFAULT_EVENTS_SHOWN,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.status = status
        self.events = events
        self.clock = clock

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Panel(Group(*self._parts()), title=f"migration [bold]{self.status.app}[/]", expand=False)

    def _parts(self) -> list[RenderableType]:
        s = self.status
        parts: list[RenderableType] = []
        head = Text("phase ")
        head.append(s.phase.value, style=PHASE_STYLE.get(s.phase, "bold cyan"))
        if s.paused:
            head.append("  PAUSED (weights held; `meshshift resume` to continue)", style="bold magenta")
        if s.phase is Phase.RAMPING and s.steps:
            head.append(f"  step {min(s.step_index + 1, len(s.steps))}/{len(s.steps)} ({s.step_stage.value})")
        parts.append(head)

        bar = Table.grid(padding=(0, 1))
        bar.add_row(
            Text("green"),
            ProgressBar(total=100, completed=s.green_weight, width=40, complete_style="green"),
            Text(f"{s.green_weight}%", style="bold green" if s.green_weight else ""),
        )
        parts.append(bar)
        if s.steps:
            parts.append(ramp_line(s))

        if s.weights:
            table = Table("shifter", "mechanism", "blue", "green", "green %", "in sync", box=None, pad_edge=False)
            for reading in s.weights.values():
                table.add_row(
                    reading.shifter_id,
                    reading.mechanism,
                    f"{reading.blue:g}",
                    "promoted" if reading.promoted else f"{reading.green:g}",
                    f"{reading.green_percent:.1f}",
                    "yes" if reading.in_sync else Text("no", style="red"),
                )
            parts.append(table)

        countdown = self.countdown_text()
        if countdown is not None:
            parts.append(countdown)

        gate = s.awaiting_approval
        if gate is not None:
            what = "decommission of blue" if gate.gate is GateKind.DECOMMISSION else f"step {gate.step}%"
            waited = format_duration(self.clock() - gate.since)
            parts.append(Text(f"awaiting approval of {what} (open for {waited})", style="bold yellow"))
            parts.append(Text(f"  approve: {approve_command(s)}", style="yellow"))
            parts.append(Text(f"  reject:  meshshift reject {s.app} --as <approver> --reason <why>", style="yellow"))

        if s.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK) or (s.rollback.record is not None):
            record = s.rollback.record
            if record is not None:
                took = f" in {record.duration_seconds:.1f}s" if record.duration_seconds is not None else ""
                parts.append(
                    Text(
                        f"rollback ({record.trigger.value}) by {record.actor}: {record.reason}{took}",
                        style="yellow",
                    )
                )
            else:
                parts.append(Text(s.rollback.message, style="yellow"))
        if s.error:
            parts.append(Text(f"error: {s.error}", style="bold red"))
        for warning in s.warnings[-3:]:
            parts.append(Text(f"warning: {warning}", style="yellow"))

        if self.events and s.events:
            parts.append(Text(f"last {min(self.events, len(s.events))} of {len(s.events)} events", style="bold"))
            parts.extend(event_line(e) for e in s.events[-self.events :])
        return parts

    def countdown_text(self) -> Text | None:
        countdown = self.status.countdown
        if countdown is None:
            if self.status.bake_ends_at is None:
                return None
            left = self.status.bake_ends_at - self.clock()
            return Text(f"bake: {format_duration(left)} left", style="cyan")
        label = COUNTDOWN_LABEL.get(countdown.purpose, countdown.purpose)
        if countdown.ends_at is None:
            remaining = countdown.remaining
            return Text(
                f"{label}: {format_duration(remaining)} of {format_duration(countdown.total)} left (paused)",
                style="magenta",
            )
        left = countdown.ends_at - self.clock()
        return Text(
            f"{label}: {format_duration(left)} of {format_duration(countdown.total)} left "
            f"(ends {countdown.ends_at.astimezone(UTC):%H:%M:%S} UTC)",
            style="cyan",
        )


def render_status(status: MigrationStatus, *, events: int = DEFAULT_EVENTS_SHOWN) -> RenderableType:
    """The status as shown by ``meshshift status``: phase, ramp bar, weights, countdown, gate, events."""
    return StatusView(status, events=events)


def status_from_report(report: MigrationReport) -> MigrationStatus:
    """A closed migration's status, rebuilt from its result (a closed workflow needs no worker then)."""
    return MigrationStatus(
        phase=report.phase,
        paused=False,
        green_weight=report.green_weight,
        awaiting_approval=None,
        events=report.events,
        app=report.app,
        step_index=len(report.plan.steps) if report.plan else 0,
        step_stage=StepStage.GATE,
        steps=[s.percent for s in report.plan.steps] if report.plan else [],
        plan=report.plan,
        plan_services_total=report.plan_services_total,
        weights=report.weights,
        timings=report.timings,
        rollback_possible=False,
        rollback=RollbackInfo(
            possible=False, message=f"the migration has ended ({report.outcome})", record=report.rollback
        ),
        drain=report.drain,
        warnings=report.warnings,
    )


QUERY_TIMEOUT = timedelta(seconds=15)


class StatusUnavailable(Exception):
    """The status could not be read; the message says why and what to check."""


async def _query(handle: WorkflowHandle[Any, Any], client: Client | None) -> MigrationStatus:
    try:
        raw = await handle.query(QUERY_STATUS, result_type=MigrationStatus, rpc_timeout=QUERY_TIMEOUT)
    except WorkflowQueryFailedError as exc:
        # A worker took the query and failed it: replaying the history, or in the handler.
        raise StatusUnavailable(query_failed(handle.id, exc.message)) from exc
    except RPCError as exc:
        # While the run's workflow task keeps failing, Temporal refuses its queries or lets them time
        # out: the failure says why, where "is a worker running?" would mislead.
        failure = await last_task_failure(client, handle.id) if client is not None else None
        if failure is not None:
            raise StatusUnavailable(query_failed(handle.id, failure)) from exc
        raise StatusUnavailable(
            f"the status query of {handle.id} was not answered ({exc.message}); is a meshshift worker running "
            "on the migration's task queue? (`meshshift worker`)"
        ) from exc
    return MigrationStatus.model_validate(raw)


def query_failed(workflow_id: str, failure: str) -> str:
    """What a failed status query means, and what to do."""
    if "TMPRL1100" in failure or "Nondeterminism" in failure:
        return (
            f"the workers cannot replay the history of {workflow_id} ({failure}), so the migration stops at its "
            "next step and no query is answered. Check that every worker on its task queue runs the same meshshift "
            "build, or that worker versioning keeps the run on a build that replays it; a rollback recorded by a "
            "build of 2026-12-07 needs a reset. Both: docs/operations.md, 'Upgrading meshshift while migrations run'"
        )
    return (
        f"the status query of {workflow_id} failed in the worker ({failure}); "
        f"`temporal workflow describe --workflow-id {workflow_id}` and the worker's log show where"
    )


async def last_task_failure(client: Client, workflow_id: str) -> str | None:
    """The message of the run's workflow task failure, if its last workflow task failed (read from
    the end of its history; a failure that a later task got past does not count)."""
    request = GetWorkflowExecutionHistoryReverseRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id), maximum_page_size=100
    )
    try:
        response = await client.workflow_service.get_workflow_execution_history_reverse(request)
    except RPCError:
        return None
    for event in response.history.events:
        if event.HasField("workflow_task_completed_event_attributes"):
            return None
        if event.HasField("workflow_task_failed_event_attributes"):
            return event.workflow_task_failed_event_attributes.failure.message or "(no message)"
    return None


async def fetch_status(handle: WorkflowHandle[Any, Any], client: Client | None = None) -> MigrationStatus:
    """The ``status`` query for a running migration; for a completed one, its result (which needs no
    worker); for a failed or terminated one, the query (answered by replay while a worker runs).
    With ``client``, a query refused because the run's workflow task fails says why it fails."""
    description = await handle.describe()
    if description.status in (None, WorkflowExecutionStatus.RUNNING):
        return await _query(handle, client)
    if description.status is WorkflowExecutionStatus.COMPLETED:
        try:
            report = MigrationReport.model_validate(await handle.result())
        except WorkflowFailureError:  # pragma: no cover - a completed run has a result
            return await _query(handle, client)
        return status_from_report(report)
    return await _query(handle, client)


async def follow(
    handle: WorkflowHandle[Any, Any], console: Console, poll_interval: float = 1.0, client: Client | None = None
) -> MigrationStatus:
    """Show a migration live until it reaches a terminal phase; returns its last status.

    New audit events are printed above the live panel as they happen (so they stay in the
    scrollback and in logs); the panel shows the ramp, the countdown and the open gate.
    """
    status = await fetch_status(handle, client)
    seen = 0
    failing = ""  # the failure last printed: a lasting one (a run its workers cannot replay) is said once
    with Live(StatusView(status, events=0), console=console, refresh_per_second=4, transient=False) as live:
        while True:
            for event in status.events[seen:]:
                live.console.print(event_line(event))
            seen = len(status.events)
            live.update(StatusView(status, events=0))
            if status.phase in TERMINAL_PHASES:
                return status
            await asyncio.sleep(poll_interval)
            try:
                status = await fetch_status(handle, client)
            except (RPCError, StatusUnavailable) as exc:
                # A worker restart or a server blip: keep the last view and try again.
                if str(exc) != failing:
                    failing = str(exc)
                    with contextlib.suppress(Exception):
                        live.console.print(Text(f"status query failed, retrying: {exc}", style="dim"))
            else:
                failing = ""
