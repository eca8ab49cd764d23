"""What every part of the MeshMigration workflow shares: its state, its constants, and the
bookkeeping around activities, the audit trail and continue-as-new.

The workflow class is assembled from one mixin per concern (flagger's scheduler split): message
handlers (handlers.py), watching (watching.py: gates, countdowns, alarm polls, analysis), and
compensation (compensation.py), on this base; ``run`` and the phases are in migration.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import Priority, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError
from temporalio.workflow import ActivityCancellationType, ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from meshshift.migration import contracts, notifications, paging, state_parts
    from meshshift.migration import plan as planning
    from meshshift.migration.constants import (
        COMPENSATION_PRIORITY_KEY,
        SA_APP,
        SA_GREEN_WEIGHT,
        SA_PHASE,
        SIGNAL_RELEASE_STATE_PART,
        STATE_PART_WORKFLOW_TYPE,
        compensation_task_queue,
    )
    from meshshift.migration.details import current_details
    from meshshift.migration.spec import MigrationSpec
    from meshshift.migration.state import (
        PLAN_SERVICES_SHOWN,
        AuditEvent,
        MigrationInput,
        MigrationReport,
        MigrationState,
        Outcome,
        Phase,
        PhaseTiming,
        ResumeParts,
        RollbackRequest,
        RollbackTrigger,
        RunOptions,
        StateTotals,
        lifecycle_index,
        plan_shown,
    )
    from meshshift.migration.summaries import activity_summary
    from meshshift.workflows.activity_options import (
        NOTIFICATION_RETRY,
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
PATCH_NOTIFICATIONS = "notifications"
# How long a migration that has ended still waits for its last notifications (the outcome is decided).
NOTIFICATION_FLUSH_LIMIT = timedelta(minutes=3)
PATCH_BACKEND_GATE = "backend-gate-stops-planning"
PATCH_BACKEND_RECHECK = "backend-gate-rechecks-green-from-ecs"
PATCH_COMPENSATION_PRIORITY = "compensation-task-priority"
PATCH_COMPENSATION_QUEUE = "compensation-task-queue"
# Issue 22: blue is discovered in pages and the plan keeps no green task definitions.
PATCH_PAGED_DISCOVERY = "paged-discovery"
# Issue 22: planning pauses every plan_translation.STEP_SERVICES services, each pause a 1 ms timer,
# so that no workflow task runs into the SDK's 2 s deadlock detector (it did at about 2,000 services).
PATCH_PLANNING_IN_STEPS = "planning-in-steps"
# Issue 22: activities whose input or result lists every green service take them in batches of
# paging.BATCH_SERVICES (at 5,000 services wait_services_stable's result was 765 KB, collect_metrics'
# input 515 KB).
PATCH_BOUNDED_PAYLOADS = "service-batches"
# Issue 22: provisioning more than paging.PROVISION_CHUNK services goes a chunk at a time and may
# continue-as-new between chunks, so that no run's history holds every provisioning.
PATCH_PROVISION_IN_CHUNKS = "provisioning-in-chunks"
# Issue 22: App Mesh's resources are read a page at a time (discover_blue_mesh_page), each page
# bounded in bytes: the one inventory passed Temporal's 256 KB warning at about 200 virtual nodes.
PATCH_MESH_IN_PAGES = "mesh-in-pages"
# Issue 22: a continue-as-new state whose per-service fields compress past state_parts.PART_BYTES
# leaves them in holder workflows (workflows/state_part.py): the input was 401 KB at 5,000 services.
PATCH_STATE_IN_PARTS = "state-in-parts"
# A rollback writes blue's weights at once, as a local activity in the worker that handles the
# alarm, before the verified write on the compensation queue: its writes land without waiting for
# the workflow task to complete and the activity to be dispatched (about 30 ms on a dev server).
PATCH_ROLLBACK_WRITES_AT_ONCE = "rollback-writes-at-once"
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


class MigrationBase:
    """State and bookkeeping; MeshMigration.__init__ sets the attributes."""

    _spec_json: Any
    _spec: MigrationSpec | None
    _spec_error: str | None
    _options: RunOptions
    _state: MigrationState
    _sources: contracts.MetricSources | None
    _notifying: set[asyncio.Task[None]]
    # Set from a continue-as-new input whose per-service fields wait in holder workflows, until they
    # are read back (_read_back_parts).
    _parts_loading: ResumeParts | None

    def _app_name(self) -> str:
        if self._spec is not None:
            return self._spec.name
        name = self._spec_json.get("name") if isinstance(self._spec_json, dict) else None
        return name if isinstance(name, str) else "unknown"

    def _at(self, phase: Phase) -> bool:
        """True if the lifecycle has not yet passed ``phase`` (a resumed run skips finished phases)."""
        return lifecycle_index(self._state.phase) <= lifecycle_index(phase)

    async def _write_weights(
        self,
        spec: MigrationSpec,
        weights: list[contracts.ShifterWeights],
        *,
        compensation: bool = False,
        pending: list[contracts.PendingChange] | None = None,
    ) -> None:
        """Write every shifter's weights, then make sure they read back as written. ``pending``:
        changes an earlier write made towards the same weights, to wait for instead of repeating."""
        result = await self._call(
            contracts.SET_EDGE_WEIGHTS,
            contracts.SetEdgeWeightsInput(aws=self._aws(spec), targets=self._targets(spec, weights, pending)),
            interruptible=not compensation,
            compensation=compensation,
        )
        # The write's own read-back is the verification when it already matches (one activity per
        # step instead of two); histories from before this change always read again.
        if workflow.patched(PATCH_VERIFY_FROM_WRITE) and not weight_mismatches(weights, result.readings):
            self._state.weights = {r.shifter_id: r for r in result.readings}
            return
        await self._verify_weights(spec, weights, compensation=compensation)

    @staticmethod
    def _targets(
        spec: MigrationSpec,
        weights: list[contracts.ShifterWeights],
        pending: list[contracts.PendingChange] | None = None,
    ) -> list[contracts.ShifterTarget]:
        edges = {planning.shifter_id(e): e for e in spec.edge}
        changes = {p.shifter_id: p.change_id for p in pending or []}
        return [
            contracts.ShifterTarget(edge=edges[w.shifter_id], weights=w, pending_change=changes.get(w.shifter_id, ""))
            for w in weights
        ]

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
            summary=activity_summary(activity.name, arg, compensation=compensation),
            # A rollback's calls go first: ahead of ramp work in the task queue, and into the rate
            # limiter's reserved tokens on the worker (activities/aws.py).
            priority=Priority(priority_key=COMPENSATION_PRIORITY_KEY)
            if compensation and workflow.patched(PATCH_COMPENSATION_PRIORITY)
            else Priority.default,
            # ...and on a task queue of their own, whose worker slots ramp work can never hold
            # (priority orders only what is still queued; a full worker starts nothing new).
            task_queue=self._compensation_queue() if compensation else None,
        )
        if not interruptible:
            evicted = False
            try:
                result: R = await call
            except GeneratorExit:
                # The worker evicted this run from its cache and is closing its coroutines outside
                # the workflow's event loop, where no workflow API may be called.
                evicted = True
                raise
            finally:
                # The compensation must finish: a cancellation never stops it.
                if not compensation and not evicted:
                    self._raise_if_cancelled()
            return result
        return await self._interruptible(call)

    @staticmethod
    def _ask_compensation_patches() -> None:
        """Ask the compensation calls' patches now, before a local activity, not after it.

        The SDK answers a patch asked for the first time from the patch markers it has been shown
        so far. On replay it resolves a local activity before it shows the next workflow task's
        events, so when the local activity's marker ended its workflow task (how the worker's
        timing sometimes cuts it), a patch first asked right after is answered False although its
        marker follows: the replay fails (TMPRL1100), every query of the run fails with it, and
        the run stops at its next workflow task. Asked before, the markers share the local
        activity's request's workflow task. Replay does not check the order of patch markers
        against a local activity's marker, so the histories recorded before this (uncut) replay too
        (tests/histories/rollback_v4.json); a cut one of those no code can replay
        (docs/operations.md: reset it).
        """
        workflow.patched(PATCH_COMPENSATION_PRIORITY)
        workflow.patched(PATCH_COMPENSATION_QUEUE)

    def _compensation_queue(self) -> str | None:
        """The rollback's task queue; None (the workflow's own) for histories from before it."""
        if not workflow.patched(PATCH_COMPENSATION_QUEUE):
            return None
        return compensation_task_queue(workflow.info().task_queue)

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
        self._show_details()

    def _show_details(self) -> None:
        """Refresh the Web UI's current details (phase, weights, open gate and its commands,
        countdown, last refusal). Called whenever the audit trail changes and before every wait.
        set_current_details records no command, so old histories replay without a patch."""
        workflow.set_current_details(current_details(self._state, self._spec))

    def _notify(self, build: Callable[[MigrationSpec], contracts.Notification]) -> None:
        """Send a notification to every target of the spec, without waiting for it.

        Each delivery runs in a task of its own, off the lifecycle's path: nothing awaits it but the
        end of the run (``_flush_notifications``), and a failed one is only audited. Behind a patch
        because it adds activity calls; a spec without ``notifications`` records no patch marker.
        """
        spec = self._spec
        if spec is None or spec.notifications is None or not workflow.patched(PATCH_NOTIFICATIONS):
            return
        for arg in notifications.notify_inputs(spec, build(spec)):
            task = asyncio.create_task(self._deliver(arg))
            self._notifying.add(task)
            task.add_done_callback(self._notifying.discard)

    async def _deliver(self, arg: contracts.NotifyInput) -> None:
        definition = contracts.SEND_NOTIFICATION
        try:
            await workflow.execute_activity(
                definition.name,
                arg,
                result_type=definition.result,
                start_to_close_timeout=definition.start_to_close,
                retry_policy=NOTIFICATION_RETRY,
                summary=activity_summary(definition.name, arg),
            )
        except ActivityError as err:
            target = arg.target.topic_arn if isinstance(arg.target, contracts.SnsTarget) else arg.target.describe()
            self._audit(
                SYSTEM_ACTOR,
                "notification_failed",
                f"{arg.notification.kind.value} to {target} was not delivered: {cause_message(err)}",
            )

    async def _flush_notifications(self) -> None:
        """Give the notifications still in flight a bounded time before the run ends: the last ones
        (completed, rolled back, failed) matter most. No timer at all when none is in flight."""
        if self._notifying:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: not self._notifying, timeout=NOTIFICATION_FLUSH_LIMIT)

    def _warn(self, message: str) -> None:
        if message not in self._state.warnings:
            self._state.warnings.append(message)
            self._audit(SYSTEM_ACTOR, "warning", message)

    def _aws(self, spec: MigrationSpec) -> contracts.AwsContext:
        return contracts.AwsContext(region=spec.region, rate_limits=spec.rate_limits)

    def _batches(self, items: list[T]) -> list[list[T]]:
        """``items`` in batches of paging.BATCH_SERVICES; one batch when they are few, and in histories
        from before patch service-batches (asked only when there is more than one batch, so that
        smaller migrations keep their histories as they were)."""
        if len(items) <= paging.BATCH_SERVICES or not workflow.patched(PATCH_BOUNDED_PAYLOADS):
            return [items]
        return paging.pages(items, paging.BATCH_SERVICES)

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
        # Only a valid spec (a JSON object) gets this far.
        spec_json = self._spec_json if isinstance(self._spec_json, dict) else {}
        reference = None
        parts = state_parts.parts_of(state, self._options.state_part_bytes or state_parts.PART_BYTES)
        if parts is not None and workflow.patched(PATCH_STATE_IN_PARTS):
            reference = state_parts.reference(state, parts, await self._hold_parts(parts))
            # Messages handled while the holders started are in the state: the head is taken after
            # them (they never change the per-service fields, which only the workflow's code writes).
            await workflow.wait_condition(workflow.all_handlers_finished)
        # No await from here on: a query sees the next run's count only once it runs.
        state.runs += 1
        carried = state_parts.head_of(state) if reference is not None else state
        workflow.continue_as_new(MigrationInput.envelope(spec_json, carried, self._options, reference))

    async def _hold_parts(self, texts: list[str]) -> list[str]:
        """One holder workflow per part, each outliving this run; their ids, in order."""
        info = workflow.info()
        ids = [f"{info.workflow_id}/state-part-{info.run_id}-{i}" for i in range(len(texts))]
        await asyncio.gather(
            *(
                workflow.start_child_workflow(
                    STATE_PART_WORKFLOW_TYPE,
                    contracts.StatePart(data=text),
                    id=holder,
                    result_type=contracts.StatePartHeld,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                    static_summary=f"part {i + 1} of {len(texts)} of the state of {info.workflow_id}",
                )
                for i, (holder, text) in enumerate(zip(ids, texts, strict=True))
            )
        )
        return ids

    async def _read_back_parts(self, parts: ResumeParts) -> None:
        """The per-service fields the last run left in holder workflows, put back into the state;
        then the holders are released. Until then the status query answers from the head, with the
        last run's totals, and status_plan_services asks to be asked again."""
        read = await asyncio.gather(
            *(
                self._call(contracts.READ_STATE_PART, contracts.ReadStatePartInput(workflow_id=i), interruptible=False)
                for i in parts.workflow_ids
            )
        )
        try:
            state_parts.join(self._state, [r.data for r in read], parts)
        except ValueError as err:
            raise _StepFailed(str(err)) from err
        self._parts_loading = None
        # Exceptions returned, not raised: a holder already gone (its holding time over) needs no release.
        await asyncio.gather(
            *(workflow.get_external_workflow_handle(h).signal(SIGNAL_RELEASE_STATE_PART) for h in parts.workflow_ids),
            return_exceptions=True,
        )

    def _totals(self) -> StateTotals:
        """Counted from the state, or, while the last run's parts are read back, as that run left them."""
        return self._parts_loading.totals if self._parts_loading is not None else StateTotals.of(self._state)

    def _report(self, outcome: Outcome) -> MigrationReport:
        state = self._state
        return MigrationReport(
            app=state.app,
            outcome=outcome,
            phase=state.phase,
            green_weight=state.green_weight,
            plan=plan_shown(state.plan),
            provisioned=state.provisioned[:PLAN_SERVICES_SHOWN],
            **self._totals().model_dump(),
            weights=state.weights,
            approvals=state.approvals,
            rollback=state.rollback,
            drain=state.drain,
            decommissioned=state.decommissioned,
            timings=state.timings,
            warnings=state.warnings,
            events=state.events,
        )
