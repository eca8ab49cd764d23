"""What a notification says, and where it goes: pure, so the workflow builds every message itself
(deterministically) and the activity only delivers it.

The text is Slack mrkdwn (``*bold*``, backticks for commands), which reads fine as plain text in an
SNS e-mail or any other chat tool. A webhook gets ``{"text": ...}``, the body a Slack incoming
webhook accepts (and most chat tools' "Slack-compatible" webhooks, e.g. Mattermost, Rocket.Chat).
"""

from __future__ import annotations

from typing import Any

from meshshift.migration.constants import workflow_id
from meshshift.migration.contracts.base import AwsContext
from meshshift.migration.contracts.notifications import (
    Notification,
    NotificationKind,
    NotificationTarget,
    NotifyInput,
    SnsTarget,
    WebhookTarget,
)
from meshshift.migration.details import approve_commands, when
from meshshift.migration.spec import MigrationSpec
from meshshift.migration.state import AuditEvent, AwaitingApproval, MigrationState, RollbackRecord

# SNS refuses a subject over 100 characters (or with a line break).
MAX_SUBJECT = 100


def targets(spec: MigrationSpec) -> list[NotificationTarget]:
    """Every target the spec names (none without ``notifications``)."""
    settings = spec.notifications
    if settings is None:
        return []
    out: list[NotificationTarget] = []
    if settings.sns_topic_arn is not None:
        out.append(SnsTarget(topic_arn=settings.sns_topic_arn))
    if settings.webhook is not None:
        out.append(WebhookTarget(url_env=settings.webhook.url_env, url_secret_arn=settings.webhook.url_secret_arn))
    return out


def _message(kind: NotificationKind, state: MigrationState, title: str, lines: list[str]) -> Notification:
    title = " ".join(f"meshshift {state.app}: {title}".split())
    if len(title) > MAX_SUBJECT:
        title = title[: MAX_SUBJECT - 1] + "…"
    footer = f"workflow `{workflow_id(state.app)}`, phase {state.phase.value}, green {state.green_weight}%"
    return Notification(
        kind=kind,
        app=state.app,
        workflow_id=workflow_id(state.app),
        title=title,
        text="\n".join([f"*{title}*", *lines, footer]),
    )


def gate_opened(state: MigrationState, spec: MigrationSpec, gate: AwaitingApproval) -> Notification:
    what = "decommission of blue" if gate.gate.value == "decommission" else f"step {gate.step}% green"
    approvers = spec.eligible_approvers()
    lines = [
        f"Waiting for approval of the {what} since {when(gate.since)}."
        + (f" Approvers: {', '.join(approvers)}." if approvers else ""),
        "Approve with:",
        *(f"`{command}`" for command in approve_commands(state.app, gate)),
    ]
    if state.countdown is not None and state.countdown.purpose == "approval" and state.countdown.ends_at is not None:
        action = "roll back" if spec.ramp.on_approval_timeout.value == "rollback" else "pause"
        lines.append(f"Without an approval by {when(state.countdown.ends_at)} the migration will {action}.")
    return _message(NotificationKind.GATE_OPENED, state, f"approval needed for the {what}", lines)


def refusal(state: MigrationState, event: AuditEvent) -> Notification:
    return _message(
        NotificationKind.REFUSAL,
        state,
        f"{event.kind} from {event.actor} refused",
        [f"{event.detail} at {when(event.time)}: {event.reason}"],
    )


def rollback_started(state: MigrationState, record: RollbackRecord) -> Notification:
    return _message(
        NotificationKind.ROLLBACK_STARTED,
        state,
        f"rolling back ({record.trigger.value})",
        [f"Requested by {record.actor} at {when(record.requested_at)}: {record.reason}"],
    )


def rollback_ended(state: MigrationState, record: RollbackRecord) -> Notification:
    if record.error is not None:
        title, lines = "rollback FAILED", [state.error or record.error]
    else:
        title = "rolled back"
        duration = f" in {record.duration_seconds:g}s" if record.duration_seconds is not None else ""
        lines = [f"Blue has all traffic again{duration}: {', '.join(record.reversed) or 'nothing to reverse'}."]
    return _message(NotificationKind.ROLLBACK_ENDED, state, title, [*lines, f"Trigger: {record.reason}"])


def phase_failed(state: MigrationState, failed_phase: str, reason: str) -> Notification:
    return _message(NotificationKind.PHASE_FAILED, state, f"failed during {failed_phase}", [reason])


def completed(state: MigrationState) -> Notification:
    took = ""
    if state.timings:
        first, last = state.timings[0], state.timings[-1]
        took = f" in {(last.ended or last.started) - first.started}"
    return _message(
        NotificationKind.COMPLETED,
        state,
        "migration completed",
        [f"Green (ECS Service Connect) has all traffic and blue is decommissioned{took}."],
    )


def notify_inputs(spec: MigrationSpec, notification: Notification) -> list[NotifyInput]:
    """One activity input per target."""
    aws = AwsContext(region=spec.region, rate_limits=spec.rate_limits)
    return [NotifyInput(aws=aws, target=target, notification=notification) for target in targets(spec)]


def webhook_body(notification: Notification) -> dict[str, Any]:
    """The JSON a Slack incoming webhook accepts."""
    return {"text": notification.text}


def sns_subject(notification: Notification) -> str:
    return notification.title[:MAX_SUBJECT]
