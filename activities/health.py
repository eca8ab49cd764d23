"""Validation of green: ECS steady state, ALB target health, deep HTTP health checks.

The waits poll with a heartbeat on every round and sleep through ``wait_for_cancelled_sync``, so a
cancelled activity stops at the next round instead of after its whole timeout; the first rounds
come quickly and back off to the poll interval (activities/polling.py). On timeout they return
``ok=False`` with what they saw: whether that means rollback is the workflow's decision.

Target health is judged the way ELB reports it: a newly registered target is ``initial`` until it
has passed its checks, so a group is healthy only once every target in it is (draining targets,
leaving anyway, are not counted). An empty group, or one whose targets are ``unused`` because no
listener forwards to it, is not healthy.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from meshshift.activities.aws import AwsClients, aws_errors
from meshshift.activities.definition import implements
from meshshift.activities.polling import Backoff
from meshshift.migration.contracts import (
    CHECK_TARGET_HEALTH,
    DEEP_HEALTH_CHECK,
    WAIT_SERVICES_STABLE,
    DeepHealthInput,
    DeepHealthResult,
    ServicesStableInput,
    ServicesStableResult,
    ServiceState,
    TargetGroupHealth,
    TargetHealthInput,
    TargetHealthResult,
    UrlCheck,
)
from meshshift.migration.spec import HealthSpec

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient

DESCRIBE_SERVICES_BATCH = 10
MAX_BODY_BYTES = 1_000_000

# Dependency states in a health body that count as healthy (compared case-insensitively).
HEALTHY_STATES = frozenset({"ok", "up", "pass", "passed", "passing", "healthy", "green", "true", "available"})


def _pause(wait: float, detail: Any) -> None:
    """Heartbeat, then sleep ``wait`` seconds unless cancelled meanwhile."""
    activity.heartbeat(detail)
    activity.wait_for_cancelled_sync(timeout=timedelta(seconds=wait))
    if activity.is_cancelled():
        raise CancelledError("health check cancelled")


class HealthActivities:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    # --- ECS steady state -----------------------------------------------------------------------

    @implements(WAIT_SERVICES_STABLE)
    def wait_services_stable(self, params: ServicesStableInput) -> ServicesStableResult:
        ecs = self._clients.ecs(params.aws)
        deadline = time.monotonic() + params.timeout.total_seconds()
        waits = Backoff(params.poll_interval.total_seconds())
        while True:
            states = self._states(ecs, params.cluster, params.services)
            result = ServicesStableResult(ok=all(state.stable for state in states), services=states)
            if result.ok or time.monotonic() >= deadline:
                return result
            _pause(waits.next(), result.waiting())

    @staticmethod
    def _states(ecs: ECSClient, cluster: str, names: list[str]) -> list[ServiceState]:
        described: dict[str, Any] = {}
        for start in range(0, len(names), DESCRIBE_SERVICES_BATCH):
            batch = names[start : start + DESCRIBE_SERVICES_BATCH]
            with aws_errors(f"describe ECS services {batch} in cluster {cluster!r}"):
                answer = ecs.describe_services(cluster=cluster, services=batch)
            for service in answer.get("services", []):
                if service.get("status") != "INACTIVE":
                    described[service["serviceName"]] = service
        missing = [name for name in names if name not in described]
        if missing:
            raise ApplicationError(
                f"ECS service(s) {missing} not found in cluster {cluster!r} while waiting for steady state. "
                "Next: check that provisioning created them (or, with provision: existing, that IaC did).",
                type="ServiceNotFound",
                non_retryable=True,
            )
        states: list[ServiceState] = []
        for name in names:
            service = described[name]
            deployments = service.get("deployments", [])
            rollout = deployments[0].get("rolloutState") if len(deployments) == 1 else None
            desired = service.get("desiredCount", 0)
            running = service.get("runningCount", 0)
            pending = service.get("pendingCount", 0)
            stable = (
                service.get("status") == "ACTIVE"
                and len(deployments) == 1
                and running == desired
                and pending == 0
                and rollout == "COMPLETED"
            )
            events = service.get("events", [])  # newest first
            states.append(
                ServiceState(
                    name=name,
                    desired_count=desired,
                    running_count=running,
                    pending_count=pending,
                    deployments=len(deployments),
                    rollout_state=rollout
                    if rollout is not None
                    else ",".join(str(d.get("rolloutState")) for d in deployments) or None,
                    stable=stable,
                    last_event=None if stable or not events else str(events[0].get("message")),
                )
            )
        return states

    # --- ALB target health ----------------------------------------------------------------------

    @implements(CHECK_TARGET_HEALTH)
    def check_target_health(self, params: TargetHealthInput) -> TargetHealthResult:
        elbv2 = self._clients.elbv2(params.aws)
        deadline = time.monotonic() + params.timeout.total_seconds()
        waits = Backoff(params.poll_interval.total_seconds())
        while True:
            groups: list[TargetGroupHealth] = []
            for arn in params.target_group_arns:
                with aws_errors(
                    f"describe target health of {arn}",
                    hint="check the green target group ARN in the spec's edge section",
                ):
                    descriptions = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
                counts = {"healthy": 0, "unhealthy": 0, "other": 0}
                draining = 0
                for description in descriptions:
                    state = description.get("TargetHealth", {}).get("State", "")
                    counts[state if state in ("healthy", "unhealthy") else "other"] += 1
                    draining += state == "draining"
                groups.append(
                    TargetGroupHealth(
                        target_group_arn=arn,
                        **counts,
                        # ``initial`` (checks not passed yet) and ``unused`` (no listener) are not healthy.
                        ok=counts["healthy"] >= 1 and counts["unhealthy"] == 0 and counts["other"] == draining,
                    )
                )
            ok = all(group.ok for group in groups)
            if ok or time.monotonic() >= deadline:
                return TargetHealthResult(ok=ok, groups=groups)
            _pause(waits.next(), [g.model_dump() for g in groups if not g.ok])

    # --- deep HTTP health -----------------------------------------------------------------------

    @implements(DEEP_HEALTH_CHECK)
    def deep_health_check(self, params: DeepHealthInput) -> DeepHealthResult:
        health = params.health
        for url in health.urls:
            scheme = urllib.parse.urlsplit(url).scheme
            if scheme not in ("http", "https"):
                raise ApplicationError(
                    f"health.urls: {url!r} is not an http(s) URL (scheme {scheme!r}). Next: fix the URL in the spec.",
                    type="InvalidHealthUrl",
                    non_retryable=True,
                )
        checks = {url: UrlCheck(url=url, ok=False, consecutive_successes=0, attempts=0) for url in health.urls}
        deadline = time.monotonic() + health.timeout.total_seconds()
        interval = health.interval.total_seconds()
        while True:
            for check in checks.values():
                if check.ok:
                    continue
                _probe(check, health)
                check.ok = check.consecutive_successes >= health.consecutive_successes
                activity.heartbeat(
                    {"url": check.url, "attempts": check.attempts, "successes": check.consecutive_successes}
                )
            done = all(check.ok for check in checks.values())
            if done or time.monotonic() >= deadline:
                return DeepHealthResult(ok=done, checks=list(checks.values()))
            # Consecutive successes are counted at the spec's interval: no backoff here.
            _pause(interval, {"waiting": [c.url for c in checks.values() if not c.ok]})


def _probe(check: UrlCheck, health: HealthSpec) -> None:
    """One request; updates the check's counters, status, error and dependency report."""
    check.attempts += 1
    failure = _attempt(check, health)
    if failure is None:
        check.consecutive_successes += 1
        check.last_error = None
    else:
        check.consecutive_successes = 0
        check.last_error = failure


