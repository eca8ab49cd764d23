"""Validating green: ECS steady state, target health and deep health checks."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from meshshift.migration.contracts.base import ActivityDef, AwsContext, Payload
from meshshift.migration.spec import HealthSpec


class ServicesStableInput(Payload):
    aws: AwsContext
    cluster: str
    services: list[str]
    timeout: timedelta
    poll_interval: timedelta = timedelta(seconds=10)


class ServiceState(Payload):
    name: str
    desired_count: int
    running_count: int
    pending_count: int
    deployments: int
    rollout_state: str | None
    stable: bool
    last_event: str | None = Field(
        default=None,
        description="ECS's latest event of a service that is not stable, e.g. why a task could not be placed",
    )

    def describe(self) -> str:
        state = (
            f"running {self.running_count}/{self.desired_count}, {self.deployments} deployments, "
            f"rollout {self.rollout_state}"
        )
        return f"{self.name} ({state}" + (f"; latest ECS event: {self.last_event})" if self.last_event else ")")


class ServicesStableResult(Payload):
    ok: bool
    services: list[ServiceState]

    def waiting(self) -> str:
        """The services not yet stable, and the distinct reasons ECS gives (a full subnet, a task
        that keeps failing its health check...), each with how many services it holds back."""
        names = [s.name for s in self.services if not s.stable]
        reasons: dict[str, int] = {}
        for state in self.services:
            if not state.stable and state.last_event:
                # ECS starts each event with "(service NAME)": without it, one cause is one line.
                reason = state.last_event.removeprefix(f"(service {state.name}) ")
                reasons[reason] = reasons.get(reason, 0) + 1
        text = f"waiting for steady state: {names}"
        if reasons:
            top = sorted(reasons.items(), key=lambda item: -item[1])[:3]
            text += "; latest ECS events: " + "; ".join(
                f"{reason} ({count} service{'' if count == 1 else 's'})" for reason, count in top
            )
        return text


class TargetHealthInput(Payload):
    aws: AwsContext
    target_group_arns: list[str]
    timeout: timedelta
    poll_interval: timedelta = timedelta(seconds=10)


class TargetGroupHealth(Payload):
    target_group_arn: str
    healthy: int
    unhealthy: int
    other: int
    ok: bool


class TargetHealthResult(Payload):
    ok: bool
    groups: list[TargetGroupHealth]


class DeepHealthInput(Payload):
    health: HealthSpec


class UrlCheck(Payload):
    url: str
    ok: bool
    consecutive_successes: int
    attempts: int
    last_status: int | None = None
    last_error: str | None = None
    dependencies: dict[str, str] = Field(default_factory=dict)


class DeepHealthResult(Payload):
    ok: bool
    checks: list[UrlCheck]


# Polls ECS until steady state; the workflow adds the spec's own wait on top (see ``wait``).
WAIT_SERVICES_STABLE = ActivityDef(
    "wait_services_stable", ServicesStableInput, ServicesStableResult, start_to_close=timedelta(minutes=35)
)
CHECK_TARGET_HEALTH = ActivityDef(
    "check_target_health", TargetHealthInput, TargetHealthResult, start_to_close=timedelta(minutes=15)
)
DEEP_HEALTH_CHECK = ActivityDef(
    "deep_health_check", DeepHealthInput, DeepHealthResult, start_to_close=timedelta(minutes=15)
)
