"""Compensation: the rollback that reverses what was done, and survives cancellation."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from meshshift.migration import contracts, notifications
    from meshshift.migration.spec import MigrationSpec
    from meshshift.migration.state import (
        MigrationReport,
        Phase,
        RollbackRecord,
        RollbackTrigger,
    )
    from meshshift.migration.summaries import activity_summary
    from meshshift.workflows.activity_options import FIRST_WRITE_RETRY, FIRST_WRITE_TIMEOUT


from meshshift.workflows.base import (
    PATCH_ROLLBACK_WRITES_AT_ONCE,
    SYSTEM_ACTOR,
    MigrationBase,
    _Abort,
    _RollbackRequested,
    _StepFailed,
    describe_error,
)


class Compensation(MigrationBase):
    """Unwinding to 100% blue, shielded from cancellation."""

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
        self._notify(lambda _: notifications.rollback_started(state, record))
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
            self._notify(lambda _: notifications.rollback_ended(state, record))
            raise ApplicationError(state.error, type="RollbackFailed", non_retryable=True) from err
        record.finished = workflow.now()
        record.duration_seconds = (record.finished - record.started).total_seconds()
        self._enter(Phase.ROLLED_BACK)
        self._audit(
            SYSTEM_ACTOR, "rolled_back", f"rolled back in {record.duration_seconds:g}s: {', '.join(record.reversed)}"
        )
        self._finish_timing()
        self._notify(lambda _: notifications.rollback_ended(state, record))

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
        pending: list[contracts.PendingChange] = []
        if workflow.patched(PATCH_ROLLBACK_WRITES_AT_ONCE):
            self._ask_compensation_patches()
            pending = await self._write_at_once(spec, state.plan.rollback_weights)
        await self._write_weights(spec, state.plan.rollback_weights, compensation=True, pending=pending)
        state.green_weight = 0
        state.weights_changed_at = workflow.now()
        record.reversed.append("every shifter at 100% blue (verified)")
        self._publish()

    async def _write_at_once(
        self, spec: MigrationSpec, weights: list[contracts.ShifterWeights]
    ) -> list[contracts.PendingChange]:
        """Blue's weights written by this worker, as a local activity: the first attempt, made
        without a round trip through the server, and neither waited on nor read back. Its failure
        is only logged: the verified write that follows on the compensation queue (which waits for
        propagation, reads back and retries until it succeeds) is what the rollback stands on, and
        it writes whatever this one did not. Returns the changes it made that the verified write
        waits for instead of making again (Route 53's: a second change would propagate anew)."""
        arg = contracts.SetEdgeWeightsInput(
            aws=self._aws(spec),
            targets=self._targets(spec, weights),
            wait_for_sync=False,
            rollback=True,
            read_back=False,
        )
        try:
            result: contracts.EdgeWeightsResult = await workflow.execute_local_activity(
                contracts.SET_EDGE_WEIGHTS.name,
                arg,
                result_type=contracts.SET_EDGE_WEIGHTS.result,
                start_to_close_timeout=FIRST_WRITE_TIMEOUT,
                retry_policy=FIRST_WRITE_RETRY,
                summary=activity_summary(contracts.SET_EDGE_WEIGHTS.name, arg, compensation=True),
            )
        except FailureError as err:
            # A local activity's failure arrives as its own error (ApplicationError, TimeoutError),
            # not wrapped in an ActivityError as a scheduled activity's is.
            workflow.logger.warning("the rollback's first write failed; the verified write follows: %s", err)
            return []
        return result.changes

    async def _delete_green(self, spec: MigrationSpec, record: RollbackRecord) -> None:
        if self._parts_loading is not None:
            # The state holds only the first provisioning results: deleting those alone would leave
            # the rest behind under a record that says green was deleted.
            self._warn(
                "green services were not deleted: this run could not read back its provisioning results from "
                f"{', '.join(self._parts_loading.workflow_ids)}; delete the green services this migration created "
                f"in cluster {spec.green.cluster} by hand (the last run's history lists them)"
            )
            return
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

    async def _fail(self, reason: str, cancelled: bool) -> None:
        state = self._state
        state.error = reason
        state.countdown = None
        state.awaiting_approval = None
        failed_in = state.phase.value
        self._enter(Phase.FAILED)
        self._finish_timing()
        self._notify(lambda _: notifications.phase_failed(state, failed_in, reason))
        await workflow.wait_condition(workflow.all_handlers_finished)
        if cancelled:
            raise asyncio.CancelledError
        raise ApplicationError(f"The migration failed: {reason}", type="MigrationFailed", non_retryable=True)
