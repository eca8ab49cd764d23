"""wait_services_stable, check_target_health and deep_health_check."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from botocore.stub import Stubber
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.health import HealthActivities
from meshshift.migration.contracts import DeepHealthInput, ServicesStableInput, TargetHealthInput
from meshshift.migration.spec import HealthSpec
from meshshift.sim.aws.settings import ManualClock
from tests.activities import conftest_local as blue
from tests.activities.throttle import no_retry_backoff, throttle_once

__all__ = ["no_retry_backoff"]  # a fixture, used by name

NO_WAIT = timedelta(0)
QUICK = timedelta(milliseconds=20)


def stable_input(services: list[str], timeout: timedelta = timedelta(minutes=5)) -> ServicesStableInput:
    return ServicesStableInput(
        aws=blue.AWS, cluster=blue.CLUSTER, services=services, timeout=timeout, poll_interval=QUICK
    )


def settle(clock: ManualClock, seconds: float = 600) -> None:
    """Let the simulated account run for a while (blue's tasks start, register and turn healthy)."""
    clock.advance(seconds)
    blue.client("ecs").list_services(cluster=blue.CLUSTER)  # any ECS call brings the account up to now


# --- ECS steady state ---------------------------------------------------------------------------


def test_services_reach_steady_state_once_their_tasks_run(aws_inprocess: None, aws_clients: AwsClients) -> None:
    blue.seed_blue(with_mesh=False)
    env = ActivityEnvironment()
    result = env.run(HealthActivities(aws_clients).wait_services_stable, stable_input(blue.SERVICES))
    assert result.ok
    assert [(s.name, s.running_count, s.desired_count, s.pending_count) for s in result.services] == [
        (name, 2, 2, 0) for name in blue.SERVICES
    ]
    assert all(s.deployments == 1 and s.rollout_state == "COMPLETED" for s in result.services)
    # A repeat reads the same and changes nothing.
    assert env.run(HealthActivities(aws_clients).wait_services_stable, stable_input(blue.SERVICES)) == result


def test_a_new_service_is_pending_before_it_is_stable(
    aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock
) -> None:
    blue.seed_blue(with_mesh=False)
    result = ActivityEnvironment().run(
        HealthActivities(aws_clients).wait_services_stable, stable_input(["frontend"], timeout=NO_WAIT)
    )
    (state,) = result.services
    assert not result.ok and not state.stable
    assert (state.running_count, state.pending_count, state.rollout_state) == (0, 2, "IN_PROGRESS")


def test_rollout_is_polled_until_complete_with_heartbeats(
    aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock
) -> None:
    blue.seed_blue(with_mesh=False)
    settle(sim_clock)
    blue.client("ecs").update_service(cluster=blue.CLUSTER, service="frontend", forceNewDeployment=True)
    env = ActivityEnvironment()
    beats: list[Any] = []

    def beat(*details: Any) -> None:
        if "steady state" in str(details):  # not the rate limiter's own heartbeats
            beats.append(details)
            sim_clock.advance(10)  # ten seconds of the account pass between two polls

    env.on_heartbeat = beat
    result = env.run(HealthActivities(aws_clients).wait_services_stable, stable_input(["frontend", "user-api"]))
    assert result.ok
    # New tasks start (40 s), turn healthy (5 x 30 s), the old ones drain (300 s) and stop: about 50 polls.
    assert 40 <= len(beats) <= 60, len(beats)
    assert all("frontend" in str(b) and "user-api" not in str(b) for b in beats)


def test_timeout_returns_the_states_seen(aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock) -> None:
    blue.seed_blue(with_mesh=False)
    settle(sim_clock)
    blue.client("ecs").update_service(cluster=blue.CLUSTER, service="frontend", forceNewDeployment=True)
    result = ActivityEnvironment().run(
        HealthActivities(aws_clients).wait_services_stable, stable_input(["frontend"], timeout=NO_WAIT)
    )
    assert not result.ok
    (state,) = result.services
    assert not state.stable
    # The old deployment still runs two tasks while the new one starts two.
    assert (state.running_count, state.pending_count, state.deployments, state.rollout_state) == (
        2,
        2,
        2,
        "IN_PROGRESS,COMPLETED",
    )


def test_cancellation_stops_the_wait(aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock) -> None:
    blue.seed_blue(with_mesh=False)
    blue.client("ecs").update_service(cluster=blue.CLUSTER, service="frontend", forceNewDeployment=True)
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *_: env.cancel()
    params = stable_input(["frontend"]).model_copy(update={"poll_interval": timedelta(hours=1)})
    with pytest.raises(CancelledError):
        env.run(HealthActivities(aws_clients).wait_services_stable, params)


def test_throttled_describe_succeeds_on_retry(
    aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    blue.seed_blue(with_mesh=False)
    fault = throttle_once(aws_clients.ecs(blue.AWS), "DescribeServices", "ThrottlingException")
    result = ActivityEnvironment().run(HealthActivities(aws_clients).wait_services_stable, stable_input(["frontend"]))
    assert fault.fired == 1 and result.ok


def test_missing_service_is_a_permanent_error(aws_inprocess: None, aws_clients: AwsClients) -> None:
    blue.seed_blue(with_mesh=False)
    with pytest.raises(ApplicationError) as caught:
        ActivityEnvironment().run(
            HealthActivities(aws_clients).wait_services_stable, stable_input(["frontend", "frontend-sc"])
        )
    assert caught.value.non_retryable and "frontend-sc" in caught.value.message and "'shop'" in caught.value.message


@pytest.mark.integration
def test_server_mode_steady_state(aws_server_env: str, aws_clients: AwsClients) -> None:
    blue.seed_blue(with_mesh=False)
    result = ActivityEnvironment().run(HealthActivities(aws_clients).wait_services_stable, stable_input(blue.SERVICES))
    assert result.ok


# --- target health ------------------------------------------------------------------------------


def target_input(arns: list[str], timeout: timedelta = timedelta(minutes=5)) -> TargetHealthInput:
    return TargetHealthInput(aws=blue.AWS, target_group_arns=arns, timeout=timeout, poll_interval=QUICK)


def create_green(app: blue.BlueApp, name: str = "frontend") -> None:
    """Green's service behind its own target group: ECS (simulated) registers its tasks there."""
    blue.client("ecs").create_service(
        cluster=blue.CLUSTER,
        serviceName=f"{name}-sc",
        taskDefinition=name,
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": [app.subnet_id], "securityGroups": [app.security_group_id]}
        },
        loadBalancers=[
            {"targetGroupArn": app.green_target_groups[name], "containerName": "app", "containerPort": 8080}
        ],
    )


def test_validation_waits_for_greens_own_targets_to_turn_healthy(
    aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock
) -> None:
    app = blue.seed_blue(with_mesh=False)
    create_green(app)
    seen: list[str] = []
    env = ActivityEnvironment()

    def beat(*details: Any) -> None:
        if details and isinstance(details[0], list):  # the health check's own heartbeats
            (groups,) = details
            seen.append(f"{groups[0]['healthy']}/{groups[0]['other']}")
            sim_clock.advance(10)

    env.on_heartbeat = beat
    arn = app.green_target_groups["frontend"]
    result = env.run(HealthActivities(aws_clients).check_target_health, target_input([arn]))
    assert result.ok
    assert [(g.healthy, g.unhealthy, g.other) for g in result.groups] == [(2, 0, 0)]
    # Empty while green's tasks start (40 s), then registered and ``initial`` for 5 x 30 s.
    assert seen[0] == "0/0" and "0/2" in seen and len(seen) >= 15
    targets = blue.client("elbv2").describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    ips = {t["Target"]["Id"] for t in targets}
    tasks = blue.client("ecs").list_tasks(cluster=blue.CLUSTER, serviceName="frontend-sc")["taskArns"]
    described = blue.client("ecs").describe_tasks(cluster=blue.CLUSTER, tasks=tasks)["tasks"]
    task_ips = {
        detail["value"]
        for task in described
        for attachment in task["attachments"]
        for detail in attachment["details"]
        if detail["name"] == "privateIPv4Address"
    }
    assert ips == task_ips and {t["Target"]["Port"] for t in targets} == {8080}


def test_empty_target_group_is_not_ok_at_timeout(aws_inprocess: None, aws_clients: AwsClients) -> None:
    app = blue.seed_blue(with_mesh=False)
    arn = app.green_target_groups["frontend"]
    result = ActivityEnvironment().run(
        HealthActivities(aws_clients).check_target_health, target_input([arn], timeout=NO_WAIT)
    )
    assert not result.ok and result.groups[0].healthy == 0


def test_targets_nothing_answers_for_are_unhealthy(
    aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock
) -> None:
    """Pre-registering made-up IPs in green's group proves nothing: their checks time out."""
    app = blue.seed_blue(with_mesh=False)
    arn = app.green_target_groups["frontend"]
    # Blue's tasks get random addresses in the subnet: a fixed one would sometimes be a task's.
    held = {eni["PrivateIpAddress"] for eni in blue.client("ec2").describe_network_interfaces()["NetworkInterfaces"]}
    made_up = next(ip for ip in (f"10.0.1.{host}" for host in range(250, 4, -1)) if ip not in held)
    blue.client("elbv2").register_targets(TargetGroupArn=arn, Targets=[{"Id": made_up, "Port": 8080}])
    sim_clock.advance(120)
    result = ActivityEnvironment().run(
        HealthActivities(aws_clients).check_target_health, target_input([arn], timeout=NO_WAIT)
    )
    assert not result.ok and (result.groups[0].healthy, result.groups[0].unhealthy) == (0, 1)


def test_unhealthy_target_then_recovery(aws_clients: AwsClients) -> None:
    """moto cannot make a target unhealthy: the Stubber answers as ELB would."""
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/frontend-green/fedcba9876543210"
    elbv2 = aws_clients.elbv2(blue.AWS)

    def answer(*states: str) -> dict[str, Any]:
        return {
            "TargetHealthDescriptions": [
                {"Target": {"Id": f"10.0.1.{i}", "Port": 8080}, "TargetHealth": {"State": s}}
                for i, s in enumerate(states)
            ]
        }

    with Stubber(elbv2) as stub:
        stub.add_response("describe_target_health", answer("unhealthy"), {"TargetGroupArn": arn})
        stub.add_response("describe_target_health", answer("healthy", "unhealthy"), {"TargetGroupArn": arn})
        # A target still registering ("initial") has not passed its checks yet: wait for it.
        stub.add_response("describe_target_health", answer("healthy", "initial"), {"TargetGroupArn": arn})
        # A draining target is on its way out: it does not count either way.
        stub.add_response("describe_target_health", answer("healthy", "draining"), {"TargetGroupArn": arn})
        env = ActivityEnvironment()
        beats: list[Any] = []
        env.on_heartbeat = lambda *details: beats.append(details)
        result = env.run(HealthActivities(aws_clients).check_target_health, target_input([arn]))
        stub.assert_no_pending_responses()
    assert result.ok
    assert (result.groups[0].healthy, result.groups[0].unhealthy, result.groups[0].other) == (1, 0, 1)
    assert len(beats) == 3


def test_missing_target_group_is_a_permanent_error(aws_inprocess: None, aws_clients: AwsClients) -> None:
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nope/0000000000000000"
    with pytest.raises(ApplicationError) as caught:
        ActivityEnvironment().run(HealthActivities(aws_clients).check_target_health, target_input([arn]))
    assert caught.value.non_retryable and arn in caught.value.message and "edge" in caught.value.message


# --- deep HTTP health ---------------------------------------------------------------------------


class HealthApp:
    """A green service's health endpoint: its answers can be changed while it runs."""

    def __init__(self) -> None:
        self.status = 200
        self.body: dict[str, Any] = {"status": "ok", "checks": {"db": "ok", "cache": {"status": "up"}}}
        self.requests = 0
        self.statuses: list[int] = []  # served first, one per request, before falling back to ``status``


@pytest.fixture
def health_server() -> Iterator[tuple[str, HealthApp]]:
    app = HealthApp()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            app.requests += 1
            payload = json.dumps(app.body).encode()
            self.send_response(app.statuses.pop(0) if app.statuses else app.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/health", app
    finally:
        server.shutdown()
        server.server_close()


def deep(spec: HealthSpec, env: ActivityEnvironment | None = None) -> Any:
    clients = AwsClients()
    return (env or ActivityEnvironment()).run(HealthActivities(clients).deep_health_check, DeepHealthInput(health=spec))


def health_spec(url: str, interval: float = 0, timeout: float = 60, **extra: Any) -> HealthSpec:
    """A validated spec; zero interval/timeout (which the spec refuses) are set after validation."""
    body: dict[str, Any] = {"urls": [url], "consecutive_successes": 3, "interval": 1, "timeout": 1}
    body.update(extra)
    spec = HealthSpec.model_validate(body)
    return spec.model_copy(update={"interval": timedelta(seconds=interval), "timeout": timedelta(seconds=timeout)})


def test_deep_health_passes_with_consecutive_successes(health_server: tuple[str, HealthApp]) -> None:
    url, app = health_server
    env = ActivityEnvironment()
    beats: list[Any] = []
    env.on_heartbeat = lambda *details: beats.append(details)
    result = deep(health_spec(url, json_path="status", json_equals="ok", body_contains='"db"'), env)
    assert result.ok
    (check,) = result.checks
    assert (check.consecutive_successes, check.attempts, check.last_status) == (3, 3, 200)
    assert check.dependencies == {"db": "ok", "cache": "up"}
    assert app.requests == 3
    assert len(beats) >= 3  # one heartbeat per attempt at least


def test_failing_dependency_fails_the_deep_check(health_server: tuple[str, HealthApp]) -> None:
    url, app = health_server
    app.body = {"status": "ok", "dependencies": {"db": "ok", "payments": "down"}}
    result = deep(health_spec(url, timeout=0))
    assert not result.ok
    (check,) = result.checks
    assert check.dependencies == {"db": "ok", "payments": "down"}
    assert check.last_error is not None and "payments=down" in check.last_error


def test_wrong_status_and_json_value_are_reported(health_server: tuple[str, HealthApp]) -> None:
    url, app = health_server
    app.status = 503
    app.body = {"status": "degraded", "checks": [{"name": "db", "status": "fail"}]}
    result = deep(health_spec(url, timeout=0, json_path="status", json_equals="ok"))
    (check,) = result.checks
    assert not result.ok and check.last_status == 503
    assert check.last_error is not None
    assert "status 503, expected 200" in check.last_error
    assert "'degraded', expected 'ok'" in check.last_error
    assert check.dependencies == {"db": "fail"}


def test_a_failure_resets_the_consecutive_count(health_server: tuple[str, HealthApp]) -> None:
    url, app = health_server
    app.statuses = [200, 500, 200, 200, 200]
    result = deep(health_spec(url))
    assert result.ok
    assert result.checks[0].attempts == 5  # 200, 500 (reset), then three in a row


def test_unreachable_url_times_out_with_the_error() -> None:
    from tests.netutil import free_port

    url = f"http://127.0.0.1:{free_port()}/health"
    result = deep(health_spec(url, timeout=0, request_timeout=1))
    assert not result.ok
    assert result.checks[0].last_status is None
    assert result.checks[0].last_error is not None and "request failed" in result.checks[0].last_error


def test_cancellation_is_delivered_between_attempts(health_server: tuple[str, HealthApp]) -> None:
    url, app = health_server
    app.status = 500
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *_: env.cancel()
    with pytest.raises(CancelledError):
        deep(health_spec(url, interval=3600, timeout=86400), env)
    assert app.requests == 1


def test_non_http_url_is_refused() -> None:
    spec = HealthSpec.model_construct(urls=["file:///etc/passwd"])  # bypasses the spec's own URL check
    with pytest.raises(ApplicationError) as caught:
        deep(spec)
    assert caught.value.non_retryable and "file:///etc/passwd" in caught.value.message


def test_a_service_that_cannot_place_its_tasks_says_why(
    aws_inprocess: None, aws_clients: AwsClients, sim_clock: ManualClock
) -> None:
    """A full subnet holds a service back for good: the wait says what ECS says, so the operator does
    not wait out the whole steady-state timeout to learn it."""
    blue.seed_blue(with_mesh=False)
    settle(sim_clock)
    # More tasks than blue's /24 has addresses for (250 for tasks).
    blue.client("ecs").update_service(cluster=blue.CLUSTER, service="frontend", desiredCount=300)
    settle(sim_clock, 60)
    env = ActivityEnvironment()
    beats: list[str] = []
    env.on_heartbeat = lambda *details: beats.append(str(details))
    result = env.run(
        HealthActivities(aws_clients).wait_services_stable,
        stable_input(["frontend", "user-api"], timeout=QUICK),
    )
    frontend, user_api = result.services
    assert not result.ok and user_api.stable and user_api.last_event is None
    assert frontend.last_event is not None and "no free IP address left" in frontend.last_event
    assert "latest ECS events: was unable to place a task: no free IP address left" in result.waiting()
    assert "(1 service)" in result.waiting()
    assert any("no free IP address left" in beat for beat in beats)
    assert "latest ECS event: (service frontend) was unable to place a task" in frontend.describe()
