"""The migration's state, its message payloads, and the rules that decide who may do what.

Everything here is pure: the workflow keeps ONE ``MigrationState`` (carried across
continue-as-new), validates every signal/update payload into the typed models below, and asks
the ``decide_*`` functions whether a message is accepted. A refused message changes nothing but
the audit trail, so the rules can be tested exhaustively without Temporal.

Rule choices (documented in docs and status):

- Approvals come only from ``spec.approvers``; with the two-person rule on, never from
  ``spec.requested_by``. An approval applies only to the gate that is open now: ``step`` null
  means "the open gate"; any other step is refused (never queued to skip a future gate).
  Approvals are refused while the migration is paused: resume first, then approve.
- ``reject`` is an approver's action (same allow-list, the requester may reject).
- ``rollback`` and ``pause`` are safety actions: anyone named may ask, and it is audited.
  ``resume`` advances the migration, so it needs an approver or the requester.
- An ``alarm`` is acted on only for alarms the spec lists and only in state ``ALARM``.
- Nothing rolls back once decommission has started: blue is gone.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, RootModel, ValidationError

from meshshift.migration.constants import QUERY_PLAN_SERVICES
from meshshift.migration.contracts import (
    AnalysisVerdict,
    DeletionResult,
    GreenServicePlan,
    MetricsSnapshot,
    MigrationPlan,
    NamespaceResult,
    ProvisionedService,
    ShifterReading,
    TrafficFigures,
)
from meshshift.migration.spec import MigrationSpec

# --- phases -------------------------------------------------------------------------------------


class Phase(StrEnum):
    """The contract's phases (brief section 4). Renaming one breaks users' scripts."""

    PLANNING = "planning"
    PROVISIONING = "provisioning"
    VALIDATING = "validating"
    RAMPING = "ramping"
    DRAINING = "draining"
    FLIPPING_WORKERS = "flipping_workers"
    SOAKING = "soaking"
    DECOMMISSIONING = "decommissioning"
    COMPLETED = "completed"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


# The forward lifecycle, in order; a resumed run skips the phases before its own.
LIFECYCLE: tuple[Phase, ...] = (
    Phase.PLANNING,
    Phase.PROVISIONING,
    Phase.VALIDATING,
    Phase.RAMPING,
    Phase.DRAINING,
    Phase.FLIPPING_WORKERS,
    Phase.SOAKING,
    Phase.DECOMMISSIONING,
    Phase.COMPLETED,
)
TERMINAL_PHASES = frozenset({Phase.COMPLETED, Phase.ROLLED_BACK, Phase.FAILED})


def lifecycle_index(phase: Phase) -> int:
    return LIFECYCLE.index(phase) if phase in LIFECYCLE else len(LIFECYCLE)


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- message payloads (the contract's JSON) -----------------------------------------------------


class ApprovePayload(Model):
    approver: str = Field(min_length=1)
    step: int | None = Field(default=None, description="Green percent being approved; null = the gate now open")
    comment: str | None = None


class RejectPayload(Model):
    approver: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class AlarmPayload(Model):
    alarm_name: str = Field(min_length=1)
    state: str = "ALARM"
    reason: str | None = None
    source: str | None = None


class RollbackPayload(Model):
    requested_by: str = Field(min_length=1)
    reason: str = Field(min_length=1)


class PausePayload(Model):
    requested_by: str = Field(min_length=1)
    reason: str | None = None


class ResumePayload(Model):
    requested_by: str = Field(min_length=1)


CommandPayload = ApprovePayload | RejectPayload | AlarmPayload | RollbackPayload | PausePayload | ResumePayload


class Command(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    ALARM = "alarm"
    ROLLBACK = "rollback"
    PAUSE = "pause"
    RESUME = "resume"


PAYLOAD_MODELS: dict[Command, type[CommandPayload]] = {
    Command.APPROVE: ApprovePayload,
    Command.REJECT: RejectPayload,
    Command.ALARM: AlarmPayload,
    Command.ROLLBACK: RollbackPayload,
    Command.PAUSE: PausePayload,
    Command.RESUME: ResumePayload,
}


class RawMessage(RootModel[JsonValue]):
    """A signal/update argument as it arrived: any JSON.

    Handlers take this rather than the typed payload so that a malformed payload still reaches
    the handler and its refusal is audited (the SDK drops a signal whose argument fails to decode).
    """


# --- state --------------------------------------------------------------------------------------


class GateKind(StrEnum):
    RAMP = "ramp"
    DECOMMISSION = "decommission"


class AwaitingApproval(Model):
    step: int = Field(description="Green percent the approval will apply (100 for the decommission gate)")
    since: datetime
    gate: GateKind = GateKind.RAMP


class CommandResult(Model):
    """The answer to an update: accepted or not, why, and where the migration stands."""

    accepted: bool
    reason: str
    phase: Phase
    paused: bool
    green_weight: int
    awaiting_approval: AwaitingApproval | None = None


class AuditEvent(Model):
    time: datetime
    actor: str
    kind: str
    detail: str
    accepted: bool = True
    reason: str | None = Field(default=None, description="Why a message was refused")


class Approval(Model):
    gate: GateKind
    step: int
    approver: str
    comment: str | None = None
    time: datetime


class RollbackTrigger(StrEnum):
    ALARM = "alarm"
    REJECT = "reject"
    ANALYSIS = "analysis"
    MANUAL = "rollback"
    APPROVAL_TIMEOUT = "approval_timeout"
    DRAIN_TIMEOUT = "drain_timeout"
    ERROR = "error"
    CANCELLED = "cancelled"


class RollbackRequest(Model):
    trigger: RollbackTrigger
    actor: str
    reason: str
    requested_at: datetime


class RollbackRecord(Model):
    trigger: RollbackTrigger
    actor: str
    reason: str
    requested_at: datetime
    started: datetime
    finished: datetime | None = None
    duration_seconds: float | None = None
    reversed: list[str] = Field(default_factory=list, description="What was reversed, in order")
    green_deleted: bool = False
    error: str | None = None


class PhaseTiming(Model):
    phase: Phase
    started: datetime
    ended: datetime | None = None


class StepStage(StrEnum):
    """Where a ramp step is: its gate, the weight change, or its bake."""

    GATE = "gate"
    SHIFT = "shift"
    BAKE = "bake"


CountdownPurpose = Literal["bake", "approval", "soak", "drain_poll", "drain_verify"]


class Countdown(Model):
    """A durable timer that only runs while the migration is not paused.

    ``remaining`` and ``ends_at`` are refreshed at every wake-up, so a continue-as-new resumes it
    exactly.
    """

    purpose: CountdownPurpose
    total: timedelta
    remaining: timedelta
    ends_at: datetime | None = Field(default=None, description="When it ends if not paused (None while paused)")

    @classmethod
    def starting(cls, purpose: CountdownPurpose, duration: timedelta, now: datetime) -> Countdown:
        """A countdown of ``duration`` (at least zero) that starts ``now``."""
        duration = max(duration, timedelta(0))
        return cls(purpose=purpose, total=duration, remaining=duration, ends_at=now + duration)

    def refresh(self, now: datetime, paused: bool) -> None:
        """Bring ``remaining`` up to ``now``: while running, ``ends_at`` is the truth, so the time
        spent in polls between timers counts too; a pause freezes ``remaining``, a resume sets a
        new ``ends_at``."""
        if self.ends_at is not None:
            self.remaining = max(self.ends_at - now, timedelta(0))
        self.ends_at = None if paused else now + self.remaining


class WorkerFlip(Model):
    """One async worker handover. The flags record intent (set before the call) for compensation."""

    blue_service: str
    green_service: str
    blue_cluster: str
    green_cluster: str
    blue_original_count: int
    green_desired_count: int
    green_scaled_up: bool = False
    blue_scaled_down: bool = False


class DrainRecord(Model):
    started: datetime
    polls: int = 0
    last_blue: TrafficFigures | None = None
    idle_at: datetime | None = None
    ended_by: Literal["idle", "stickiness_horizon", "no_metrics", "timeout"] | None = None
    verified_zero: bool | None = None
    verify_blue: TrafficFigures | None = None


class RunOptions(Model):
    """Operational knobs that are not part of the spec (the spec is the app's contract).

    ``continue_as_new_at_history_length`` makes the workflow continue-as-new at a history length
    of its choosing besides the server's suggestion: tests use it, and operators may too.
    ``activity_heartbeat_timeout``: the chaos tests shorten it to recover from kills in seconds.
    """

    continue_as_new_at_history_length: int | None = Field(default=None, ge=20)
    activity_heartbeat_timeout: timedelta | None = Field(
        default=None,
        ge=timedelta(seconds=1),
        description="Overrides every activity's heartbeat timeout (30 s): how soon the work of a "
        "dead worker is retried elsewhere",
    )
    state_part_bytes: int | None = Field(
        default=None,
        ge=1024,
        description="A continue-as-new state whose per-service fields compress to more than this goes in "
        "parts held by child workflows (default 192 KiB; tests make it small)",
    )


class MigrationState(Model):
    app: str
    phase: Phase = Phase.PLANNING
    paused: bool = False
    green_weight: int = Field(default=0, description="Percent last applied AND verified")
    step_index: int = 0
    step_stage: StepStage = StepStage.GATE
    awaiting_approval: AwaitingApproval | None = None
    gate_approval: Approval | None = Field(default=None, description="Accepted approval not yet consumed by its gate")
    approvals: list[Approval] = Field(default_factory=list)
    events: list[AuditEvent] = Field(default_factory=list)
    plan: MigrationPlan | None = None
    discovery_warnings: list[str] = Field(default_factory=list)
    blue_worker_counts: dict[str, int] = Field(default_factory=dict)
    blue_task_definition_arns: list[str] = Field(default_factory=list)
    namespace: NamespaceResult | None = None
    provisioned: list[ProvisionedService] = Field(default_factory=list)
    edge_touched: bool = Field(default=False, description="An edge weight write was attempted")
    weights: dict[str, ShifterReading] = Field(default_factory=dict, description="Last reading per shifter")
    weights_changed_at: datetime | None = None
    timings: list[PhaseTiming] = Field(default_factory=list)
    countdown: Countdown | None = None
    next_alarm_poll_at: datetime | None = None
    next_analysis_at: datetime | None = None
    baseline: MetricsSnapshot | None = None
    last_verdict: AnalysisVerdict | None = None
    drain: DrainRecord | None = None
    soak_completed: bool = False
    worker_flips: list[WorkerFlip] = Field(default_factory=list)
    rollback_request: RollbackRequest | None = None
    rollback: RollbackRecord | None = None
    decommission_started: datetime | None = None
    decommissioned: list[DeletionResult] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    registered_search_attributes: list[str] | None = None
    runs: int = Field(default=1, description="Workflow runs so far (continue-as-new increments it)")

    @property
    def terminal(self) -> bool:
        return self.phase in TERMINAL_PHASES

    @property
    def rollback_possible(self) -> bool:
        return not self.terminal and self.decommission_started is None and self.phase is not Phase.ROLLING_BACK


# --- status and report --------------------------------------------------------------------------


class RollbackInfo(Model):
    possible: bool
    message: str
    record: RollbackRecord | None = None


# --- per-service detail, bounded ------------------------------------------------------------------

# Green services (and async workers) of the plan that the status query and the report carry. A query
# answer over 4 MB fails (gRPC) and a result over 2 MB fails the workflow: at 5,000 services the plan
# alone is about 5 MB. The status_plan_services query pages through all of them.
PLAN_SERVICES_SHOWN = 100
PLAN_SERVICES_PAGE_MAX = 500


def plan_services(plan: MigrationPlan | None) -> list[GreenServicePlan]:
    """The plan's green services, then its async workers."""
    return [*plan.services, *plan.async_workers] if plan is not None else []


def plan_shown(plan: MigrationPlan | None) -> MigrationPlan | None:
    """``plan`` with its first ``PLAN_SERVICES_SHOWN`` green services and async workers, and its
    first ``PLAN_SERVICES_SHOWN`` App Mesh resources (a mesh has about two per service)."""
    if plan is None or (
        len(plan_services(plan)) <= PLAN_SERVICES_SHOWN and len(plan.appmesh_resources) <= PLAN_SERVICES_SHOWN
    ):
        return plan
    services = plan.services[:PLAN_SERVICES_SHOWN]
    workers = plan.async_workers[: PLAN_SERVICES_SHOWN - len(services)]
    return plan.model_copy(
        update={
            "services": services,
            "async_workers": workers,
            "appmesh_resources": plan.appmesh_resources[:PLAN_SERVICES_SHOWN],
        }
    )


class PlanServicesRequest(Model):
    """The ``status_plan_services`` query's argument: a page of the plan's green services, then async workers."""

    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=PLAN_SERVICES_SHOWN, ge=1, le=PLAN_SERVICES_PAGE_MAX)

    @classmethod
    def parse(cls, raw: JsonValue) -> PlanServicesRequest:
        """The request, or a ValueError that names each wrong field and what arrived."""
        try:
            return cls.model_validate({} if raw is None else raw)
        except ValidationError as err:
            raise ValueError(
                f"{QUERY_PLAN_SERVICES}: {problems_of(err)} (got {json.dumps(raw)}); send "
                f'{{"offset": <0 or more>, "limit": <1 to {PLAN_SERVICES_PAGE_MAX}>}}'
            ) from None


