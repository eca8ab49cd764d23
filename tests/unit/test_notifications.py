"""The spec's ``notifications`` section and the messages the workflow builds (migration/notifications.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from meshshift.migration.contracts import NotificationKind, SnsTarget, WebhookTarget
from meshshift.migration.errors import SpecError
from meshshift.migration.loading import validate_spec
from meshshift.migration.notifications import (
    MAX_SUBJECT,
    completed,
    gate_opened,
    notify_inputs,
    phase_failed,
    refusal,
    rollback_ended,
    rollback_started,
    targets,
    webhook_body,
)
from meshshift.migration.spec import MigrationSpec
from meshshift.migration.state import (
    AuditEvent,
    AwaitingApproval,
    Countdown,
    GateKind,
    MigrationState,
    Phase,
    PhaseTiming,
    RollbackRecord,
    RollbackTrigger,
)
from tests.unit.specdata import shop

T0 = datetime(2026, 5, 1, 3, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:us-east-1:123456789012:shop-migrations"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/webhook-AbCdEf"


def spec_with(notifications: Any) -> MigrationSpec:
    data = shop()
    data["notifications"] = notifications
    return validate_spec(data)


def problems(notifications: Any) -> str:
    with pytest.raises(SpecError) as caught:
        spec_with(notifications)
    return str(caught.value)


def test_targets_are_the_topic_and_the_webhook_reference() -> None:
    spec = spec_with({"sns_topic_arn": TOPIC, "webhook": {"url_secret_arn": SECRET}})
    assert targets(spec) == [SnsTarget(topic_arn=TOPIC), WebhookTarget(url_secret_arn=SECRET)]
    assert targets(validate_spec(shop())) == []
    inputs = notify_inputs(spec, completed(MigrationState(app="shop")))
    assert [i.target.type for i in inputs] == ["sns", "webhook"]
    assert all(i.aws.region == spec.region for i in inputs)


@pytest.mark.parametrize(
    ("notifications", "expected"),
    [
        ({}, "notifications: expected sns_topic_arn, webhook or both, got neither"),
        ({"webhook": {}}, "notifications.webhook: expected exactly one of url_env or url_secret_arn"),
        (
            {"webhook": {"url_env": "MESHSHIFT_WEBHOOK_A", "url_secret_arn": SECRET}},
            "exactly one of url_env or url_secret_arn (the URL itself is never in a spec), got both",
        ),
        (
            {"webhook": {"url_env": "AWS_SECRET_ACCESS_KEY"}},
            "notifications.webhook.url_env: expected an environment variable name starting with MESHSHIFT_WEBHOOK_",
        ),
        ({"webhook": {"url": "https://hooks.slack.com/services/x"}}, "notifications.webhook.url"),
        ({"sns_topic_arn": "shop-migrations"}, "notifications.sns_topic_arn: expected an SNS topic ARN"),
        ({"webhook": {"url_secret_arn": "shop/webhook"}}, "expected a Secrets Manager secret ARN"),
    ],
)
def test_a_wrong_notifications_section_says_what_to_fix(notifications: Any, expected: str) -> None:
    assert expected in problems(notifications)


def test_a_gate_message_carries_the_approve_commands_and_the_deadline() -> None:
    spec = spec_with({"sns_topic_arn": TOPIC})
    state = MigrationState(app="shop", phase=Phase.RAMPING, green_weight=5)
    gate = AwaitingApproval(step=25, since=T0, gate=GateKind.RAMP)
    state.awaiting_approval = gate
    state.countdown = Countdown.starting("approval", timedelta(hours=24), T0)
    message = gate_opened(state, spec, gate)
    assert message.kind is NotificationKind.GATE_OPENED and message.workflow_id == "mesh-migration-shop"
    assert message.title == "meshshift shop: approval needed for the step 25% green"
    assert "Approvers: alice, bob." in message.text
    assert "`meshshift approve shop --step 25 --as <approver>`" in message.text
    assert '--name approve_update --input \'{"approver": "<approver>", "step": 25}\'`' in message.text
    assert "Without an approval by 2026-05-02 03:00:00 UTC the migration will roll back." in message.text
    assert message.text.endswith("workflow `mesh-migration-shop`, phase ramping, green 5%")
    assert webhook_body(message) == {"text": message.text}


def test_rollback_refusal_failure_and_completion_messages() -> None:
    state = MigrationState(app="shop", phase=Phase.ROLLING_BACK, green_weight=25)
    record = RollbackRecord(
        trigger=RollbackTrigger.ALARM,
        actor="meshshift:alarm-poll",
        reason="alarm shop-green-5xx is in ALARM",
        requested_at=T0,
        started=T0,
    )
    started = rollback_started(state, record)
    assert started.title == "meshshift shop: rolling back (alarm)"
    assert "Requested by meshshift:alarm-poll at 2026-05-01 03:00:00 UTC: alarm shop-green-5xx" in started.text

    record.reversed = ["every shifter at 100% blue (verified)"]
    record.duration_seconds = 42
    ended = rollback_ended(state, record)
    assert ended.title == "meshshift shop: rolled back"
    assert "Blue has all traffic again in 42s: every shifter at 100% blue (verified)." in ended.text
    record.error = "activity set_edge_weights failed: AccessDenied"
    state.error = "rollback failed: activity set_edge_weights failed: AccessDenied. Set every shifter by hand."
    assert rollback_ended(state, record).title == "meshshift shop: rollback FAILED"
    assert "Set every shifter by hand" in rollback_ended(state, record).text

    event = AuditEvent(
        time=T0,
        actor="mallory",
        kind="approve",
        detail="approve (update) refused",
        accepted=False,
        reason="'mallory' is not an approver",
    )
    assert refusal(state, event).title == "meshshift shop: approve from mallory refused"
    assert "'mallory' is not an approver" in refusal(state, event).text
    failed = phase_failed(state, "validating", "green target groups are not healthy")
    assert failed.title == "meshshift shop: failed during validating"

    state.timings = [
        PhaseTiming(phase=Phase.PLANNING, started=T0, ended=T0 + timedelta(hours=1)),
        PhaseTiming(phase=Phase.COMPLETED, started=T0 + timedelta(days=2), ended=T0 + timedelta(days=2)),
    ]
    assert "in 2 days, 0:00:00" in completed(state).text


def test_a_subject_is_one_short_line() -> None:
    state = MigrationState(app="shop")
    event = AuditEvent(time=T0, actor="x" * 200, kind="approve", detail="d", accepted=False, reason="r")
    title = refusal(state, event).title
    assert len(title) == MAX_SUBJECT and "\n" not in title
