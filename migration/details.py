"""The workflow's "current details" for the Temporal Web UI: what the migration is doing, what it
waits for, and the exact commands that move it on.

Pure: the workflow renders its state with ``current_details`` and hands the text to
``workflow.set_current_details`` (which records no command, so it needs no patch). The Web UI shows
the text as Markdown on the workflow's page; ``temporal workflow describe`` and the
``__temporal_workflow_metadata`` query return it too.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timedelta

from meshshift.migration.constants import UPDATE_APPROVE, workflow_id
from meshshift.migration.contracts.edge import ShifterReading
from meshshift.migration.spec import MigrationSpec
from meshshift.migration.state import AuditEvent, AwaitingApproval, Countdown, MigrationState

# What each mechanism's shifter is called for people; an unknown (plug-in) mechanism shows its name.
MECHANISM_LABELS = {"alb": "ALB listener", "route53": "Route 53 record", "cloudfront": "CloudFront distribution"}
APPROVER_PLACEHOLDER = "<approver>"
COUNTDOWN_LABELS = {
    "bake": "bake",
    "approval": "approval timeout",
    "soak": "soak",
    "drain_poll": "next drain check",
    "drain_verify": "drain verification window",
}


def mechanism_label(mechanism: str) -> str:
    return MECHANISM_LABELS.get(mechanism, mechanism)


def when(moment: datetime) -> str:
    """UTC to the second, the way an on-call engineer reads it: ``2026-05-01 03:12:09 UTC``."""
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def span(duration: timedelta, sep: str = " ") -> str:
    """``1h 02m 03s`` (``sep`` between the parts); whole seconds, never negative (a due timer shows 0s)."""
    seconds = max(int(duration.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{sep}{minutes:02d}m{sep}{secs:02d}s"
    if minutes:
        return f"{minutes}m{sep}{secs:02d}s"
    return f"{secs}s"


def approve_commands(app: str, gate: AwaitingApproval, approver: str = APPROVER_PLACEHOLDER) -> list[str]:
    """The two ways to approve ``gate``: meshshift's CLI, and the ``temporal`` CLI's update."""
    payload = json.dumps({"approver": approver, "step": gate.step}, separators=(", ", ": "))
    return [
        f"meshshift approve {shlex.quote(app)} --step {gate.step} --as {approver}",
        f"temporal workflow update execute --workflow-id {shlex.quote(workflow_id(app))} "
        f"--name {UPDATE_APPROVE} --input {shlex.quote(payload)}",
    ]


def weight_line(reading: ShifterReading) -> str:
    promoted = " (promoted)" if reading.promoted else ""
    return (
        f"- {mechanism_label(reading.mechanism)} `{reading.shifter_id}`: {reading.green_percent:g}% green{promoted} "
        f"(blue {reading.blue:g} / green {reading.green:g}{'' if reading.in_sync else ', not in sync yet'})"
    )


def countdown_line(countdown: Countdown, paused: bool) -> str:
    label = COUNTDOWN_LABELS.get(countdown.purpose, countdown.purpose)
    if paused or countdown.ends_at is None:
        return f"**Countdown:** {label}, paused with {span(countdown.remaining)} left of {span(countdown.total)}"
    return (
        f"**Countdown:** {label} ends at {when(countdown.ends_at)} "
        f"({span(countdown.remaining)} left of {span(countdown.total)})"
    )


def last_refusal(events: list[AuditEvent]) -> AuditEvent | None:
    return next((e for e in reversed(events) if not e.accepted), None)


def current_details(state: MigrationState, spec: MigrationSpec | None) -> str:
    """The Markdown text the Web UI shows as the workflow's current details."""
    headline = f"**{state.app}**: phase **{state.phase.value}**, green {state.green_weight}%"
    if state.plan is not None and state.plan.steps:
        headline += f" (step {min(state.step_index + 1, len(state.plan.steps))} of {len(state.plan.steps)})"
    if state.paused:
        headline += ", **paused** (`meshshift resume` to continue)"
    lines = [headline]
    if state.weights:
        lines += ["", "**Weights per shifter** (last read back):"]
        lines += [weight_line(r) for _, r in sorted(state.weights.items())]
    gate = state.awaiting_approval
    if gate is not None:
        what = "the decommission of blue" if gate.gate.value == "decommission" else f"ramp step {gate.step}% green"
        lines += ["", f"**Waiting for approval** of {what} since {when(gate.since)}."]
        if spec is not None and spec.eligible_approvers():
            lines.append(f"Approvers: {', '.join(spec.eligible_approvers())}. Approve with either:")
        else:
            lines.append("Approve with either:")
        lines += [f"- `{command}`" for command in approve_commands(state.app, gate)]
    if state.countdown is not None:
        lines += ["", countdown_line(state.countdown, state.paused)]
    if state.rollback is not None:
        record = state.rollback
        done = f"finished {when(record.finished)}" if record.finished else "in progress"
        lines += ["", f"**Rollback** ({record.trigger.value} by {record.actor}, {done}): {record.reason}"]
    elif state.rollback_request is not None:
        request = state.rollback_request
        lines += ["", f"**Rollback requested** ({request.trigger.value} by {request.actor}): {request.reason}"]
    if state.error:
        lines += ["", f"**Error:** {state.error}"]
    refusal = last_refusal(state.events)
    if refusal is not None:
        lines += [
            "",
            f"**Last refusal:** {refusal.kind} from {refusal.actor} at {when(refusal.time)}: {refusal.reason}",
        ]
    return "\n".join(lines)
