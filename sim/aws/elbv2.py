"""moto extensions for ELBv2 targets: health checks that take time, and draining.

moto 5.2.5 reports every registered target ``healthy`` at once and forgets a deregistered one at
once. ELB does neither:

- a registered target is ``initial`` until it has passed HealthyThresholdCount checks, one every
  HealthCheckIntervalSeconds; then ``healthy``. If what answers the checks is down (no task behind
  the IP, or a service made to fail), it turns ``unhealthy`` after UnhealthyThresholdCount checks,
  and back to ``healthy`` after HealthyThresholdCount good ones;
- a target of a group that no listener or rule forwards to is ``unused`` (``Target.NotInUse``):
  ELB only health-checks targets it may send traffic to;
- a deregistered target is ``draining`` for the group's deregistration delay, still listed by
  DescribeTargetHealth, then gone.

What answers a target's health checks is decided at registration: a task the simulated ECS
started (sim/aws/ecs_tasks.py) answers while it runs and its service is not made to fail; an EC2
instance answers while it runs; an IP nothing owns never answers, so pre-registering made-up IPs
yields ``unhealthy`` targets, as it would on AWS.

Health is computed from timestamps when read (no background thread), on the settings' clock and
scaled by their speed (sim/aws/settings.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup

from meshshift.sim.aws import settings as sim_settings

# (start, end) -> [(time, ok)], first entry at ``start``: whether the target answers its checks.
HealthTimeline = Callable[[float, float], list[tuple[float, bool]]]

_REASONS: dict[str, tuple[str | None, str | None]] = {
    "initial": ("Elb.RegistrationInProgress", "Target registration is in progress"),
    "healthy": (None, None),
    "unhealthy": ("Target.FailedHealthChecks", "Health checks failed"),
    "unused": ("Target.NotInUse", "Target group is not configured to receive traffic from the load balancer"),
    "draining": ("Target.DeregistrationInProgress", "Target deregistration is in progress"),
}


def never_answers(start: float, _end: float) -> list[tuple[float, bool]]:
    return [(start, False)]


def always_answers(start: float, _end: float) -> list[tuple[float, bool]]:
    return [(start, True)]


@dataclass
class SimTarget:
    id: str
    port: int
    registered_at: float
    answers: HealthTimeline
    checks_since: float | None = None  # when the group was first seen in use since registration
    drain_until: float | None = None  # set when deregistered


def _targets(group: FakeTargetGroup) -> dict[str, SimTarget]:
    store: dict[str, SimTarget] = group.__dict__.setdefault("_meshshift_targets", {})
    return store


def _seconds(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def healthy_after(group: FakeTargetGroup) -> float:
    settings = sim_settings.current()
    if settings.health_check is not None:
        return settings.scaled(settings.health_check)
    interval = _seconds(group.health_check_interval_seconds, 30.0)
    return settings.scaled(interval * _seconds(group.healthy_threshold_count, 5.0))


def unhealthy_after(group: FakeTargetGroup) -> float:
    settings = sim_settings.current()
    if settings.health_check is not None:
        return settings.scaled(settings.health_check)
    interval = _seconds(group.health_check_interval_seconds, 30.0)
    return settings.scaled(interval * _seconds(group.unhealthy_threshold_count, 2.0))


def drain_time(group: FakeTargetGroup) -> float:
    settings = sim_settings.current()
    if settings.deregistration_delay is not None:
        return settings.scaled(settings.deregistration_delay)
    return settings.scaled(_seconds(group.attributes.get("deregistration_delay.timeout_seconds"), 300.0))


def evaluate(
    changes: list[tuple[float, bool]], end: float, healthy_period: float, unhealthy_period: float
) -> tuple[str, float]:
    """The ELB state at ``end`` of a target whose checks began at ``changes[0]``, and since when.

    Each stretch in which the target answers (or not) long enough turns it healthy (unhealthy);
    a shorter stretch leaves the state as it was, as consecutive-check thresholds do.
    """
    state, since = "initial", changes[0][0]
    for index, (start, ok) in enumerate(changes):
        stretch_end = changes[index + 1][0] if index + 1 < len(changes) else end
        if ok and state != "healthy" and start + healthy_period <= stretch_end:
            state, since = "healthy", start + healthy_period
        elif not ok and state != "unhealthy" and start + unhealthy_period <= stretch_end:
            state, since = "unhealthy", start + unhealthy_period
    return state, since


class TargetView:
    """One group's targets as ELB would describe them now."""

    def __init__(self, backend: ELBv2Backend, group: FakeTargetGroup) -> None:
        self.backend = backend
        self.group = group
        self.now = sim_settings.current().now()
        self.in_use = backend._any_listener_using(group.arn)

    def state(self, target: SimTarget) -> tuple[str, float]:
        if target.drain_until is not None:
            return "draining", target.drain_until
        if not self.in_use:
            target.checks_since = None
            return "unused", target.registered_at
        if target.checks_since is None:
            # The group was attached after the target registered: checks begin now.
            target.checks_since = max(target.registered_at, self.now)
        start = target.checks_since
        return evaluate(
            target.answers(start, self.now), self.now, healthy_after(self.group), unhealthy_after(self.group)
        )

    def status(self, target: SimTarget) -> FakeHealthStatus:
        state, _since = self.state(target)
        reason, description = _REASONS[state]
        if state == "unhealthy" and target.answers is never_answers:
            reason, description = "Target.Timeout", "Request timed out"
        return FakeHealthStatus(target.id, str(target.port), self.group.health_check_port, state, reason, description)


