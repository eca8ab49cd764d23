"""The MeshMigration workflow: the lifecycle of brief section 3, run durably.

``run`` reads like the lifecycle; each phase is one small method. All state lives in one
``MigrationState`` (migration/state.py) so that continue-as-new can carry it, and every message
is judged by the pure rules in that module. Activities are called by name only: this module
never imports boto3 or the activity modules.

Outcomes (decided):
- completed: the workflow returns a report with outcome ``completed``;
- rolled back (alarm, reject, failed analysis, rollback, approval timeout, drain timeout, or an
  error after traffic moved): compensation runs, the phase ends ``rolled_back`` and the workflow
  COMPLETES with a report whose outcome is ``rolled_back`` (a rollback is the product working);
- an error before any traffic moved (or once decommission started): phase ``failed`` and the
  workflow fails with a ``MigrationFailed`` error that says what to fix;
- cancelled: compensation runs to the end (shielded), then the workflow reports Canceled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate, VersioningBehavior
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from meshshift.migration import analysis, contracts
    from meshshift.migration import plan as planning
    from meshshift.migration.constants import (
        QUERY_STATUS,
        SA_APP,
        SA_GREEN_WEIGHT,
        SA_PHASE,
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
        WORKFLOW_TYPE,
    )
    from meshshift.migration.errors import SpecError
    from meshshift.migration.loading import validate_spec
    from meshshift.migration.spec import ApprovalMode, ApprovalTimeoutAction, MigrationSpec
    from meshshift.migration.state import (
        AlarmPayload,
        Approval,
        ApprovePayload,
        AuditEvent,
        AwaitingApproval,
        Command,
        CommandPayload,
        CommandResult,
        Countdown,
        CountdownPurpose,
        Decision,
        DrainRecord,
        GateKind,
        MigrationInput,
        MigrationReport,
        MigrationState,
        MigrationStatus,
        Outcome,
        PausePayload,
        Phase,
        PhaseTiming,
        RawMessage,
        RejectPayload,
        ResumePayload,
        RollbackInfo,
        RollbackPayload,
        RollbackRecord,
        RollbackRequest,
        RollbackTrigger,
        RunOptions,
        StepStage,
        WorkerFlip,
        actor_of,
        claimed_actor,
        decide,
        lifecycle_index,
        parse_payload,
        rollback_message,
    )
    from meshshift.workflows.activity_options import (
        PROVISION_CONCURRENCY,
        REGISTERED_SEARCH_ATTRIBUTES_RETRY,
        options_for,
    )

InputT = TypeVar("InputT", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)
T = TypeVar("T")

ZERO = timedelta(0)
# A wait never re-arms a timer shorter than this: it keeps a burst of due watchers from spinning.
MIN_WAIT = timedelta(seconds=1)
WEIGHT_TOLERANCE = 1e-6
# workflow.patched() ids, one per change of the workflow's commands (see docs/architecture.md).
PATCH_VERIFY_FROM_WRITE = "verify-weights-from-write"
PATCH_COUNTDOWN_CLOCK = "countdown-counts-poll-time"
PATCH_CANCEL_AFTER_CALL = "cancellation-survives-a-call"
PATCH_CANCEL_WAITS_FOR_CALL = "cancellation-waits-for-interrupted-call"
VERIFY_ATTEMPTS = 3
VERIFY_RETRY_DELAY = timedelta(seconds=5)
SYSTEM_ACTOR = "meshshift"

SEARCH_ATTRIBUTE_KEYS: dict[str, SearchAttributeKey[Any]] = {
    SA_APP: SearchAttributeKey.for_keyword(SA_APP),
    SA_PHASE: SearchAttributeKey.for_keyword(SA_PHASE),
    SA_GREEN_WEIGHT: SearchAttributeKey.for_int(SA_GREEN_WEIGHT),
}


class _RollbackRequested(Exception):
    """Unwinds the lifecycle to the compensation; the request itself is in the state."""


class _StepFailed(Exception):
    """A step could not complete: rolls back if traffic moved, else fails the migration."""


class _Abort(Exception):
    """Stop without touching traffic (e.g. ``drain.on_timeout: fail``): the migration fails."""


# The versioning behaviour MeshMigration runs with on a versioned worker (the worker's
# WorkerDeploymentConfig applies it; on the decorator, a server refuses every workflow task of an
# unversioned worker). AUTO_UPGRADE: a migration lasts days or weeks, so a running one moves to each
# new build at its next workflow task instead of pinning a build (and its activities, with any bug a
# new build fixes) for its whole life. What keeps that safe is the rule that every change of workflow
# code goes behind workflow.patched() and replays the stored histories (docs/operations.md).
VERSIONING_BEHAVIOR = VersioningBehavior.AUTO_UPGRADE


@workflow.defn(name=WORKFLOW_TYPE)
class MeshMigration:
    @workflow.init
    def __init__(self, input: MigrationInput) -> None:
        # Nothing here may raise: a bad input is reported by run() as a workflow failure, and
        # queries and signals must work even then.
        self._spec_json = input.spec_json
        self._spec: MigrationSpec | None = None
        self._spec_error: str | None = None
        try:
            self._spec = validate_spec(input.spec_json)
        except SpecError as err:
            self._spec_error = str(err)
        self._options = RunOptions()
        self._state = MigrationState(app=self._app_name())
        try:
            if input.options_json is not None:
                self._options = RunOptions.model_validate(input.options_json)
            if input.resume_json is not None:
                self._state = MigrationState.model_validate(input.resume_json)
        except ValueError as err:
            self._spec_error = f"the continue-as-new input could not be read: {err}"
        if self._spec is None:
            self._state.phase = Phase.FAILED
            self._state.error = self._spec_error
        self._sources: contracts.MetricSources | None = None

    def _app_name(self) -> str:
        if self._spec is not None:
            return self._spec.name
        name = self._spec_json.get("name") if isinstance(self._spec_json, dict) else None
        return name if isinstance(name, str) else "unknown"

    # --- the lifecycle ----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: MigrationInput) -> MigrationReport:
        spec = self._spec
        if spec is None:
            raise ApplicationError(
                f"The migration spec is invalid; nothing was changed in AWS.\n{self._spec_error}\n"
                "Fix the spec (`meshshift validate SPEC` lists every problem) and start the migration again.",
                type="InvalidSpec",
                non_retryable=True,
            )
        try:
            report = await self._lifecycle(spec)
        except workflow.ContinueAsNewError:
            raise
        except BaseException as err:  # CancelledError is a BaseException: it must compensate too
            report = await self._unwind(spec, err)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return report

    async def _lifecycle(self, spec: MigrationSpec) -> MigrationReport:
        await self._announce(spec)
        if self._at(Phase.PLANNING):
            await self._plan(spec)
            if spec.dry_run:
                self._audit(SYSTEM_ACTOR, "dry_run", "dry run: stopping after the plan; nothing was changed")
                self._finish_timing()
                return self._report("dry_run")
        if self._at(Phase.PROVISIONING):
            await self._provision(spec)
        if self._at(Phase.VALIDATING):
            await self._validate(spec)
        if self._at(Phase.RAMPING):
            await self._ramp(spec)
        if self._at(Phase.DRAINING):
            await self._drain(spec)
        if self._at(Phase.FLIPPING_WORKERS):
            await self._flip_workers(spec)
        if self._at(Phase.SOAKING):
            await self._soak(spec)
        if self._at(Phase.DECOMMISSIONING):
            await self._decommission(spec)
        self._enter(Phase.COMPLETED)
        self._finish_timing()
        return self._report("completed")

    def _at(self, phase: Phase) -> bool:
        """True if the lifecycle has not yet passed ``phase`` (a resumed run skips finished phases)."""
        return lifecycle_index(self._state.phase) <= lifecycle_index(phase)

    # --- phases -----------------------------------------------------------------------------

    async def _plan(self, spec: MigrationSpec) -> None:
        self._enter(Phase.PLANNING)
        discovery = await self._call(
            contracts.DISCOVER_BLUE,
            contracts.DiscoverInput(aws=self._aws(spec), spec=spec),
        )
        try:
            plan = planning.build_plan(spec, discovery)
        except (ValueError, KeyError) as err:
            raise _StepFailed(f"planning failed: {err}") from err
        state = self._state
        state.plan = plan
        state.discovery_warnings = list(discovery.warnings)
        state.blue_worker_counts = {s.name: s.desired_count for s in discovery.async_workers}
        state.blue_task_definition_arns = sorted(
            {s.task_definition_arn for s in [*discovery.services, *discovery.async_workers]}
        )
        if discovery.appmesh_status is contracts.AppMeshStatus.UNAVAILABLE:
            self._warn("the App Mesh API did not answer: blue was discovered from the ECS task definitions alone")
        for warning in [*discovery.warnings, *plan.warnings, *(f"untranslatable: {u}" for u in plan.untranslatable)]:
            self._warn(warning)
        self._audit(
            SYSTEM_ACTOR,
            "plan",
            f"{len(plan.services)} services, {len(plan.async_workers)} async workers, "
            f"steps {[s.percent for s in plan.steps]} on {len(spec.edge)} shifters",
        )

    async def _provision(self, spec: MigrationSpec) -> None:
        self._enter(Phase.PROVISIONING)
        plan = self._plan_or_fail()
        await self._hold_while_paused(spec)
        namespace = await self._call(
            contracts.ENSURE_NAMESPACE,
            contracts.EnsureNamespaceInput(aws=self._aws(spec), name=spec.green.namespace),
        )
        self._state.namespace = namespace
        targets = [*plan.services, *plan.async_workers]
        provisioned = await self._interruptible(self._provision_all(spec, namespace, targets))
        self._state.provisioned = provisioned
        for service in provisioned:
            for mismatch in service.mismatches:
                self._warn(f"green service {service.service_name} differs from the plan: {mismatch}")
        created = sum(1 for s in provisioned if s.created)
        self._audit(
            SYSTEM_ACTOR,
            "provisioned",
            f"{len(provisioned)} green services in {namespace.name} ({created} created, {len(provisioned) - created} "
            "already there)",
        )

    async def _provision_all(
        self,
        spec: MigrationSpec,
        namespace: contracts.NamespaceResult,
        targets: Sequence[contracts.GreenServicePlan],
    ) -> list[contracts.ProvisionedService]:
        limit = asyncio.Semaphore(PROVISION_CONCURRENCY)
        failed = False

        async def provision(target: contracts.GreenServicePlan) -> contracts.ProvisionedService:
            nonlocal failed
            async with limit:
                if failed:
                    raise _StepFailed("not started: another green service failed to provision")
                try:
                    return await self._call(
                        contracts.PROVISION_GREEN_SERVICE,
                        contracts.ProvisionServiceInput(
                            aws=self._aws(spec),
                            plan=target,
                            namespace_arn=namespace.arn,
                            mode=spec.green.provision,
                            # Async workers must not consume from the queue before the flip.
                            initial_desired_count=0 if target.is_async_worker else None,
                        ),
                        interruptible=False,
                    )
                except BaseException:
                    failed = True
                    raise

        return list(await asyncio.gather(*(provision(t) for t in targets)))

    async def _validate(self, spec: MigrationSpec) -> None:
        self._enter(Phase.VALIDATING)
        plan = self._plan_or_fail()
        await self._hold_while_paused(spec)
        await self._wait_green_stable(spec, plan)
        green_groups = planning.health_checked_target_groups(spec)
        if spec.health.check_target_health and green_groups:
            health = await self._call(
                contracts.CHECK_TARGET_HEALTH,
                contracts.TargetHealthInput(
                    aws=self._aws(spec), target_group_arns=green_groups, timeout=spec.health.timeout
                ),
                wait=spec.health.timeout,
            )
            if not health.ok:
                bad = [f"{g.target_group_arn} ({g.healthy} healthy, {g.unhealthy} unhealthy)" for g in health.groups]
                raise _StepFailed(f"green target groups are not healthy: {'; '.join(bad)}")
        if spec.health.urls:
            deep = await self._call(
                contracts.DEEP_HEALTH_CHECK,
                contracts.DeepHealthInput(health=spec.health),
                wait=spec.health.timeout,
            )
            if not deep.ok:
                bad = [f"{c.url}: {c.last_error or c.last_status}" for c in deep.checks if not c.ok]
                raise _StepFailed(f"green deep health checks failed: {'; '.join(bad)}")
        if self._metric_sources(spec).alb or self._metric_sources(spec).service_connect:
            self._state.baseline = await self._collect_metrics(spec, spec.analysis.window)
        self._audit(SYSTEM_ACTOR, "validated", "green is stable and healthy")

    async def _wait_green_stable(self, spec: MigrationSpec, plan: contracts.MigrationPlan) -> None:
        by_cluster: dict[str, list[str]] = {}
        for service in plan.services:
            by_cluster.setdefault(service.cluster, []).append(service.green_service)
        timeout = spec.green.steady_state_timeout
        for cluster, services in by_cluster.items():
            stable = await self._call(
                contracts.WAIT_SERVICES_STABLE,
                contracts.ServicesStableInput(aws=self._aws(spec), cluster=cluster, services=services, timeout=timeout),
                wait=timeout,
            )
            if not stable.ok:
                bad = [
                    f"{s.name} (running {s.running_count}/{s.desired_count}, {s.deployments} deployments, "
                    f"rollout {s.rollout_state})"
                    for s in stable.services
                    if not s.stable
                ]
                raise _StepFailed(f"green services in {cluster} did not reach steady state within {timeout}: {bad}")

    async def _ramp(self, spec: MigrationSpec) -> None:
        self._enter(Phase.RAMPING)
        steps = self._plan_or_fail().steps
        state = self._state
        while state.step_index < len(steps):
            step = steps[state.step_index]
            if state.step_stage is StepStage.GATE:
                if step.approval_required:
                    await self._approval_gate(spec, GateKind.RAMP, step.percent, spec.ramp.approval_timeout)
                state.step_stage = StepStage.SHIFT
            if state.step_stage is StepStage.SHIFT:
                await self._shift(spec, step.weights, step.percent)
                state.countdown = Countdown.starting("bake", step.bake, workflow.now())
                state.step_stage = StepStage.BAKE
            await self._bake(spec, step)
            state.step_index += 1
            state.step_stage = StepStage.GATE

    async def _shift(self, spec: MigrationSpec, weights: list[contracts.ShifterWeights], percent: int) -> None:
        await self._hold_while_paused(spec)
        self._raise_if_rollback()
        # Recorded before the call: a write that half-landed must still be reversed.
        self._state.edge_touched = True
        await self._write_weights(spec, weights)
        state = self._state
        state.green_weight = percent
        state.weights_changed_at = workflow.now()
        state.next_analysis_at = None
        self._audit(SYSTEM_ACTOR, "weights", f"green at {percent}% on every shifter, verified by read-back")
        self._publish()

    async def _write_weights(
        self, spec: MigrationSpec, weights: list[contracts.ShifterWeights], *, compensation: bool = False
    ) -> None:
        """Write every shifter's weights, then make sure they read back as written."""
        edges = {planning.shifter_id(e): e for e in spec.edge}
        result = await self._call(
            contracts.SET_EDGE_WEIGHTS,
            contracts.SetEdgeWeightsInput(
                aws=self._aws(spec),
                targets=[contracts.ShifterTarget(edge=edges[w.shifter_id], weights=w) for w in weights],
            ),
            interruptible=not compensation,
            compensation=compensation,
        )
        # The write's own read-back is the verification when it already matches (one activity per
        # step instead of two); histories from before this change always read again.
        if workflow.patched(PATCH_VERIFY_FROM_WRITE) and not weight_mismatches(weights, result.readings):
            self._state.weights = {r.shifter_id: r for r in result.readings}
            return
        await self._verify_weights(spec, weights, compensation=compensation)

    async def _verify_weights(
        self, spec: MigrationSpec, expected: list[contracts.ShifterWeights], *, compensation: bool = False
    ) -> None:
        """Read every shifter back until it matches; DNS and CloudFront may lag a little behind a write."""
        problems: list[str] = []
        for attempt in range(VERIFY_ATTEMPTS):
            if attempt:
                await workflow.sleep(VERIFY_RETRY_DELAY)
            result = await self._call(
                contracts.READ_EDGE_WEIGHTS,
                contracts.ReadEdgeWeightsInput(aws=self._aws(spec), edges=list(spec.edge)),
                interruptible=not compensation,
                compensation=compensation,
            )
            self._state.weights = {r.shifter_id: r for r in result.readings}
            problems = weight_mismatches(expected, result.readings)
            if not problems:
                return
        raise _StepFailed(f"edge weights did not read back as written: {'; '.join(problems)}")

    async def _bake(self, spec: MigrationSpec, step: contracts.PlannedStep) -> None:
        if self._state.countdown is None:  # resumed from a run that had already finished the bake
            return
        self._audit(SYSTEM_ACTOR, "bake", f"baking {step.percent}% for {self._state.countdown.remaining}")
        await self._watch(spec, until=None)
        self._state.countdown = None
        self._audit(SYSTEM_ACTOR, "baked", f"{step.percent}% baked without alarms or failed analysis")

    async def _drain(self, spec: MigrationSpec) -> None:
        self._enter(Phase.DRAINING)
        state = self._state
        if state.drain is None:
            state.drain = DrainRecord(started=workflow.now())
        drain = state.drain
        if drain.ended_by is None:
            await self._drain_until_idle(spec, drain)
        if drain.verified_zero is None:
            await self._verify_blue_is_idle(spec, drain)
        self._audit(
            SYSTEM_ACTOR, "drained", f"blue drained ({drain.ended_by}); verified zero traffic: {drain.verified_zero}"
        )

    async def _drain_until_idle(self, spec: MigrationSpec, drain: DrainRecord) -> None:
        settings = spec.drain
        if not self._has_metrics(spec):
            if settings.stickiness_horizon is None:
                self._warn("no metrics to measure blue's traffic: the drain could not be measured and was skipped")
                drain.ended_by = "no_metrics"
                return
            await self._countdown(spec, "drain_poll", settings.stickiness_horizon - (workflow.now() - drain.started))
            drain.ended_by = "stickiness_horizon"
            return
        while True:
            snapshot = await self._collect_metrics(spec, settings.window)
            drain.polls += 1
            if snapshot is not None:
                drain.last_blue = snapshot.blue
                if analysis.blue_is_idle(snapshot, settings):
                    drain.idle_at = workflow.now()
                    drain.ended_by = "idle"
                    return
            elapsed = workflow.now() - drain.started
            if settings.stickiness_horizon is not None and elapsed >= settings.stickiness_horizon:
                drain.ended_by = "stickiness_horizon"
                return
            if elapsed >= settings.max_wait:
                drain.ended_by = "timeout"
                await self._drain_failed(spec, f"blue still had traffic after drain.max_wait ({settings.max_wait})")
                return
            await self._countdown(spec, "drain_poll", min(settings.poll_interval, settings.max_wait - elapsed))

    async def _verify_blue_is_idle(self, spec: MigrationSpec, drain: DrainRecord) -> None:
        """One more full window after the drain: a cutover that did not fully cut over is a known failure."""
        if not self._has_metrics(spec):
            drain.verified_zero = False
            return
        await self._countdown(spec, "drain_verify", spec.drain.window)
        snapshot = await self._collect_metrics(spec, spec.drain.window)
        if snapshot is None:
            drain.verified_zero = False
            self._warn("blue's traffic could not be measured after the drain; continuing on the drain's evidence")
            return
        drain.verify_blue = snapshot.blue
        drain.verified_zero = analysis.blue_is_idle(snapshot, spec.drain)
        if not drain.verified_zero:
            await self._drain_failed(
                spec,
                f"blue still receives traffic after the drain: {snapshot.blue.requests:g} requests in the last "
                f"{spec.drain.window}",
            )

    async def _drain_failed(self, spec: MigrationSpec, reason: str) -> None:
        match spec.drain.on_timeout:
            case "rollback":
                self._request_rollback(RollbackTrigger.DRAIN_TIMEOUT, SYSTEM_ACTOR, reason)
                raise _RollbackRequested
            case "fail":
                raise _Abort(f"{reason}; drain.on_timeout is 'fail': weights are left at 100% green, blue is intact")
            case "proceed":
                self._warn(f"{reason}; proceeding because drain.on_timeout is 'proceed'")

    async def _flip_workers(self, spec: MigrationSpec) -> None:
        self._enter(Phase.FLIPPING_WORKERS)
        state = self._state
        for worker in spec.async_workers:
            flip = next((f for f in state.worker_flips if f.blue_service == worker.blue_service), None)
            if flip is None:
                flip = WorkerFlip(
                    blue_service=worker.blue_service,
                    green_service=worker.green_service,
                    blue_cluster=worker.cluster or spec.blue.cluster,
                    green_cluster=worker.cluster or spec.green.cluster,
                    blue_original_count=state.blue_worker_counts.get(worker.blue_service, worker.desired_count),
                    green_desired_count=worker.desired_count,
                )
                state.worker_flips.append(flip)
            await self._hold_while_paused(spec)
            # Green consumers first, so the queue is never without one; then blue, gracefully.
            flip.green_scaled_up = True
            await self._scale(
                spec, flip.green_cluster, flip.green_service, flip.green_desired_count, worker.stable_timeout
            )
            flip.blue_scaled_down = True
            await self._scale(spec, flip.blue_cluster, flip.blue_service, 0, worker.stable_timeout)
            self._audit(SYSTEM_ACTOR, "worker_flipped", f"{flip.blue_service} -> {flip.green_service}")

    async def _scale(
        self,
        spec: MigrationSpec,
        cluster: str,
        service: str,
        count: int,
        timeout: timedelta,  # noqa: ASYNC109 - the activity's own polling limit, not this coroutine's
        *,
        compensation: bool = False,
    ) -> None:
        result = await self._call(
            contracts.SCALE_SERVICE,
            contracts.ScaleServiceInput(
                aws=self._aws(spec), cluster=cluster, service=service, desired_count=count, timeout=timeout
            ),
            wait=timeout,
            interruptible=not compensation,
            compensation=compensation,
        )
        if not result.stable:
            raise _StepFailed(
                f"{service} in {cluster} did not become stable at {count} tasks within {timeout} "
                f"(running {result.running_count}, pending {result.pending_count})"
            )

    async def _soak(self, spec: MigrationSpec) -> None:
        self._enter(Phase.SOAKING)
        state = self._state
        if not state.soak_completed:
            if state.countdown is None:
                after = spec.decommission.after
                state.countdown = Countdown.starting("soak", after, workflow.now())
                self._audit(SYSTEM_ACTOR, "soak", f"soaking at 100% green for {after}; alarms still roll back")
            await self._watch(spec, until=None)
            state.countdown = None
            state.soak_completed = True
        if spec.decommission.approval is ApprovalMode.REQUIRED:
            await self._approval_gate(spec, GateKind.DECOMMISSION, 100, timeout=None)

    async def _decommission(self, spec: MigrationSpec) -> None:
        await self._hold_while_paused(spec)
        # No await between this check and the flag: a rollback request cannot slip in between.
        self._raise_if_rollback()
        state = self._state
        if state.decommission_started is None:
            state.decommission_started = workflow.now()
            self._audit(SYSTEM_ACTOR, "decommission", "deleting blue: from now on a rollback is no longer possible")
        self._enter(Phase.DECOMMISSIONING)
        deletions = spec.decommission.delete
        if deletions.blue_services:
            await self._delete_blue_services(spec)
        owned_groups = planning.owned_blue_target_groups(spec)
        if deletions.target_groups and owned_groups:
            await self._delete(
                spec,
                contracts.DELETE_TARGET_GROUPS,
                contracts.DeleteTargetGroupsInput(aws=self._aws(spec), target_group_arns=owned_groups),
            )
        if deletions.records:
            for edge, set_identifier in planning.owned_blue_records(spec):
                await self._delete(
                    spec,
                    contracts.DELETE_WEIGHTED_RECORD,
                    contracts.DeleteWeightedRecordInput(aws=self._aws(spec), edge=edge, set_identifier=set_identifier),
                )
        if deletions.app_mesh and spec.blue.mesh:
            result = await self._delete(
                spec,
                contracts.DELETE_APP_MESH,
                contracts.DeleteAppMeshInput(aws=self._aws(spec), mesh=spec.blue.mesh, mesh_owner=spec.blue.mesh_owner),
            )
            if result.skipped:
                self._warn(f"App Mesh {spec.blue.mesh} was not deleted: the App Mesh API did not answer")
        if deletions.blue_task_definitions and state.blue_task_definition_arns:
            await self._delete(
                spec,
                contracts.DEREGISTER_TASK_DEFINITIONS,
                contracts.DeregisterTaskDefinitionsInput(
                    aws=self._aws(spec), task_definition_arns=state.blue_task_definition_arns
                ),
            )

    async def _delete_blue_services(self, spec: MigrationSpec) -> None:
        by_cluster: dict[str, list[str]] = {spec.blue.cluster: list(spec.blue.services)}
        for worker in spec.async_workers:
            by_cluster.setdefault(worker.cluster or spec.blue.cluster, []).append(worker.blue_service)
        for cluster, services in by_cluster.items():
            await self._delete(
                spec,
                contracts.DELETE_ECS_SERVICES,
                contracts.DeleteServicesInput(aws=self._aws(spec), cluster=cluster, services=services),
            )

    async def _delete(
        self, spec: MigrationSpec, activity: contracts.ActivityDef[InputT, contracts.DeletionResult], arg: InputT
    ) -> contracts.DeletionResult:
        result = await self._call(activity, arg, interruptible=False)
        self._state.decommissioned.append(result)
        for warning in result.warnings:
            self._warn(warning)
        self._audit(
            SYSTEM_ACTOR,
            "deleted",
            f"{activity.name}: deleted {result.deleted or 'nothing'}"
            + (f", already absent {result.already_absent}" if result.already_absent else ""),
        )
        return result

    # --- approval gates ---------------------------------------------------------------------

    async def _approval_gate(
        self,
        spec: MigrationSpec,
        kind: GateKind,
        step: int,
        timeout: timedelta | None,  # noqa: ASYNC109 - the gate's approval timeout (unpaused time)
    ) -> None:
        state = self._state
        while True:
            if state.awaiting_approval is None:
                self._open_gate(kind, step, timeout)
            if await self._watch(spec, until=lambda: state.gate_approval is not None):
                approval = state.gate_approval
                state.awaiting_approval = None
                state.gate_approval = None
                state.countdown = None
                self._audit(
                    approval.approver if approval else SYSTEM_ACTOR, "gate_passed", f"{kind.value} gate {step} passed"
                )
                return
            # The approval timeout ran out (in unpaused time).
            if spec.ramp.on_approval_timeout is ApprovalTimeoutAction.ROLLBACK:
                self._request_rollback(
                    RollbackTrigger.APPROVAL_TIMEOUT, SYSTEM_ACTOR, f"no approval for step {step} within {timeout}"
                )
                raise _RollbackRequested
            state.paused = True
            self._audit(
                SYSTEM_ACTOR,
                "approval_timeout",
                f"no approval for step {step} within {timeout}: paused (resume re-opens the gate with a fresh timeout)",
            )
            await self._hold_while_paused(spec)
            state.awaiting_approval = None

    def _open_gate(self, kind: GateKind, step: int, timeout: timedelta | None) -> None:
        state = self._state
        state.awaiting_approval = AwaitingApproval(step=step, since=workflow.now(), gate=kind)
        state.gate_approval = None
        state.countdown = Countdown.starting("approval", timeout, workflow.now()) if timeout else None
        limit = f" (timeout {timeout} of unpaused time)" if timeout else ""
        self._audit(SYSTEM_ACTOR, "gate_opened", f"waiting for approval of {kind.value} step {step}{limit}")

    # --- waiting while watching -------------------------------------------------------------

    async def _watch(self, spec: MigrationSpec, until: Callable[[], bool] | None) -> bool:
        """Wait until ``until()`` (-> True) or the state's countdown runs out (-> False), while polling
        alarms and judging metrics on schedule. Raises _RollbackRequested as soon as one is requested.

        The countdown only runs while the migration is not paused. This is also where a long wait
        continues-as-new: the state (with the countdown's remaining time) carries over.
        """
        state = self._state
        while True:
            self._raise_if_rollback()
            if until is not None and until():
                return True
            countdown = state.countdown
            if countdown is not None and self._countdown_counts_poll_time():
                countdown.refresh(workflow.now(), state.paused)
            if countdown is not None and not state.paused and countdown.remaining <= ZERO:
                return False
            await self._run_due_watchers(spec)
            self._raise_if_rollback()
            if until is not None and until():
                return True
            if self._should_continue_as_new():
                await self._continue_as_new()
            await self._sleep_until_next_event(until)

    async def _sleep_until_next_event(self, until: Callable[[], bool] | None) -> None:
        state = self._state
        now = workflow.now()
        paused = state.paused
        deadlines = [t - now for t in (state.next_alarm_poll_at, state.next_analysis_at) if t is not None]
        countdown = state.countdown
        counts_poll_time = countdown is not None and self._countdown_counts_poll_time()
        if countdown is not None:
            if counts_poll_time:
                countdown.refresh(now, paused)
            else:
                countdown.ends_at = None if paused else now + countdown.remaining
            if not paused:
                deadlines.append(countdown.remaining)
        timeout = max(min(deadlines), MIN_WAIT) if deadlines else None

        def woken() -> bool:
            return state.rollback_request is not None or state.paused != paused or (until is not None and until())

        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(woken, timeout=timeout)
        if countdown is not None and not paused and not counts_poll_time:
            countdown.remaining = max(ZERO, countdown.remaining - (workflow.now() - now))

    def _countdown_counts_poll_time(self) -> bool:
        # Before this patch a countdown advanced only while its timer slept, so the alarm polls and
        # metric reads between timers stretched every bake, soak and approval timeout a little.
        return workflow.patched(PATCH_COUNTDOWN_CLOCK)

    async def _countdown(self, spec: MigrationSpec, purpose: CountdownPurpose, duration: timedelta) -> None:
        """A pausable, watched timer; resumes with its remaining time after continue-as-new."""
        state = self._state
        if state.countdown is None or state.countdown.purpose != purpose:
            state.countdown = Countdown.starting(purpose, duration, workflow.now())
        await self._watch(spec, until=None)
        state.countdown = None

    async def _hold_while_paused(self, spec: MigrationSpec) -> None:
        await self._watch(spec, until=lambda: not self._state.paused)

    async def _run_due_watchers(self, spec: MigrationSpec) -> None:
        state = self._state
        now = workflow.now()
        if spec.alarms and (state.next_alarm_poll_at is None or now >= state.next_alarm_poll_at):
            await self._poll_alarms(spec)
            state.next_alarm_poll_at = workflow.now() + spec.alarm_poll_interval
        if state.rollback_request is not None or not self._analysis_active(spec):
            return
        changed = state.weights_changed_at or now
        if state.next_analysis_at is None:
            # Resolvers cache DNS answers for the record TTL: judging earlier would judge blue's traffic.
            state.next_analysis_at = max(changed + spec.analysis.interval, changed + self._dns_wait(spec))
        if now >= state.next_analysis_at:
            await self._analyze(spec)
            state.next_analysis_at = workflow.now() + spec.analysis.interval

    async def _poll_alarms(self, spec: MigrationSpec) -> None:
        try:
            result = await self._call(
                contracts.POLL_ALARMS,
                contracts.PollAlarmsInput(aws=self._aws(spec), alarm_names=spec.alarms),
                interruptible=False,
            )
        except ActivityError as err:
            # The alarm bridge may still signal; a failed poll must not stop the migration.
            self._warn(f"polling the alarms failed (will retry at the next interval): {cause_message(err)}")
            return
        if result.missing:
            self._warn(f"alarms named in the spec do not exist in CloudWatch: {', '.join(result.missing)}")
        for alarm in result.firing:
            self._request_rollback(
                RollbackTrigger.ALARM,
                f"{SYSTEM_ACTOR}:alarm-poll",
                f"alarm {alarm.name} is in ALARM" + (f": {alarm.reason}" if alarm.reason else ""),
            )
            return

    def _analysis_active(self, spec: MigrationSpec) -> bool:
        state = self._state
        return state.green_weight > 0 and state.weights_changed_at is not None and self._has_metrics(spec)

    def _dns_wait(self, spec: MigrationSpec) -> timedelta:
        return planning.propagation_wait(spec)

    async def _analyze(self, spec: MigrationSpec) -> None:
        state = self._state
        now = workflow.now()
        since_change = now - (state.weights_changed_at or now)
        window = min(spec.analysis.window, since_change) if since_change > ZERO else spec.analysis.window
        snapshot = await self._collect_metrics(spec, window)
        if snapshot is None:
            return
        verdict = analysis.judge(snapshot, spec.analysis)
        previous = state.last_verdict.verdict if state.last_verdict else None
        state.last_verdict = verdict
        reasons = "; ".join(verdict.reasons)
        if verdict.verdict is contracts.Verdict.FAIL:
            self._request_rollback(
                RollbackTrigger.ANALYSIS, f"{SYSTEM_ACTOR}:analysis", f"metric analysis failed: {reasons}"
            )
        elif verdict.verdict is not previous:
            self._audit(SYSTEM_ACTOR, "analysis", f"{verdict.verdict.value} at {state.green_weight}%: {reasons}")

    async def _collect_metrics(self, spec: MigrationSpec, window: timedelta) -> contracts.MetricsSnapshot | None:
        try:
            return await self._call(
                contracts.COLLECT_METRICS,
                contracts.CollectMetricsInput(
                    aws=self._aws(spec), sources=self._metric_sources(spec), window=window, end=workflow.now()
                ),
                interruptible=False,
            )
        except ActivityError as err:
            self._warn(f"reading metrics failed (treated as no verdict): {cause_message(err)}")
            return None

    def _metric_sources(self, spec: MigrationSpec) -> contracts.MetricSources:
        if self._sources is None:
            self._sources = planning.metric_sources(spec, self._plan_or_fail())
        return self._sources

    def _has_metrics(self, spec: MigrationSpec) -> bool:
        if self._state.plan is None:
            return False
        sources = self._metric_sources(spec)
        return bool(sources.alb or sources.service_connect)

    # --- rollback (compensation) ------------------------------------------------------------

    async def _unwind(self, spec: MigrationSpec, err: BaseException) -> MigrationReport:
        """Decide what an interruption of the lifecycle means, and compensate when it must."""
        state = self._state
        cancelled = isinstance(err, asyncio.CancelledError)
        if isinstance(err, _RollbackRequested | asyncio.CancelledError | _StepFailed | ActivityError | _Abort):
            reason = "the workflow was cancelled" if cancelled else describe_error(err)
        else:
            raise err  # a bug, not an outcome: fail the workflow task so a fixed worker can replay it
        # Traffic moved (or a cancellation with something provisioned): put blue back. Before that,
        # or once blue is gone, there is nothing to reverse: the migration fails with the reason.
        worth_reversing = self._traffic_moved() or (cancelled and state.plan is not None)
        if state.rollback_request is None and not isinstance(err, _Abort) and worth_reversing:
            trigger = RollbackTrigger.CANCELLED if cancelled else RollbackTrigger.ERROR
            self._request_rollback(trigger, "temporal" if cancelled else SYSTEM_ACTOR, reason)
        if state.rollback_request is None:
            await self._fail(reason, cancelled)
        cancelled = await self._compensate_shielded(spec) or cancelled
        if cancelled:
            raise asyncio.CancelledError
        return self._report("rolled_back")

    async def _compensate_shielded(self, spec: MigrationSpec) -> bool:
        """Run the compensation to its end even if the workflow is cancelled meanwhile.

        A bare shield would let the cancellation abandon the rollback half-done; awaiting the
        task again keeps the workflow alive until it has finished. Returns whether a
        cancellation arrived.
        """
        task = asyncio.create_task(self._compensate(spec))
        cancelled = False
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = True
                self._audit("temporal", "cancel", "cancellation requested during the rollback: finishing the rollback")
        task.result()
        return cancelled

    async def _compensate(self, spec: MigrationSpec) -> None:
        state = self._state
        request = state.rollback_request
        assert request is not None  # _unwind only compensates a recorded request
        record = RollbackRecord(
            trigger=request.trigger,
            actor=request.actor,
            reason=request.reason,
            requested_at=request.requested_at,
            started=workflow.now(),
        )
        state.rollback = record
        state.awaiting_approval = None
        state.gate_approval = None
        state.countdown = None
        state.paused = False  # a rollback overrides a pause: holding green traffic is not safe
        self._enter(Phase.ROLLING_BACK)
        self._audit(request.actor, "rolling_back", f"{request.trigger.value}: {request.reason}")
        try:
            await self._reverse_worker_flips(spec, record)
            await self._restore_blue_weights(spec, record)
            if not spec.decommission.keep_green_on_rollback:
                await self._delete_green(spec, record)
        except (ActivityError, _StepFailed) as err:
            record.error = describe_error(err)
            record.finished = workflow.now()
            state.error = (
                f"rollback failed: {record.error}. Set every shifter to 100% blue by hand "
                f"(reversed so far: {record.reversed or 'nothing'})."
            )
            self._enter(Phase.FAILED)
            self._audit(SYSTEM_ACTOR, "rollback_failed", state.error)
            self._finish_timing()
            raise ApplicationError(state.error, type="RollbackFailed", non_retryable=True) from err
        record.finished = workflow.now()
        record.duration_seconds = (record.finished - record.started).total_seconds()
        self._enter(Phase.ROLLED_BACK)
        self._audit(
            SYSTEM_ACTOR, "rolled_back", f"rolled back in {record.duration_seconds:g}s: {', '.join(record.reversed)}"
        )
        self._finish_timing()

    async def _reverse_worker_flips(self, spec: MigrationSpec, record: RollbackRecord) -> None:
        workers = {w.blue_service: w for w in spec.async_workers}
        for flip in reversed(self._state.worker_flips):
            if not (flip.green_scaled_up or flip.blue_scaled_down):
                continue
            timeout = (
                workers[flip.blue_service].stable_timeout if flip.blue_service in workers else timedelta(minutes=15)
            )
            # Blue consumers back first, so the queue is never without one; then green down.
            await self._scale(
                spec, flip.blue_cluster, flip.blue_service, flip.blue_original_count, timeout, compensation=True
            )
            await self._scale(spec, flip.green_cluster, flip.green_service, 0, timeout, compensation=True)
            flip.blue_scaled_down = False
            flip.green_scaled_up = False
            record.reversed.append(f"async worker {flip.green_service} -> {flip.blue_service}")

    async def _restore_blue_weights(self, spec: MigrationSpec, record: RollbackRecord) -> None:
        state = self._state
        if not state.edge_touched or state.plan is None:
            self._audit(SYSTEM_ACTOR, "rollback", "edge weights were never changed: blue still has all traffic")
            return
        await self._write_weights(spec, state.plan.rollback_weights, compensation=True)
        state.green_weight = 0
        state.weights_changed_at = workflow.now()
        record.reversed.append("every shifter at 100% blue (verified)")
        self._publish()

    async def _delete_green(self, spec: MigrationSpec, record: RollbackRecord) -> None:
        # Only what meshshift created: green services that IaC made (provision: existing) stay.
        created = [s.service_name for s in self._state.provisioned if s.created and not s.adopted]
        if not created:
            return
        await self._call(
            contracts.DELETE_ECS_SERVICES,
            contracts.DeleteServicesInput(aws=self._aws(spec), cluster=spec.green.cluster, services=created),
            interruptible=False,
            compensation=True,
        )
        record.green_deleted = True
        record.reversed.append(f"deleted green services {created}")

    def _traffic_moved(self) -> bool:
        state = self._state
        return state.edge_touched or any(f.green_scaled_up or f.blue_scaled_down for f in state.worker_flips)

    def _request_rollback(self, trigger: RollbackTrigger, actor: str, reason: str) -> None:
        state = self._state
        if state.rollback_request is None and state.rollback_possible:
            state.rollback_request = RollbackRequest(
                trigger=trigger, actor=actor, reason=reason, requested_at=workflow.now()
            )
            self._audit(actor, "rollback_requested", f"{trigger.value}: {reason}")

    def _raise_if_rollback(self) -> None:
        if self._state.rollback_request is not None:
            raise _RollbackRequested

    async def _fail(self, reason: str, cancelled: bool) -> None:
        state = self._state
        state.error = reason
        state.countdown = None
        state.awaiting_approval = None
        self._enter(Phase.FAILED)
        self._finish_timing()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if cancelled:
            raise asyncio.CancelledError
        raise ApplicationError(f"The migration failed: {reason}", type="MigrationFailed", non_retryable=True)

    # --- messages ---------------------------------------------------------------------------

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
            plan=state.plan,
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

    # --- bookkeeping ------------------------------------------------------------------------

    async def _call(
        self,
        activity: contracts.ActivityDef[InputT, R],
        arg: InputT,
        *,
        wait: timedelta | None = None,
        interruptible: bool = True,
        compensation: bool = False,
    ) -> R:
        """Run ``activity``; unless told otherwise, a rollback request cancels it mid-flight."""
        options = options_for(
            activity, wait=wait, compensation=compensation, heartbeat=self._options.activity_heartbeat_timeout
        )
        call = workflow.execute_activity(
            activity.name,
            arg,
            result_type=activity.result,
            start_to_close_timeout=options.start_to_close,
            heartbeat_timeout=options.heartbeat,
            retry_policy=options.retry,
            # An interrupted call is waited for until it has really stopped (it learns of the
            # cancellation on its next heartbeat), so it never overlaps the compensation that
            # reverses it, e.g. a scale-down still polling while the rollback scales back up.
            cancellation_type=ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )
        if not interruptible:
            try:
                result: R = await call
            finally:
                if not compensation:  # the compensation must finish: a cancellation never stops it
                    self._raise_if_cancelled()
            return result
        return await self._interruptible(call)

    def _raise_if_cancelled(self) -> None:
        """Raise the workflow's cancellation if one arrived while a call was awaited directly.

        The SDK delivers a cancellation that arrives during such a call by cancelling the activity
        and waiting for it to stop (WAIT_CANCELLATION_COMPLETED); then it hands back the call's
        outcome, a result or an ActivityError, and the CancelledError is gone. A caller that
        shrugs off a failed call (an alarm poll, a metric read) would carry on migrating. Raised
        here instead, the cancellation compensates. A result that came back with it is dropped,
        as the SDK itself does when both arrive in the same workflow task.
        """
        if workflow.cancellation_reason() is not None and workflow.patched(PATCH_CANCEL_AFTER_CALL):
            raise asyncio.CancelledError

    async def _interruptible(self, work: Coroutine[Any, Any, T]) -> T:
        """Race ``work`` against a rollback request; the loser (the work) is cancelled."""
        task = asyncio.create_task(work)
        try:
            await workflow.wait_condition(lambda: task.done() or self._state.rollback_request is not None)
        except asyncio.CancelledError:
            task.cancel()
            # As for a rollback request: the compensation must not overlap the interrupted call.
            if workflow.patched(PATCH_CANCEL_WAITS_FOR_CALL):
                with contextlib.suppress(asyncio.CancelledError, ActivityError, _StepFailed):
                    await task
            raise
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ActivityError, _StepFailed):
                await task
            raise _RollbackRequested
        return task.result()

    async def _announce(self, spec: MigrationSpec) -> None:
        """Memo and search attributes, so migrations can be listed by app and phase."""
        state = self._state
        if state.registered_search_attributes is None:
            try:
                registered = await workflow.execute_local_activity(
                    contracts.REGISTERED_SEARCH_ATTRIBUTES.name,
                    contracts.RegisteredSearchAttributesInput(),
                    result_type=contracts.REGISTERED_SEARCH_ATTRIBUTES.result,
                    start_to_close_timeout=contracts.REGISTERED_SEARCH_ATTRIBUTES.start_to_close,
                    retry_policy=REGISTERED_SEARCH_ATTRIBUTES_RETRY,
                )
                state.registered_search_attributes = [n for n in registered.names if n in SEARCH_ATTRIBUTE_KEYS]
            except ActivityError as err:
                self._raise_if_cancelled()
                state.registered_search_attributes = []
                self._warn(f"could not list the namespace's search attributes (listing by phase is off): {err}")
            missing = sorted(set(SEARCH_ATTRIBUTE_KEYS) - set(state.registered_search_attributes))
            if missing:
                self._warn(
                    f"search attributes {missing} are not registered on the namespace; register them to filter "
                    "migrations by app, phase and weight (`temporal operator search-attribute create`)"
                )
        workflow.upsert_memo({"app": spec.name, "requested_by": spec.requested_by})
        self._publish()

    def _publish(self) -> None:
        registered = self._state.registered_search_attributes
        if not registered:
            return
        values: dict[str, Any] = {
            SA_APP: self._state.app,
            SA_PHASE: self._state.phase.value,
            SA_GREEN_WEIGHT: self._state.green_weight,
        }
        updates: list[SearchAttributeUpdate[Any]] = [
            SEARCH_ATTRIBUTE_KEYS[name].value_set(values[name]) for name in registered
        ]
        workflow.upsert_search_attributes(updates)

    def _enter(self, phase: Phase) -> None:
        state = self._state
        if state.timings and state.timings[-1].phase is phase and state.timings[-1].ended is None:
            return  # resumed after continue-as-new: same phase, same timing
        now = workflow.now()
        self._finish_timing(now)
        state.timings.append(PhaseTiming(phase=phase, started=now))
        state.phase = phase
        self._audit(SYSTEM_ACTOR, "phase", phase.value)
        self._publish()

    def _finish_timing(self, now: datetime | None = None) -> None:
        timings = self._state.timings
        if timings and timings[-1].ended is None:
            timings[-1].ended = now or workflow.now()

    def _audit(self, actor: str, kind: str, detail: str, *, accepted: bool = True, reason: str | None = None) -> None:
        self._state.events.append(
            AuditEvent(time=workflow.now(), actor=actor, kind=kind, detail=detail, accepted=accepted, reason=reason)
        )
        if not accepted:
            workflow.logger.info("refused %s from %s: %s", kind, actor, reason)

    def _warn(self, message: str) -> None:
        if message not in self._state.warnings:
            self._state.warnings.append(message)
            self._audit(SYSTEM_ACTOR, "warning", message)

    def _aws(self, spec: MigrationSpec) -> contracts.AwsContext:
        return contracts.AwsContext(region=spec.region, rate_limits=spec.rate_limits)

    def _plan_or_fail(self) -> contracts.MigrationPlan:
        if self._state.plan is None:
            raise _StepFailed("no plan: the planning phase did not complete")
        return self._state.plan

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        if info.is_continue_as_new_suggested():
            return True
        limit = self._options.continue_as_new_at_history_length
        return limit is not None and info.get_current_history_length() >= limit

    async def _continue_as_new(self) -> None:
        # Handlers are synchronous today, but an update handler that awaits must not be cut off.
        await workflow.wait_condition(workflow.all_handlers_finished)
        state = self._state
        self._audit(
            SYSTEM_ACTOR, "continue_as_new", f"history at {workflow.info().get_current_history_length()} events"
        )
        state.runs += 1
        # Only a valid spec (a JSON object) gets this far.
        spec_json = self._spec_json if isinstance(self._spec_json, dict) else {}
        workflow.continue_as_new(MigrationInput.envelope(spec_json, state, self._options))

    def _report(self, outcome: Outcome) -> MigrationReport:
        state = self._state
        return MigrationReport(
            app=state.app,
            outcome=outcome,
            phase=state.phase,
            green_weight=state.green_weight,
            plan=state.plan,
            provisioned=state.provisioned,
            weights=state.weights,
            approvals=state.approvals,
            rollback=state.rollback,
            drain=state.drain,
            decommissioned=state.decommissioned,
            timings=state.timings,
            warnings=state.warnings,
            events=state.events,
        )


