"""Watching a migration: approval gates, durable countdowns, alarm polls and the metric analysis."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from meshshift.migration import analysis, contracts, notifications
    from meshshift.migration import plan as planning
    from meshshift.migration.spec import ApprovalTimeoutAction, MigrationSpec
    from meshshift.migration.state import (
        AwaitingApproval,
        Countdown,
        CountdownPurpose,
        GateKind,
        RollbackTrigger,
    )


from meshshift.workflows.base import (
    MIN_WAIT,
    PATCH_COUNTDOWN_CLOCK,
    SYSTEM_ACTOR,
    ZERO,
    MigrationBase,
    _RollbackRequested,
    cause_message,
)


class Watching(MigrationBase):
    """Gates and countdowns, and the watchers that run while they wait."""

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
        gate = state.awaiting_approval
        self._notify(lambda spec: notifications.gate_opened(state, spec, gate))

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

        self._show_details()  # the countdown's end just moved (a pause, a resume, a new wait)
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
        sources = self._metric_sources(spec)
        end = workflow.now()
        snapshots = []
        # The edge's sources with the first batch of services; the batches' figures add up.
        for index, batch in enumerate(self._batches(sources.service_connect)):
            part = contracts.MetricSources(alb=sources.alb if index == 0 else [], service_connect=batch)
            try:
                snapshot = await self._call(
                    contracts.COLLECT_METRICS,
                    contracts.CollectMetricsInput(aws=self._aws(spec), sources=part, window=window, end=end),
                    interruptible=False,
                )
            except ActivityError as err:
                self._warn(f"reading metrics failed (treated as no verdict): {cause_message(err)}")
                return None
            snapshots.append(snapshot)
        return snapshots[0] if len(snapshots) == 1 else analysis.merged(snapshots)

    def _metric_sources(self, spec: MigrationSpec) -> contracts.MetricSources:
        if self._sources is None:
            self._sources = planning.metric_sources(spec, self._plan_or_fail())
        return self._sources

    def _has_metrics(self, spec: MigrationSpec) -> bool:
        if self._state.plan is None:
            return False
        sources = self._metric_sources(spec)
        return bool(sources.alb or sources.service_connect)