class PlanServicesPage(Model):
    offset: int
    total: int = Field(description="Green services and async workers in the plan")
    services: list[GreenServicePlan] = Field(default_factory=list)

    @classmethod
    def of(cls, plan: MigrationPlan | None, request: PlanServicesRequest) -> PlanServicesPage:
        every = plan_services(plan)
        return cls(
            offset=request.offset,
            total=len(every),
            services=every[request.offset : request.offset + request.limit],
        )


class MigrationStatus(Model):
    """The ``status`` query: the contract's fields first, then the detail."""

    phase: Phase
    paused: bool
    green_weight: int
    awaiting_approval: AwaitingApproval | None
    events: list[AuditEvent]
    app: str
    step_index: int
    step_stage: StepStage
    steps: list[int] = Field(default_factory=list)
    plan: MigrationPlan | None = Field(
        default=None,
        description=f"The plan, with its first {PLAN_SERVICES_SHOWN} green services and async workers "
        f"(the status_plan_services query pages through all of them) and its first {PLAN_SERVICES_SHOWN} App Mesh "
        "resources",
    )
    plan_services_total: int = Field(default=0, description="Green services and async workers in the plan")
    plan_appmesh_resources_total: int = Field(default=0, description="App Mesh resources in the plan")
    weights: dict[str, ShifterReading] = Field(default_factory=dict)
    timings: list[PhaseTiming] = Field(default_factory=list)
    bake_ends_at: datetime | None = None
    countdown: Countdown | None = None
    rollback_possible: bool
    rollback: RollbackInfo
    last_verdict: AnalysisVerdict | None = None
    drain: DrainRecord | None = None
    warnings: list[str] = Field(default_factory=list)
    error: str | None = None
    runs: int = Field(default=1, description="Workflow runs so far (continue-as-new starts a new one)")
    alarms: list[str] = Field(default_factory=list, description="The spec's alarms (the alarm bridge routes by them)")


