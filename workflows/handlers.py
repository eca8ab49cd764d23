"""The workflow's messages: the signals, the updates with their validators, and the queries.

Every message is judged by the pure rules in migration/state.py; a refused one changes nothing and
is recorded in the audit trail."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from meshshift.migration import notifications
    from meshshift.migration.constants import (
        QUERY_PLAN_SERVICES,
        QUERY_STATUS,
        SIGNAL_ALARM,
        SIGNAL_APPROVE,
        SIGNAL_PAUSE,
        SIGNAL_REJECT,
        SIGNAL_RESUME,
        SIGNAL_ROLLBACK,
        UPDATE_APPROVE,
        UPDATE_PAUSE,
        UPDATE_REJECT,
        UPDATE_RESUME,
        UPDATE_ROLLBACK,
    )
    from meshshift.migration.state import (
        AlarmPayload,
        Approval,
        ApprovePayload,
        Command,
        CommandPayload,
        CommandResult,
        Decision,
        MigrationStatus,
        PausePayload,
        PlanServicesPage,
        PlanServicesRequest,
        RawMessage,
        RejectPayload,
        ResumePayload,
        RollbackInfo,
        RollbackPayload,
        RollbackTrigger,
        actor_of,
        claimed_actor,
        decide,
        parse_payload,
        plan_shown,
        rollback_message,
    )


from meshshift.workflows.base import (
    MigrationBase,
)


class MessageHandlers(MigrationBase):
    """Signals, updates and the status query."""

    def _receive(self, command: Command, raw: RawMessage | None, via: str) -> CommandResult:
        # A signal sent without input (e.g. `temporal workflow signal --name pause`) arrives as None.
        raw = raw if raw is not None else RawMessage(None)
        state = self._state
        spec = self._spec
        payload: CommandPayload | str = (
            parse_payload(command, raw.root) if spec is not None else "the migration's spec is invalid"
        )
        if isinstance(payload, str) or spec is None:
            actor = claimed_actor(raw.root)
            decision = Decision.refuse(payload if isinstance(payload, str) else "invalid spec")
        else:
            actor = actor_of(payload)
            decision = decide(state, spec, payload)
        self._audit(
            actor,
            command.value,
            f"{command.value} ({via}): {decision.reason}" if decision.accepted else f"{command.value} ({via}) refused",
            accepted=decision.accepted,
            reason=None if decision.accepted else decision.reason,
        )
        if decision.accepted and not isinstance(payload, str):
            self._apply(payload)
            self._show_details()  # the audit above showed the state before the message applied
        elif command is not Command.ALARM:
            # An alarm bridge forwards every OK transition too, and those are refused by design:
            # only refusals of people's messages are worth a notification.
            refused = state.events[-1]
            self._notify(lambda _: notifications.refusal(state, refused))
        return CommandResult(
            accepted=decision.accepted,
            reason=decision.reason,
            phase=state.phase,
            paused=state.paused,
            green_weight=state.green_weight,
            awaiting_approval=state.awaiting_approval,
        )

    def _apply(self, payload: CommandPayload) -> None:
        state = self._state
        match payload:
            case ApprovePayload(approver=approver, comment=comment):
                gate = state.awaiting_approval
                assert gate is not None  # decide_approve only accepts with a gate open
                approval = Approval(
                    gate=gate.gate, step=gate.step, approver=approver, comment=comment, time=workflow.now()
                )
                state.gate_approval = approval
                state.approvals.append(approval)
            case RejectPayload(approver=approver, reason=reason):
                self._request_rollback(RollbackTrigger.REJECT, approver, reason)
            case AlarmPayload(alarm_name=name, reason=reason):
                self._request_rollback(
                    RollbackTrigger.ALARM, actor_of(payload), f"alarm {name}" + (f": {reason}" if reason else "")
                )
            case RollbackPayload(requested_by=who, reason=reason):
                self._request_rollback(RollbackTrigger.MANUAL, who, reason)
            case PausePayload():
                state.paused = True
            case ResumePayload():
                state.paused = False

    def _answer(self, command: Command, raw: RawMessage) -> CommandResult:
        result = self._receive(command, raw, "update")
        if not result.accepted:
            # Raised after the refusal is audited, so the caller gets an immediate non-zero answer.
            raise ApplicationError(result.reason, result, type="Refused", non_retryable=True)
        return result

    def _check_not_ended(self, raw: RawMessage) -> None:
        # Only what cannot be audited anyway is rejected here: a rejected update leaves no history.
        if self._state.terminal:
            raise ApplicationError(
                f"the migration has already ended (phase {self._state.phase.value})", type="MigrationEnded"
            )

    @workflow.signal(name=SIGNAL_APPROVE)
    def approve(self, raw: RawMessage) -> None:
        self._receive(Command.APPROVE, raw, "signal")

    @workflow.signal(name=SIGNAL_REJECT)
    def reject(self, raw: RawMessage) -> None:
        self._receive(Command.REJECT, raw, "signal")

    @workflow.signal(name=SIGNAL_ALARM)
    def alarm(self, raw: RawMessage) -> None:
        self._receive(Command.ALARM, raw, "signal")

    @workflow.signal(name=SIGNAL_ROLLBACK)
    def rollback(self, raw: RawMessage) -> None:
        self._receive(Command.ROLLBACK, raw, "signal")

    @workflow.signal(name=SIGNAL_PAUSE)
    def pause(self, raw: RawMessage) -> None:
        self._receive(Command.PAUSE, raw, "signal")

    @workflow.signal(name=SIGNAL_RESUME)
    def resume(self, raw: RawMessage) -> None:
        self._receive(Command.RESUME, raw, "signal")

    @workflow.update(name=UPDATE_APPROVE)
    def approve_update(self, raw: RawMessage) -> CommandResult:
        return self._answer(Command.APPROVE, raw)

    @approve_update.validator
    def _validate_approve(self, raw: RawMessage) -> None:
        self._check_not_ended(raw)

    @workflow.update(name=UPDATE_REJECT)
    def reject_update(self, raw: RawMessage) -> CommandResult:
        return self._answer(Command.REJECT, raw)

    @reject_update.validator
    def _validate_reject(self, raw: RawMessage) -> None:
        self._check_not_ended(raw)

    @workflow.update(name=UPDATE_ROLLBACK)
    def rollback_update(self, raw: RawMessage) -> CommandResult:
        return self._answer(Command.ROLLBACK, raw)

    @rollback_update.validator
    def _validate_rollback(self, raw: RawMessage) -> None:
        self._check_not_ended(raw)

    @workflow.update(name=UPDATE_PAUSE)
    def pause_update(self, raw: RawMessage) -> CommandResult:
        return self._answer(Command.PAUSE, raw)

    @pause_update.validator
    def _validate_pause(self, raw: RawMessage) -> None:
        self._check_not_ended(raw)

    @workflow.update(name=UPDATE_RESUME)
    def resume_update(self, raw: RawMessage) -> CommandResult:
        return self._answer(Command.RESUME, raw)

    @resume_update.validator
    def _validate_resume(self, raw: RawMessage) -> None:
        self._check_not_ended(raw)

    @workflow.query(
        name=QUERY_PLAN_SERVICES,
        description='A page of the plan\'s green services: {"offset": 0, "limit": 100} (limit up to 500)',
    )
    def status_plan_services(self, raw: RawMessage | None = None) -> PlanServicesPage:
        # Raw, so that a wrong request is answered with what is wrong, not "Failed decoding arguments";
        # no argument (or null) is the first page.
        if self._parts_loading is not None:
            raise ApplicationError(
                f"{QUERY_PLAN_SERVICES}: the migration is reading its plan back after continue-as-new "
                f"({len(self._parts_loading.workflow_ids)} parts); ask again in a moment"
            )
        return PlanServicesPage.of(self._state.plan, PlanServicesRequest.parse(raw.root if raw is not None else None))

    @workflow.query(name=QUERY_STATUS)
    def status(self) -> MigrationStatus:
        state = self._state
        countdown = state.countdown
        return MigrationStatus(
            phase=state.phase,
            paused=state.paused,
            green_weight=state.green_weight,
            awaiting_approval=state.awaiting_approval,
            events=state.events,
            app=state.app,
            step_index=state.step_index,
            step_stage=state.step_stage,
            steps=[s.percent for s in state.plan.steps] if state.plan else [],
            plan=plan_shown(state.plan),
            **self._totals().model_dump(exclude={"provisioned_total"}),
            weights=state.weights,
            timings=state.timings,
            bake_ends_at=countdown.ends_at if countdown is not None and countdown.purpose == "bake" else None,
            countdown=countdown,
            rollback_possible=state.rollback_possible,
            rollback=RollbackInfo(
                possible=state.rollback_possible, message=rollback_message(state), record=state.rollback
            ),
            last_verdict=state.last_verdict,
            drain=state.drain,
            warnings=state.warnings,
            error=state.error,
            alarms=list(self._spec.alarms) if self._spec is not None else [],
            runs=state.runs,
        )