def _attempt(check: UrlCheck, health: HealthSpec) -> str | None:
    # The scheme was checked to be http(s) before the first attempt.
    request = urllib.request.Request(check.url, headers={"Accept": "application/json", "User-Agent": "meshshift"})  # noqa: S310
    try:
        # The scheme was checked to be http(s) above.
        with urllib.request.urlopen(request, timeout=health.request_timeout.total_seconds()) as response:  # noqa: S310
            status = int(response.status)
            body = response.read(MAX_BODY_BYTES)
    except urllib.error.HTTPError as err:
        # A non-2xx answer is still an answer: its status and body (often listing failed checks) matter.
        status = err.code
        body = err.read(MAX_BODY_BYTES)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        check.last_status = None
        reason = getattr(err, "reason", err)
        return f"request failed: {reason}"
    check.last_status = status
    text = body.decode("utf-8", errors="replace")
    problems: list[str] = []
    if status != health.expect_status:
        problems.append(f"status {status}, expected {health.expect_status}")
    if health.body_contains is not None and health.body_contains not in text:
        problems.append(f"body does not contain {health.body_contains!r}")
    document: Any = None
    try:
        document = json.loads(text) if text.strip() else None
    except ValueError:
        if health.json_path is not None:
            problems.append(f"body is not JSON, cannot read {health.json_path!r}")
    if health.json_path is not None and document is not None:
        found, value = _lookup(document, health.json_path)
        if not found:
            problems.append(f"JSON path {health.json_path!r} not in body")
        elif health.json_equals is not None and _text(value) != health.json_equals:
            problems.append(f"JSON {health.json_path!r} is {_text(value)!r}, expected {health.json_equals!r}")
    check.dependencies = _dependencies(document)
    failing = {name: state for name, state in check.dependencies.items() if state.lower() not in HEALTHY_STATES}
    if failing:
        problems.append("dependency checks failing: " + ", ".join(f"{name}={state}" for name, state in failing.items()))
    return "; ".join(problems) or None


def _lookup(document: Any, path: str) -> tuple[bool, Any]:
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return False, None
    return True, value


def _text(value: Any) -> str:
    # JSON true/false/null compare as JSON spells them, so json_equals: "true" works.
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    return str(value)


def _dependencies(document: Any) -> dict[str, str]:
    """Dependency states from a ``checks`` or ``dependencies`` object (or list of named entries)."""
    if not isinstance(document, dict):
        return {}
    source = document.get("checks", document.get("dependencies"))
    entries: list[tuple[str, Any]] = []
    if isinstance(source, dict):
        entries = list(source.items())
    elif isinstance(source, list):
        entries = [(str(item.get("name", index)), item) for index, item in enumerate(source) if isinstance(item, dict)]
    report: dict[str, str] = {}
    for name, state in entries:
        if isinstance(state, dict):
            state = state.get("status", state.get("state", state.get("healthy")))
        report[str(name)] = _text(state)
    return report
