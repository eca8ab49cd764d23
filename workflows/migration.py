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
from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import VersioningBehavior
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from meshshift.migration import analysis, backend_gate, contracts, notifications, paging
    from meshshift.migration import plan as planning
    from meshshift.migration.constants import (
        WORKFLOW_TYPE,
    )
    from meshshift.migration.errors import SpecError
    from meshshift.migration.loading import validate_spec
    from meshshift.migration.spec import ApprovalMode, MigrationSpec
    from meshshift.migration.state import (
        Countdown,
        DrainRecord,
        GateKind,
        MigrationInput,
        MigrationReport,
        MigrationState,
        Phase,
        RollbackTrigger,
        RunOptions,
        StepStage,
        WorkerFlip,
    )
    from meshshift.workflows.activity_options import (
        DISCOVERY_CONCURRENCY,
        PROVISION_CONCURRENCY,
    )


from meshshift.workflows.base import (
    PATCH_BACKEND_GATE,
    PATCH_BACKEND_RECHECK,
    PATCH_MESH_IN_PAGES,
    PATCH_PAGED_DISCOVERY,
    PATCH_PLANNING_IN_STEPS,
    PATCH_PROVISION_IN_CHUNKS,
    SYSTEM_ACTOR,
    InputT,
    _Abort,
    _RollbackRequested,
    _StepFailed,
    weight_mismatches,
)
from meshshift.workflows.compensation import Compensation
from meshshift.workflows.handlers import MessageHandlers
from meshshift.workflows.watching import Watching

# The versioning behaviour MeshMigration runs with on a versioned worker (the worker's
# WorkerDeploymentConfig applies it; on the decorator, a server refuses every workflow task of an
# unversioned worker). AUTO_UPGRADE: a migration lasts days or weeks, so a running one moves to each
# new build at its next workflow task instead of pinning a build (and its activities, with any bug a
# new build fixes) for its whole life. What keeps that safe is the rule that every change of workflow
# code goes behind workflow.patched() and replays the stored histories (docs/operations.md).
VERSIONING_BEHAVIOR = VersioningBehavior.AUTO_UPGRADE

# The shortest timer: a pause in planning only needs a new workflow task, not time.
PLANNING_PAUSE = timedelta(milliseconds=1)
# A batch of green services reached after the steady-state deadline is still looked at once.
MIN_STABLE_WAIT = timedelta(seconds=30)