Outcome = Literal["completed", "rolled_back", "dry_run"]


class MigrationReport(Model):
    """The workflow's result. A rollback is a successful outcome of the workflow (it did its job)."""

    app: str
    outcome: Outcome
    phase: Phase
    green_weight: int
    plan: MigrationPlan | None = Field(
        description=f"The plan, with its first {PLAN_SERVICES_SHOWN} green services and async workers, and its "
        f"first {PLAN_SERVICES_SHOWN} App Mesh resources"
    )
    plan_services_total: int = 0
    plan_appmesh_resources_total: int = 0
    provisioned: list[ProvisionedService] = Field(
        default_factory=list, description=f"The first {PLAN_SERVICES_SHOWN} green services provisioned"
    )
    provisioned_total: int = 0
    weights: dict[str, ShifterReading] = Field(default_factory=dict)
    approvals: list[Approval] = Field(default_factory=list)
    rollback: RollbackRecord | None = None
    drain: DrainRecord | None = None
    decommissioned: list[DeletionResult] = Field(default_factory=list)
    timings: list[PhaseTiming] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    events: list[AuditEvent] = Field(default_factory=list)


# --- the workflow's input -----------------------------------------------------------------------


# A continue-as-new state larger than this (as JSON) is carried compressed.
RESUME_COMPRESS_OVER = 64 * 1024