def purge_drained(group: FakeTargetGroup, now: float) -> None:
    store = _targets(group)
    for target_id, target in list(store.items()):
        if target.drain_until is not None and target.drain_until <= now:
            del store[target_id]


def register(
    backend: ELBv2Backend, group: FakeTargetGroup, target_id: str, port: int, answers: HealthTimeline, at: float
) -> None:
    """Register a target at time ``at`` (what ECS does for a task, and RegisterTargets for anyone)."""
    if target_id not in group.targets:
        group.targets[target_id] = {"Id": target_id, "Port": port}
    group.deregistered_targets.pop(target_id, None)
    existing = _targets(group).get(target_id)
    if existing is not None and existing.drain_until is None:
        return  # registering a registered target changes nothing, as on ELB
    in_use = backend._any_listener_using(group.arn)
    _targets(group)[target_id] = SimTarget(target_id, port, at, answers, checks_since=at if in_use else None)


def deregister(group: FakeTargetGroup, target_id: str, now: float) -> float:
    """Start draining ``target_id``; returns when it is gone (now if it was not registered)."""
    group.targets.pop(target_id, None)
    target = _targets(group).get(target_id)
    if target is None:
        return now
    if target.drain_until is None:
        target.drain_until = now + drain_time(group)
    return target.drain_until


def drain_end(group: FakeTargetGroup, target_id: str) -> float | None:
    target = _targets(group).get(target_id)
    return target.drain_until if target is not None else None


def health(backend: ELBv2Backend, group: FakeTargetGroup, target_id: str) -> tuple[str, float] | None:
    """(state, since) of a target, or None when the group does not know it."""
    target = _targets(group).get(target_id)
    if target is None:
        return None
    return TargetView(backend, group).state(target)


# --- what a target registered by RegisterTargets is backed by -------------------------------------


def _no_task(_backend: ELBv2Backend, _target_id: str) -> HealthTimeline | None:
    return None


# Set by sim/aws/ecs_tasks.py: (elbv2 backend, target id) -> the health timeline of the task with that IP.
task_lookup: Callable[[ELBv2Backend, str], HealthTimeline | None] = _no_task


def _answers_for(backend: ELBv2Backend, target_id: str) -> HealthTimeline:
    timeline = task_lookup(backend, target_id)
    if timeline is not None:
        return timeline
    instance = backend.ec2_backend.get_instance_by_id(target_id) if target_id.startswith("i-") else None
    if instance is not None:
        return always_answers if instance.state == "running" else never_answers
    return never_answers  # an IP nothing in the account owns: checks time out


# --- the patches -----------------------------------------------------------------------------------


def _register(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    from moto.elbv2.models import elbv2_backends

    backend = elbv2_backends[self.account_id][self.region_name]
    now = sim_settings.current().now()
    for target in targets:
        instance = self.ec2_backend.get_instance_by_id(target["Id"])
        if instance is not None and instance.state != "running":
            from moto.elbv2.exceptions import TargetNotRunning

            raise TargetNotRunning(instance_id=target["Id"])
        port = int(target.get("Port", self.port))
        register(backend, self, target["Id"], port, _answers_for(backend, target["Id"]), now)


def _deregister(self: FakeTargetGroup, targets: list[dict[str, Any]]) -> None:
    from moto.elbv2.exceptions import InvalidTargetError

    now = sim_settings.current().now()
    for target in targets:
        if target["Id"] not in self.targets:
            raise InvalidTargetError()
        deregister(self, target["Id"], now)
        self.deregistered_targets[target["Id"]] = {"Id": target["Id"], "Port": target.get("Port", self.port)}


def _describe_target_health(
    self: ELBv2Backend, target_group_arn: str, targets: list[dict[str, Any]]
) -> list[FakeHealthStatus]:
    from moto.elbv2.exceptions import TargetGroupNotFoundError

    group = self.target_groups.get(target_group_arn)
    if group is None:
        raise TargetGroupNotFoundError()
    view = TargetView(self, group)
    purge_drained(group, view.now)
    store = _targets(group)
    if not targets:
        return [view.status(target) for target in store.values()]
    answers: list[FakeHealthStatus] = []
    for asked in targets:
        known = store.get(asked["Id"])
        answers.append(view.status(known) if known is not None else group.health_for(asked, self.ec2_backend))
    return answers


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    # Replaced on moto's classes, so every moto mode (mock_aws, server) gets them.
    FakeTargetGroup.register = _register  # type: ignore[method-assign]
    FakeTargetGroup.deregister = _deregister  # type: ignore[method-assign]
    ELBv2Backend.describe_target_health = _describe_target_health  # type: ignore[method-assign]
    _installed = True
