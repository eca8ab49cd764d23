"""The message rules of migration/state.py, without Temporal."""

from __future__ import annotations

from datetime import UTC, datetime

from meshshift.migration.loading import validate_spec
from meshshift.migration.state import (
    AlarmPayload,
    ApprovePayload,
    AwaitingApproval,
    Command,
    MigrationState,
    PausePayload,
    Phase,
    RejectPayload,
    ResumePayload,
    RollbackPayload,
    RollbackRequest,
    RollbackTrigger,
    decide,
    parse_payload,
)
from tests.workflows.harness import make_spec

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = validate_spec(make_spec())


def at_gate(step: int = 5, **changes: object) -> MigrationState:
    return MigrationState(
        app="shop", phase=Phase.RAMPING, awaiting_approval=AwaitingApproval(step=step, since=NOW)
    ).model_copy(update=changes)


def test_approval_rules() -> None:
    assert decide(at_gate(), SPEC, ApprovePayload(approver="alice", step=5)).accepted
    assert decide(at_gate(), SPEC, ApprovePayload(approver="alice")).accepted
    refusals = {
        "not an approver": (at_gate(), ApprovePayload(approver="mallory")),
        "two-person rule": (at_gate(), ApprovePayload(approver="carol")),
        "past step": (at_gate(25), ApprovePayload(approver="alice", step=5)),
        "future step": (at_gate(5), ApprovePayload(approver="alice", step=25)),
        "no approval gate is open": (MigrationState(app="shop"), ApprovePayload(approver="alice", step=5)),
        "paused": (at_gate(paused=True), ApprovePayload(approver="alice")),
        "already ended": (at_gate(phase=Phase.COMPLETED), ApprovePayload(approver="alice")),
    }
    for reason, (state, message) in refusals.items():
        decision = decide(state, SPEC, message)
        assert not decision.accepted, reason
        assert reason in decision.reason, (reason, decision.reason)


def test_alarm_rules() -> None:
    state = at_gate()
    assert decide(state, SPEC, AlarmPayload(alarm_name="shop-green-5xx")).accepted
    assert not decide(state, SPEC, AlarmPayload(alarm_name="other")).accepted
    assert not decide(state, SPEC, AlarmPayload(alarm_name="shop-green-5xx", state="OK")).accepted


def test_nothing_rolls_back_once_decommission_started_or_twice() -> None:
    gone = at_gate(decommission_started=NOW, phase=Phase.DECOMMISSIONING)
    for message in (
        RollbackPayload(requested_by="dave", reason="x"),
        RejectPayload(approver="alice", reason="x"),
        AlarmPayload(alarm_name="shop-green-5xx"),
    ):
        decision = decide(gone, SPEC, message)
        assert not decision.accepted and "blue is gone" in decision.reason
    pending = at_gate(
        rollback_request=RollbackRequest(trigger=RollbackTrigger.ALARM, actor="x", reason="y", requested_at=NOW)
    )
    assert not decide(pending, SPEC, RollbackPayload(requested_by="dave", reason="x")).accepted


def test_pause_and_resume_rules() -> None:
    assert decide(at_gate(), SPEC, PausePayload(requested_by="anyone")).accepted
    assert not decide(at_gate(paused=True), SPEC, PausePayload(requested_by="anyone")).accepted
    assert not decide(at_gate(phase=Phase.ROLLING_BACK), SPEC, PausePayload(requested_by="anyone")).accepted
    assert decide(at_gate(paused=True), SPEC, ResumePayload(requested_by="carol")).accepted
    assert not decide(at_gate(paused=True), SPEC, ResumePayload(requested_by="anyone")).accepted
    assert not decide(at_gate(), SPEC, ResumePayload(requested_by="carol")).accepted


def test_malformed_payloads_are_explained() -> None:
    assert isinstance(parse_payload(Command.APPROVE, {"approver": "alice", "step": 5}), ApprovePayload)
    assert "expected a JSON object" in str(parse_payload(Command.APPROVE, ["alice"]))
    assert "extra" in str(parse_payload(Command.REJECT, {"approver": "a", "reason": "r", "extra": 1}))
    assert "reason" in str(parse_payload(Command.ROLLBACK, {"requested_by": "dave"}))