class StateTotals(Model):
    """The counts the status query and the report give beside the first ``PLAN_SERVICES_SHOWN``."""

    plan_services_total: int = Field(ge=0)
    plan_appmesh_resources_total: int = Field(ge=0)
    provisioned_total: int = Field(ge=0)

    @classmethod
    def of(cls, state: MigrationState) -> StateTotals:
        return cls(
            plan_services_total=len(plan_services(state.plan)),
            plan_appmesh_resources_total=len(state.plan.appmesh_resources) if state.plan is not None else 0,
            provisioned_total=len(state.provisioned),
        )


class ResumeParts(Model):
    """Where the continue-as-new state's per-service fields wait for the next run
    (migration/state_parts.py): the child workflows that hold them, in order, and the digest of the
    whole."""

    workflow_ids: list[str] = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    # What the status query reports while the next run reads the parts back (its head holds only
    # the first PLAN_SERVICES_SHOWN of each list).
    totals: StateTotals


class MigrationInput(RootModel[JsonValue]):
    """The workflow's one argument: the spec itself as a JSON object (so ``temporal workflow start
    --input-file spec.json`` works), or, on continue-as-new, ``{"spec": ..., "resume": ...}``, where
    ``resume`` is the state as JSON, or, when that is large, a string: its compressed JSON. When
    even that is too large, ``resume`` is the head of the state and ``"resume_parts"`` says where
    the rest waits (``ResumeParts``, migration/state_parts.py).

    ``spec`` and ``resume`` are not spec fields, so the two shapes cannot be confused. Any JSON
    decodes (a list or a string too), so that the workflow itself refuses a wrong input with
    InvalidSpec instead of failing to decode it and retrying the workflow task forever.
    """

    @property
    def body(self) -> dict[str, JsonValue]:
        return self.root if isinstance(self.root, dict) else {}

    @property
    def is_envelope(self) -> bool:
        return isinstance(self.body.get("spec"), dict)

    @property
    def spec_json(self) -> JsonValue:
        spec = self.body.get("spec")
        if self.is_envelope and isinstance(spec, dict):
            return spec
        return self.root

    @property
    def resume_json(self) -> JsonValue:
        resume = self.body.get("resume") if self.is_envelope else None
        if not isinstance(resume, str):
            return resume
        try:
            decoded: JsonValue = json.loads(zlib.decompress(base64.b64decode(resume, validate=True)))
        except (binascii.Error, zlib.error, ValueError) as err:
            raise ValueError(f"resume: expected the compressed state (base64 of zlib JSON), got {err}") from err
        return decoded

    @property
    def options_json(self) -> JsonValue:
        return self.body.get("options") if self.is_envelope else None

    @property
    def resume_parts(self) -> ResumeParts | None:
        """Raises ValueError, naming the field, when the parts' reference is malformed."""
        parts = self.body.get("resume_parts") if self.is_envelope else None
        if parts is None:
            return None
        try:
            return ResumeParts.model_validate(parts)
        except ValidationError as err:
            raise ValueError(f"resume_parts: {problems_of(err)}") from err

    @classmethod
    def envelope(
        cls,
        spec: dict[str, JsonValue],
        resume: MigrationState | None = None,
        options: RunOptions | None = None,
        parts: ResumeParts | None = None,
    ) -> MigrationInput:
        """``parts``: where ``resume``'s per-service fields are, when it goes without them."""
        body: dict[str, JsonValue] = {"spec": spec}
        if parts is not None:
            body["resume_parts"] = parts.model_dump(mode="json")
        if resume is not None:
            state = resume.model_dump(mode="json")
            text = json.dumps(state, separators=(",", ":"))
            # Compressed when large: a plan of 5,000 services is about 5 MB of JSON, over the 2 MB
            # a payload may have, and alike services compress about 20 times.
            compress = len(text) > RESUME_COMPRESS_OVER
            body["resume"] = base64.b64encode(zlib.compress(text.encode(), 6)).decode() if compress else state
        if options is not None:
            body["options"] = options.model_dump(mode="json", exclude_none=True)
        return cls(body)


