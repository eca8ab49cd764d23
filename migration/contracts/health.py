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


class ServicesStableResult(Payload):
    ok: bool
    services: list[ServiceState]


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