# --- pure helpers -------------------------------------------------------------------------------


def weight_mismatches(expected: list[contracts.ShifterWeights], readings: list[contracts.ShifterReading]) -> list[str]:
    by_id = {r.shifter_id: r for r in readings}
    problems: list[str] = []
    for want in expected:
        got = by_id.get(want.shifter_id)
        if got is None:
            problems.append(f"{want.shifter_id}: no reading")
        elif (
            got.promoted != want.promoted
            # A promoted CloudFront primary serves green whatever its (now unused) policy weight says.
            or (
                not want.promoted
                and (abs(got.blue - want.blue) > WEIGHT_TOLERANCE or abs(got.green - want.green) > WEIGHT_TOLERANCE)
            )
        ):
            problems.append(
                f"{want.shifter_id}: expected blue {want.blue:g} / green {want.green:g}"
                f"{' (promoted)' if want.promoted else ''}, read blue {got.blue:g} / green {got.green:g}"
                f"{' (promoted)' if got.promoted else ''}"
            )
        elif not got.in_sync:
            problems.append(f"{want.shifter_id}: written but not in sync yet ({got.detail})")
    return problems


def cause_message(err: BaseException) -> str:
    """The innermost message of an activity failure (the activity's own explanation)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)


def describe_error(err: BaseException) -> str:
    if isinstance(err, ActivityError):
        return f"activity {err.activity_type} failed: {cause_message(err)}"
    return str(err) or type(err).__name__


__all__ = ["MeshMigration", "weight_mismatches"]