# --- rules --------------------------------------------------------------------------------------


class Decision(Model):
    accepted: bool
    reason: str

    @classmethod
    def accept(cls, reason: str) -> Decision:
        return cls(accepted=True, reason=reason)

    @classmethod
    def refuse(cls, reason: str) -> Decision:
        return cls(accepted=False, reason=reason)


def parse_payload(command: Command, raw: JsonValue) -> CommandPayload | str:
    """The typed payload, or a one-line reason why it is malformed."""
    model = PAYLOAD_MODELS[command]
    if not isinstance(raw, dict):
        return f"malformed {command.value} payload: expected a JSON object, got {type(raw).__name__}"
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        return f"malformed {command.value} payload: {problems_of(err)}"


def problems_of(err: ValidationError) -> str:
    """``field: what was expected`` for each problem, on one line."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}" for e in err.errors(include_url=False)
    )


def claimed_actor(raw: JsonValue) -> str:
    """Who a (possibly malformed) message says it is from, for the audit trail."""
    if isinstance(raw, dict):
        for key in ("approver", "requested_by", "source", "alarm_name"):
            value = raw.get(key)
            if isinstance(value, str) and value:
                return value
    return "unknown"


def _ended(state: MigrationState) -> str | None:
    if state.terminal:
        return f"the migration has already ended (phase {state.phase.value})"
    return None


def _rollback_blocked(state: MigrationState) -> str | None:
    if ended := _ended(state):
        return ended
    if state.decommission_started is not None:
        return "decommission has started: blue is gone and a rollback is no longer possible"
    if state.phase is Phase.ROLLING_BACK or state.rollback is not None:
        return "a rollback is already in progress"
    if state.rollback_request is not None:
        return f"a rollback was already requested by {state.rollback_request.actor}"
    return None


def _not_an_approver(spec: MigrationSpec, who: str) -> str | None:
    if not spec.approvers:
        return f"{who!r} is not an approver: the spec lists no approvers"
    if who not in spec.approvers:
        return f"{who!r} is not an approver; approvers are: {', '.join(spec.approvers)}"
    return None


def decide_approve(state: MigrationState, spec: MigrationSpec, msg: ApprovePayload) -> Decision:
    if ended := _ended(state):
        return Decision.refuse(ended)
    if spec.two_person_rule and msg.approver == spec.requested_by:
        return Decision.refuse(
            f"{msg.approver!r} requested this migration and cannot approve it (two-person rule); ask another approver"
        )
    if refusal := _not_an_approver(spec, msg.approver):
        return Decision.refuse(refusal)
    gate = state.awaiting_approval
    if gate is None:
        asked = f" for step {msg.step}" if msg.step is not None else ""
        return Decision.refuse(f"no approval gate is open{asked}; approvals are never queued for a later gate")
    if msg.step is not None and msg.step != gate.step:
        when = "a past" if msg.step < gate.step else "a future"
        return Decision.refuse(
            f"step {msg.step} is {when} step: the open gate is for step {gate.step} ({gate.gate.value}); "
            "approve that step or send step null"
        )
    if state.gate_approval is not None:
        return Decision.refuse(f"the gate for step {gate.step} was already approved by {state.gate_approval.approver}")
    if state.rollback_request is not None or state.phase is Phase.ROLLING_BACK:
        return Decision.refuse("a rollback is in progress")
    if state.paused:
        return Decision.refuse("the migration is paused; send resume first, then approve")
    return Decision.accept(f"approved step {gate.step} ({gate.gate.value} gate)")


def decide_reject(state: MigrationState, spec: MigrationSpec, msg: RejectPayload) -> Decision:
    if refusal := _not_an_approver(spec, msg.approver):
        return Decision.refuse(refusal)
    if blocked := _rollback_blocked(state):
        return Decision.refuse(blocked)
    return Decision.accept(f"rejected by {msg.approver}: rolling back")


def decide_alarm(state: MigrationState, spec: MigrationSpec, msg: AlarmPayload) -> Decision:
    if msg.alarm_name not in spec.alarms:
        watched = ", ".join(spec.alarms) if spec.alarms else "none"
        return Decision.refuse(f"alarm {msg.alarm_name!r} is not one of the spec's alarms ({watched})")
    if msg.state != "ALARM":
        return Decision.refuse(f"alarm {msg.alarm_name!r} is in state {msg.state!r}; only ALARM triggers a rollback")
    if blocked := _rollback_blocked(state):
        return Decision.refuse(blocked)
    return Decision.accept(f"alarm {msg.alarm_name} is firing: rolling back")


def decide_rollback(state: MigrationState, spec: MigrationSpec, msg: RollbackPayload) -> Decision:
    if blocked := _rollback_blocked(state):
        return Decision.refuse(blocked)
    return Decision.accept(f"rollback requested by {msg.requested_by}")


def decide_pause(state: MigrationState, spec: MigrationSpec, msg: PausePayload) -> Decision:
    if ended := _ended(state):
        return Decision.refuse(ended)
    if state.phase is Phase.ROLLING_BACK:
        return Decision.refuse("a rollback is in progress and cannot be paused")
    if state.paused:
        return Decision.refuse("the migration is already paused")
    return Decision.accept(f"paused by {msg.requested_by}; weights are held")


def decide_resume(state: MigrationState, spec: MigrationSpec, msg: ResumePayload) -> Decision:
    if ended := _ended(state):
        return Decision.refuse(ended)
    if not state.paused:
        return Decision.refuse("the migration is not paused")
    allowed = {*spec.approvers, spec.requested_by}
    if msg.requested_by not in allowed:
        return Decision.refuse(
            f"{msg.requested_by!r} may not resume: only the requester or an approver ({', '.join(sorted(allowed))})"
        )
    return Decision.accept(f"resumed by {msg.requested_by}")


def decide(state: MigrationState, spec: MigrationSpec, msg: CommandPayload) -> Decision:
    match msg:
        case ApprovePayload():
            return decide_approve(state, spec, msg)
        case RejectPayload():
            return decide_reject(state, spec, msg)
        case AlarmPayload():
            return decide_alarm(state, spec, msg)
        case RollbackPayload():
            return decide_rollback(state, spec, msg)
        case PausePayload():
            return decide_pause(state, spec, msg)
        case ResumePayload():
            return decide_resume(state, spec, msg)


def actor_of(msg: CommandPayload) -> str:
    match msg:
        case ApprovePayload() | RejectPayload():
            return msg.approver
        case AlarmPayload():
            return msg.source or f"alarm:{msg.alarm_name}"
        case RollbackPayload() | PausePayload() | ResumePayload():
            return msg.requested_by


def rollback_message(state: MigrationState) -> str:
    if state.decommission_started is not None:
        return "decommission has started: blue is gone and a rollback is no longer possible"
    if state.phase is Phase.ROLLED_BACK:
        return "rolled back: every shifter is at 100% blue"
    if state.phase is Phase.ROLLING_BACK:
        return "rolling back now"
    if state.terminal:
        return f"the migration has ended (phase {state.phase.value})"
    return "a rollback (reject, rollback or alarm) returns every shifter to 100% blue"
