"""The demo's parts against the simulated AWS in-process: the seeded shop goes through the real
discovery and plan, the traffic simulator's metrics are what the real metrics activity reads, its
alarm states are what the real alarm poll sees, and the green health servers pass (and fail) the
real deep health check."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.discovery import DiscoveryActivities
from meshshift.activities.edge.activities import EdgeActivities
from meshshift.activities.health import HealthActivities
from meshshift.activities.metrics import MetricsActivities
from meshshift.migration.contracts import (
    AlbMetricSource,
    AwsContext,
    CollectMetricsInput,
    DeepHealthInput,
    DiscoverInput,
    MetricSources,
    PollAlarmsInput,
    SetEdgeWeightsInput,
    ShifterTarget,
)
from meshshift.migration.loading import validate_spec
from meshshift.migration.plan import build_plan, metric_sources, weights_for
from meshshift.migration.spec import HealthSpec, MigrationSpec
from meshshift.sim import demo_world
from meshshift.sim.demo import DemoError, DemoOptions, DemoStack
from meshshift.sim.demo_world import DemoWorld
from meshshift.sim.green_health import GreenHealth
from meshshift.sim.traffic import TrafficProfile, TrafficSimulator

CTX = AwsContext(region=demo_world.REGION)
HEALTH_URLS = ["http://127.0.0.1:9/health"]


@pytest.fixture
def world(aws_inprocess: None) -> DemoWorld:
    return demo_world.seed_shop()


def spec_for(world: DemoWorld, speed: float = 1.0) -> MigrationSpec:
    return validate_spec(demo_world.demo_spec(world, health_urls=HEALTH_URLS, speed=speed))


def set_green_percent(spec: MigrationSpec, percent: int) -> None:
    """Through the real edge activity, as the workflow would."""
    targets = [ShifterTarget(edge=edge, weights=weights_for(edge, percent)) for edge in spec.edge]
    ActivityEnvironment().run(
        EdgeActivities(AwsClients()).set_edge_weights, SetEdgeWeightsInput(aws=CTX, targets=targets)
    )


def collect(spec: MigrationSpec, sources: MetricSources) -> tuple[float, float]:
    snapshot = ActivityEnvironment().run(
        MetricsActivities(AwsClients()).collect_metrics,
        CollectMetricsInput(
            aws=CTX, sources=sources, window=timedelta(minutes=1), end=datetime.now(UTC) + timedelta(seconds=2)
        ),
    )
    return snapshot.blue.requests, snapshot.green.requests


def test_seeded_shop_goes_through_the_real_discovery_and_plan(world: DemoWorld) -> None:
    spec = spec_for(world)
    discovery = ActivityEnvironment().run(
        DiscoveryActivities(AwsClients()).discover_blue, DiscoverInput(aws=CTX, spec=spec)
    )
    plan = build_plan(spec, discovery)

    assert [s.green_service for s in plan.services] == ["frontend-sc", "user-api-sc", "stock-api-sc"]
    assert [w.green_service for w in plan.async_workers] == ["order-worker-sc"]
    assert {s.virtual_node_name for s in discovery.services} == {"frontend-node", "user-api-node", "stock-api-node"}
    for green in [*plan.services, *plan.async_workers]:
        names = [c.name for c in green.task_definition.containerDefinitions]
        assert names == ["app"], green.green_service
        assert green.task_definition.proxyConfiguration is None
    by_name = {s.green_service: s for s in plan.services}
    # stock-api's port mapping has no name in blue; Service Connect needs one, so the plan names it.
    assert by_name["stock-api-sc"].service_connect.services[0].portName
    assert [lb.target_group_arn for lb in by_name["frontend-sc"].load_balancers] == [world.green_target_group_arn]
    aliases = {s.green_service: s.service_connect.services[0].clientAliases[0].dnsName for s in plan.services}
    assert aliases == {
        "frontend-sc": "frontend.shop.local",
        "user-api-sc": "user-api.shop.local",
        "stock-api-sc": "stock-api.shop.local",
    }


def test_demo_spec_scales_with_speed_and_keeps_every_gate() -> None:
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
    world = DemoWorld(
        region="us-east-1",
        vpc_id="vpc-1",
        subnet_ids=["subnet-1"],
        security_group_id="sg-1",
        load_balancer_arn=f"{arn}:loadbalancer/app/shop/0123456789abcdef",
        listener_arn=f"{arn}:listener/app/shop/0123456789abcdef/fedcba9876543210",
        blue_target_group_arn=f"{arn}:targetgroup/shop-blue/0123456789abcdef",
        green_target_group_arn=f"{arn}:targetgroup/shop-green/fedcba9876543210",
        hosted_zone_id="Z0123456789",
        queue_url="http://127.0.0.1:9/123456789012/shop-orders",
    )
    slow, fast = spec_for(world, speed=1.0), spec_for(world, speed=15.0)
    assert slow.ramp.bake == timedelta(seconds=15)
    assert fast.ramp.bake == timedelta(seconds=1)
    assert fast.decommission.after < slow.decommission.after
    assert slow.approval_required_at() == fast.approval_required_at()
    assert "decommission.approval" in fast.approval_required_at()


def test_traffic_follows_the_edge_weights_into_the_metrics_the_workflow_reads(world: DemoWorld) -> None:
    spec = spec_for(world)
    plan = build_plan(
        spec,
        ActivityEnvironment().run(DiscoveryActivities(AwsClients()).discover_blue, DiscoverInput(aws=CTX, spec=spec)),
    )
    sources = metric_sources(spec, plan)
    edge_only = MetricSources(alb=sources.alb)
    traffic = TrafficSimulator(world, TrafficProfile(requests_per_second=1000.0), tick_seconds=2.0)

    set_green_percent(spec, 25)
    sample = traffic.tick(elapsed=2.0)

    assert (sample.weights.alb_blue, sample.weights.alb_green) == (75, 25)
    assert (sample.weights.route53_blue, sample.weights.route53_green) == (75, 25)
    assert sample.green_percent == pytest.approx(25.0, abs=0.5)
    assert collect(spec, edge_only) == (sample.blue_requests, sample.green_requests)
    # Green's Service Connect proxies publish too (frontend, and its calls to user-api and stock-api).
    _, green_all = collect(spec, sources)
    assert green_all > sample.green_requests


def test_blue_gets_no_requests_once_every_shifter_is_at_full_green(world: DemoWorld) -> None:
    spec = spec_for(world)
    traffic = TrafficSimulator(world, tick_seconds=2.0)

    set_green_percent(spec, 100)
    sample = traffic.tick(elapsed=2.0)

    assert sample.blue_requests == 0
    assert sample.green_requests > 0
    blue, green = collect(spec, MetricSources(alb=metric_sources_alb(world)))
    assert (blue, green) == (0, sample.green_requests)


def metric_sources_alb(world: DemoWorld) -> list[AlbMetricSource]:
    return [
        AlbMetricSource(
            load_balancer=world.load_balancer_dimension,
            blue_target_group=world.target_group_dimension(world.blue_target_group_arn),
            green_target_group=world.target_group_dimension(world.green_target_group_arn),
        )
    ]


def test_fail_at_makes_the_alarm_fire_on_the_published_data(world: DemoWorld) -> None:
    spec = spec_for(world)
    alarms = [demo_world.ALARM_5XX, demo_world.ALARM_P99]
    traffic = TrafficSimulator(world, TrafficProfile(fail_at=25), tick_seconds=2.0, alarm_names=alarms)
    poll = MetricsActivities(AwsClients()).poll_alarms

    set_green_percent(spec, 5)
    traffic.tick(elapsed=2.0)
    quiet = ActivityEnvironment().run(poll, PollAlarmsInput(aws=CTX, alarm_names=alarms))
    assert {a.name: a.state for a in quiet.alarms} == {demo_world.ALARM_5XX: "OK", demo_world.ALARM_P99: "OK"}
    assert not traffic.failing

    set_green_percent(spec, 25)
    traffic.tick(elapsed=2.0)
    firing = ActivityEnvironment().run(poll, PollAlarmsInput(aws=CTX, alarm_names=alarms))
    assert traffic.failing
    assert demo_world.ALARM_5XX in {a.name for a in firing.firing}
    reason = next(a.reason for a in firing.alarms if a.name == demo_world.ALARM_5XX)
    assert reason is not None and "HTTPCode_Target_5XX_Count" in reason


@pytest.fixture
def green_health() -> Iterator[GreenHealth]:
    health = GreenHealth(demo_world.HEALTH_DEPENDENCIES).start()
    try:
        yield health
    finally:
        health.stop()


def test_green_health_servers_pass_the_real_deep_health_check(green_health: GreenHealth) -> None:
    health = HealthSpec(urls=green_health.urls, consecutive_successes=1, interval=timedelta(seconds=1))

    result = ActivityEnvironment().run(HealthActivities(AwsClients()).deep_health_check, DeepHealthInput(health=health))

    assert result.ok, result
    frontend = next(c for c in result.checks if c.url == green_health.url("frontend-sc"))
    assert frontend.dependencies == {"user-api": "ok", "stock-api": "ok", "session-cache": "ok"}


def test_a_failing_dependency_fails_the_deep_health_check(green_health: GreenHealth) -> None:
    green_health.set_dependency("users-db", "timeout")
    health = HealthSpec(
        urls=[green_health.url("user-api-sc")],
        consecutive_successes=1,
        interval=timedelta(seconds=1),
        timeout=timedelta(seconds=1),
    )

    result = ActivityEnvironment().run(HealthActivities(AwsClients()).deep_health_check, DeepHealthInput(health=health))

    assert not result.ok
    assert result.checks[0].last_status == 503
    assert "users-db=timeout" in (result.checks[0].last_error or "")


async def test_a_busy_port_is_one_clear_error_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        stack = DemoStack(DemoOptions(port=port, ui_port=None, data_dir=tmp_path), Console(quiet=True))
        with pytest.raises(DemoError, match=rf"port {port} on 127.0.0.1 is already in use .* --port"):
            async with stack:
                pass
    assert stack.sim is None and stack.server is None