@workflow.defn(name=WORKFLOW_TYPE)
class MeshMigration(MessageHandlers, Watching, Compensation):
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
        self._parts_loading = None
        self._resume_error: str | None = None
        try:
            if input.options_json is not None:
                self._options = RunOptions.model_validate(input.options_json)
            if input.resume_json is not None:
                self._state = MigrationState.model_validate(input.resume_json)
            self._parts_loading = input.resume_parts
        except ValueError as err:
            self._resume_error = f"the continue-as-new input could not be read: {err}"
        if self._spec is None:
            self._state.phase = Phase.FAILED
            self._state.error = self._spec_error
        self._sources: contracts.MetricSources | None = None
        self._notifying: set[asyncio.Task[None]] = set()

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
        if self._resume_error is not None:
            # Not a workflow failure: this workflow task fails and is retried, so the run stays open
            # with the state the last run carried, until a worker that can read it takes it (an
            # older build reading a newer format). Starting over from planning would ramp from the
            # first step again while traffic is elsewhere.
            raise RuntimeError(
                f"{self._resume_error}. Nothing was done by this run; it waits for a worker that reads this input: "
                "run the meshshift build that continued this migration, or a newer one (docs/operations.md, "
                "'Upgrading meshshift while migrations run')."
            )
        evicted = False
        try:
            try:
                report = await self._lifecycle(spec)
            except workflow.ContinueAsNewError:
                raise
            except GeneratorExit:
                # Evicted from the worker's cache (see MigrationBase._call): nothing may run now, and
                # the run goes on where it was, from its history, on whichever worker picks it up.
                evicted = True
                raise
            except BaseException as err:  # CancelledError is a BaseException: it must compensate too
                report = await self._unwind(spec, err)
        finally:
            # Whatever the outcome (and before a continue-as-new), the last notifications go out.
            if not evicted:
                await self._flush_notifications()
        await workflow.wait_condition(workflow.all_handlers_finished)
        # Built again from the state: a delivery that failed during the flush is in its events too.
        return self._report(report.outcome)

    async def _lifecycle(self, spec: MigrationSpec) -> MigrationReport:
        # Asked before anything else: a patch marker recorded after the search-attribute local
        # activity's marker, in the same workflow task, failed queries that replayed the history.
        paged = self._at(Phase.PLANNING) and workflow.patched(PATCH_PAGED_DISCOVERY)
        mesh_in_pages = paged and workflow.patched(PATCH_MESH_IN_PAGES)
        if self._parts_loading is not None:
            await self._read_back_parts(self._parts_loading)
        await self._announce(spec)
        if self._at(Phase.PLANNING):
            await self._plan(spec, paged=paged, mesh_in_pages=mesh_in_pages)
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
        self._notify(lambda _: notifications.completed(self._state))
        return self._report("completed")

    async def _plan(self, spec: MigrationSpec, *, paged: bool, mesh_in_pages: bool) -> None:
        """``paged`` (patch paged-discovery): before, one discover_blue result held every blue task
        definition (over Temporal's 2 MB blob limit at about 1,200 services) and the plan kept
        green's task definitions."""
        self._enter(Phase.PLANNING)
        if paged:
            discovery = await self._interruptible(self._discover_in_pages(spec, mesh_in_pages=mesh_in_pages))
        else:
            discovery = await self._call(
                contracts.DISCOVER_BLUE,
                contracts.DiscoverInput(aws=self._aws(spec), spec=spec),
            )
        plan = await self._build_plan(spec, discovery)
        if paged:
            # Green's task definitions are made again by provisioning from blue's revisions, so
            # neither the state, nor the status query, nor continue-as-new carries them.
            plan = paging.without_task_definitions(plan)
        state = self._state
        state.plan = plan
        state.discovery_warnings = list(discovery.warnings)
        state.blue_worker_counts = {s.name: s.desired_count for s in discovery.async_workers}
        state.blue_task_definition_arns = sorted(
            {s.task_definition_arn for s in [*discovery.services, *discovery.async_workers]}
        )
        if discovery.appmesh_status is contracts.AppMeshStatus.UNAVAILABLE:
            self._warn("the App Mesh API did not answer: blue was discovered from the ECS task definitions alone")
        # The plan's warnings start with discovery's (grouped by service when many share one).
        for warning in [*plan.warnings, *(f"untranslatable: {u}" for u in plan.untranslatable)]:
            self._warn(warning)
        # Patched: before, a plan whose green answered none of some backend still went on to provisioning.
        if plan.missing_backends and workflow.patched(PATCH_BACKEND_GATE):
            raise _StepFailed(plan.backend_gate or "backend gate: backends without an answer in green")
        self._audit(
            SYSTEM_ACTOR,
            "plan",
            f"{len(plan.services)} services, {len(plan.async_workers)} async workers, "
            f"steps {[s.percent for s in plan.steps]} on {len(spec.edge)} shifters",
        )

    async def _build_plan(self, spec: MigrationSpec, discovery: contracts.BlueDiscovery) -> contracts.MigrationPlan:
        steps = planning.plan_in_steps(spec, discovery)
        while True:
            try:
                next(steps)
            except StopIteration as done:
                plan: contracts.MigrationPlan = done.value
                return plan
            except (ValueError, KeyError) as err:
                raise _StepFailed(f"planning failed: {err}") from err
            # A pause ends this workflow task. Patched: before, the whole plan was built in one.
            if workflow.patched(PATCH_PLANNING_IN_STEPS):
                await workflow.sleep(PLANNING_PAUSE, summary="planning: the next services")

    async def _discover_in_pages(self, spec: MigrationSpec, *, mesh_in_pages: bool) -> contracts.BlueDiscovery:
        """App Mesh and the edge in one call, then (with ``mesh_in_pages``) the mesh's resources a
        page per call alongside blue's services a page per call, each result bounded; the pages are
        put together here, in memory, never in one payload."""
        aws = self._aws(spec)
        first = await self._call(
            contracts.DISCOVER_BLUE_MESH,
            contracts.DiscoverInput(aws=aws, spec=spec, mesh_in_pages=mesh_in_pages),
            interruptible=False,
        )
        limit = asyncio.Semaphore(DISCOVERY_CONCURRENCY)
        failed = False

        async def read_mesh(mesh: contracts.BlueMeshDiscovery) -> contracts.BlueMeshDiscovery:
            # One page after another: each goes on from App Mesh's list token of the one before.
            nonlocal failed
            while mesh.appmesh_next is not None:
                try:
                    page = await self._call(
                        contracts.DISCOVER_BLUE_MESH_PAGE,
                        paging.mesh_page_input(aws, spec, mesh.appmesh_next),
                        interruptible=False,
                    )
                except BaseException:
                    failed = True
                    raise
                mesh = paging.with_mesh_page(mesh, page)
            return mesh

        async def read(refs: list[contracts.BlueServiceRef], every: bool) -> list[contracts.BlueServicesPage]:
            nonlocal failed
            read_pages: list[contracts.BlueServicesPage] = []
            async with limit:
                while refs:
                    if failed:
                        raise _StepFailed("not started: another page of blue discovery failed")
                    try:
                        page = await self._call(
                            contracts.DISCOVER_BLUE_SERVICES,
                            contracts.DiscoverServicesInput(
                                aws=aws, services=refs, mesh=spec.blue.mesh, every_registration=every
                            ),
                            interruptible=False,
                        )
                    except BaseException:
                        failed = True
                        raise
                    read_pages.append(page)
                    # A page stops early at its byte budget; the activity always reads at least one
                    # describe batch, so this ends.
                    refs = page.unread
            return read_pages

        async def read_services(every: bool) -> list[contracts.BlueServicesPage]:
            groups = await asyncio.gather(*(read(refs, every) for refs in paging.pages(paging.blue_refs(spec))))
            return [page for group in groups for page in group]

        # Whether App Mesh data came decides which Cloud Map registrations the services' pages read,
        # and the first call already says it: the services are read alongside the mesh's pages.
        every = paging.without_mesh_data(first.appmesh_status)
        mesh, pages = await asyncio.gather(read_mesh(first), read_services(every))
        if paging.without_mesh_data(mesh.appmesh_status) != every:
            # The App Mesh API stopped answering part way, with no snapshot to go on from: every
            # service's registration matters now, so the services are read again.
            pages = await read_services(not every)
        return paging.assemble(mesh, pages)

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
        if len(targets) > paging.PROVISION_CHUNK and workflow.patched(PATCH_PROVISION_IN_CHUNKS):
            await self._provision_in_chunks(spec, namespace, targets)
        else:
            self._state.provisioned = await self._interruptible(self._provision_all(spec, namespace, targets))
        provisioned = self._state.provisioned
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

    async def _provision_in_chunks(
        self,
        spec: MigrationSpec,
        namespace: contracts.NamespaceResult,
        targets: Sequence[contracts.GreenServicePlan],
    ) -> None:
        """A chunk of PROVISION_CHUNK services at a time, each recorded as it completes; between
        chunks the run may continue-as-new, and the next run provisions what is left."""
        state = self._state
        done = {p.service_name for p in state.provisioned}
        left = [t for t in targets if t.green_service not in done]
        for chunk in paging.pages(left, paging.PROVISION_CHUNK):
            state.provisioned.extend(await self._interruptible(self._provision_all(spec, namespace, chunk)))
            self._audit(SYSTEM_ACTOR, "provisioning", f"{len(state.provisioned)} of {len(targets)} green services")
            if len(state.provisioned) < len(targets) and self._should_continue_as_new():
                await self._continue_as_new()

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
        # Patched: before, no read-back of green's Service Connect configuration before the first weight change.
        if any(p.backends for p in [*plan.services, *plan.async_workers]) and workflow.patched(PATCH_BACKEND_RECHECK):
            await self._recheck_backends(spec, plan)
        if self._metric_sources(spec).alb or self._metric_sources(spec).service_connect:
            self._state.baseline = await self._collect_metrics(spec, spec.analysis.window)
        self._audit(SYSTEM_ACTOR, "validated", "green is stable and healthy")

    async def _recheck_backends(self, spec: MigrationSpec, plan: contracts.MigrationPlan) -> None:
        """The backend gate again, against the green services as ECS holds them (issue 18): a
        service adopted or changed since the plan must still answer every backend."""
        green = [*plan.services, *plan.async_workers]
        read: list[contracts.GreenServiceConnect] = []
        for batch in self._batches(green):
            answer = await self._call(
                contracts.READ_GREEN_SERVICE_CONNECT,
                contracts.ReadServiceConnectInput(
                    aws=self._aws(spec),
                    services=[contracts.GreenServiceRef(cluster=p.cluster, service=p.green_service) for p in batch],
                ),
            )
            read.extend(answer.services)
        missing = backend_gate.recheck(
            green, [(s.service, s.service_connect) for s in read if s.service_connect is not None]
        )
        if missing:
            raise _StepFailed(
                backend_gate.gate_message(missing, when="green as read back from ECS, before the first weight change")
            )
        self._audit(SYSTEM_ACTOR, "backends", "green answers every backend blue's clients call (read back from ECS)")

    async def _wait_green_stable(self, spec: MigrationSpec, plan: contracts.MigrationPlan) -> None:
        by_cluster: dict[str, list[str]] = {}
        for service in plan.services:
            by_cluster.setdefault(service.cluster, []).append(service.green_service)
        timeout = spec.green.steady_state_timeout
        for cluster, services in by_cluster.items():
            # One deadline for a cluster's batches: a batch waits only for what is left of the
            # timeout (a batch reached late has usually become stable meanwhile).
            deadline = workflow.now() + timeout
            for batch in self._batches(services):
                left = max(deadline - workflow.now(), MIN_STABLE_WAIT)
                stable = await self._call(
                    contracts.WAIT_SERVICES_STABLE,
                    contracts.ServicesStableInput(aws=self._aws(spec), cluster=cluster, services=batch, timeout=left),
                    wait=left,
                )
                if not stable.ok:
                    bad = [s.describe() for s in stable.services if not s.stable]
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
                contracts.DeleteAppMeshInput(
                    aws=self._aws(spec),
                    mesh=spec.blue.mesh,
                    mesh_owner=spec.blue.mesh_owner,
                    known_resources=state.plan.appmesh_resources if state.plan else [],
                ),
            )
            if result.skipped:
                self._warn(f"App Mesh {spec.blue.mesh} was not deleted: the App Mesh API did not answer")
        if deletions.blue_task_definitions and state.blue_task_definition_arns:
            for batch in self._batches(state.blue_task_definition_arns):
                await self._delete(
                    spec,
                    contracts.DEREGISTER_TASK_DEFINITIONS,
                    contracts.DeregisterTaskDefinitionsInput(aws=self._aws(spec), task_definition_arns=batch),
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


__all__ = ["VERSIONING_BEHAVIOR", "MeshMigration", "weight_mismatches"]
