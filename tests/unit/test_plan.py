"""The plan built from a spec and what discovery found; metric sources; analysis verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from meshshift.migration.analysis import blue_is_idle, judge, merged
from meshshift.migration.contracts import (
    AppMeshStatus,
    BlueDiscovery,
    BlueService,
    CapacityProviderItem,
    LoadBalancerAttachment,
    MetricsSnapshot,
    NetworkConfig,
    TrafficFigures,
    Verdict,
)
from meshshift.migration.loading import validate_spec
from meshshift.migration.plan import build_plan, metric_sources, ramp_steps, spec_warnings
from meshshift.migration.spec import AnalysisSpec, DrainSpec, MigrationSpec
from tests.unit.meshdata import blue_task_definition, inventory
from tests.unit.specdata import BLUE_TG, CLOUDFRONT_EDGE, shop


def blue_service(name: str, **extra: object) -> BlueService:
    td = blue_task_definition(family=name)
    return BlueService.model_validate(
        {
            "name": name,
            "arn": f"arn:aws:ecs:us-east-1:123456789012:service/shop/{name}",
            "cluster": "shop",
            "desired_count": 3,
            "running_count": 3,
            "task_definition_arn": f"arn:aws:ecs:us-east-1:123456789012:task-definition/{name}:7",
            "task_definition": td,
            "launch_type": "FARGATE",
            "platform_version": "1.4.0",
            "network": NetworkConfig(subnets=["subnet-0a1"], security_groups=["sg-0b2"], assign_public_ip=False),
            **extra,
        }
    )


def discovery(with_mesh: bool = True) -> BlueDiscovery:
    return BlueDiscovery(
        services=[
            blue_service(
                "frontend",
                load_balancers=[
                    LoadBalancerAttachment(target_group_arn=BLUE_TG, container_name="app", container_port=8080),
                    LoadBalancerAttachment(
                        target_group_arn=BLUE_TG.replace("shop-blue", "admin"),
                        container_name="app",
                        container_port=8080,
                    ),
                ],
            ),
            blue_service("user-api", virtual_node_name="user-api-vn"),
            blue_service(
                "stock-api",
                launch_type=None,
                capacity_provider_strategy=[CapacityProviderItem(capacity_provider="FARGATE_SPOT", weight=1)],
            ),
        ],
        async_workers=[blue_service("order-worker")],
        appmesh_status=AppMeshStatus.AVAILABLE if with_mesh else AppMeshStatus.UNAVAILABLE,
        appmesh=inventory() if with_mesh else None,
        warnings=["App Mesh API did not answer"] if not with_mesh else [],
    )


@pytest.fixture
def spec() -> MigrationSpec:
    data = shop()
    data["green"]["subnets"] = ["subnet-0c3"]
    return validate_spec(data)


def test_build_plan_green_services(spec: MigrationSpec) -> None:
    plan = build_plan(spec, discovery())
    assert [(s.blue_service, s.green_service, s.cluster, s.desired_count) for s in plan.services] == [
        ("frontend", "frontend-sc", "shop", 3),
        ("user-api", "user-api-sc", "shop", 3),
        ("stock-api", "stock-api-sc", "shop", 3),
    ]
    frontend, user_api, stock_api = plan.services
    assert frontend.task_definition.family == "frontend-sc"
    assert [c.name for c in frontend.task_definition.containerDefinitions] == ["app", "xray"]
    assert frontend.service_connect.namespace == "shop.local" and frontend.service_connect.enabled
    # Network from blue, with green's override of the subnets only.
    assert frontend.network == NetworkConfig(subnets=["subnet-0c3"], security_groups=["sg-0b2"], assign_public_ip=False)
    assert (frontend.launch_type, frontend.platform_version) == ("FARGATE", "1.4.0")
    assert stock_api.launch_type is None and stock_api.capacity_provider_strategy[0].capacity_provider == "FARGATE_SPOT"
    # The edge's blue target group maps to green's; an unmapped one is dropped with a warning.
    assert [lb.target_group_arn for lb in frontend.load_balancers] == [spec.edge[0].green_target_group_arn]  # type: ignore[union-attr]
    assert any("admin" in w and "not attached" in w for w in plan.warnings)
    assert user_api.service_connect.services[0].clientAliases == []
    # All three test services carry user-api's node in their envoy env: the alias stays with the first.
    assert frontend.service_connect.services[0].clientAliases[0].dnsName == "user-api.shop.local"
    assert any("client alias user-api.shop.local:80 is claimed by" in w for w in plan.warnings)
    # Discovery names stay unique in the namespace even though all three share user-api's node data.
    discovery_names = [s.discoveryName for p in plan.services for s in p.service_connect.services]
    assert len(discovery_names) == len(set(discovery_names))
    assert any("retry policy" in u for u in plan.untranslatable)


def test_build_plan_async_workers_steps_and_rollback(spec: MigrationSpec) -> None:
    plan = build_plan(spec, discovery())
    (worker,) = plan.async_workers
    assert worker.is_async_worker and (worker.blue_service, worker.green_service, worker.desired_count) == (
        "order-worker",
        "order-worker-sc",
        2,
    )
    assert [s.percent for s in plan.steps] == [1, 5, 25, 50, 100]
    assert all(w.green == 0 and w.blue == 100 for w in plan.rollback_weights)
    assert plan.steps[-1].weights[0].blue == 0


def test_build_plan_without_app_mesh(spec: MigrationSpec) -> None:
    plan = build_plan(spec, discovery(with_mesh=False))
    assert "App Mesh API did not answer" in plan.warnings
    assert all(p.service_connect.services[0].clientAliases == [] for p in plan.services)
    assert any("no client alias" in w for w in plan.warnings)


def test_build_plan_missing_services_are_warnings(spec: MigrationSpec) -> None:
    found = discovery()
    found = found.model_copy(update={"services": found.services[:1], "async_workers": []})
    plan = build_plan(spec, found)
    assert [p.blue_service for p in plan.services] == ["frontend"]
    assert any("'user-api' was not found" in w for w in plan.warnings)
    assert any("'order-worker' was not found" in w for w in plan.warnings)


def test_ramp_steps_with_overrides() -> None:
    data = shop()
    data["ramp"]["steps"] = [1, {"weight": 15, "bake": "PT1H", "approval": "auto"}, 100]
    data["edge"].append({**CLOUDFRONT_EDGE, "promotion": "promote_at_100"})
    steps = ramp_steps(validate_spec(data))
    assert [(s.percent, s.bake, s.approval_required) for s in steps] == [
        (1, timedelta(minutes=10), True),
        (15, timedelta(hours=1), False),
        (100, timedelta(minutes=10), True),
    ]
    cf = [w for s in steps for w in s.weights if w.mechanism == "cloudfront"]
    assert [(w.green, w.promoted) for w in cf] == [(0.01, False), (0.15, False), (1.0, True)]


def test_spec_warnings() -> None:
    data = shop()
    data["ramp"]["bake"] = "PT30S"
    data["edge"].append({**CLOUDFRONT_EDGE, "promotion": "hold_at_cap"})
    warnings = " | ".join(spec_warnings(validate_spec(data)))
    assert "shorter than the record TTL" in warnings and "keep this shifter at 15%" in warnings


def test_metric_sources(spec: MigrationSpec) -> None:
    sources = metric_sources(spec, build_plan(spec, discovery()))
    (alb,) = sources.alb
    assert alb.load_balancer == "app/shop/50dc6c495c0c9188"
    assert alb.blue_target_group == "targetgroup/shop-blue/73e2d6bc24d8a067"
    assert alb.green_target_group == "targetgroup/shop-green/9f1c3a7be0d24e55"
    assert [(s.cluster, s.green_service) for s in sources.service_connect] == [
        ("shop", "frontend-sc"),
        ("shop", "user-api-sc"),
        ("shop", "stock-api-sc"),
    ]


# --- analysis -----------------------------------------------------------------------------------

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def snapshot(green: TrafficFigures, blue: TrafficFigures | None = None) -> MetricsSnapshot:
    return MetricsSnapshot(
        window_start=NOW - timedelta(minutes=5), window_end=NOW, green=green, blue=blue or TrafficFigures()
    )


@pytest.mark.parametrize(
    ("green", "blue", "thresholds", "verdict", "needle"),
    [
        (TrafficFigures(requests=1000, errors_5xx=5), None, {}, Verdict.PASS, "within max_5xx_rate"),
        (TrafficFigures(requests=1000, errors_5xx=50), None, {}, Verdict.FAIL, "above max_5xx_rate"),
        (TrafficFigures(requests=10, errors_5xx=0), None, {}, Verdict.INCONCLUSIVE, "fewer than min_request_count"),
        (TrafficFigures(), None, {"on_no_data": "pass"}, Verdict.PASS, "on_no_data is pass"),
        (TrafficFigures(), None, {"on_no_data": "fail"}, Verdict.FAIL, "on_no_data is fail"),
        (TrafficFigures(requests=500, p99_ms=900), None, {"max_p99_latency_ms": 500}, Verdict.FAIL, "above max_p99"),
        (TrafficFigures(requests=500, p99_ms=400), None, {"max_p99_latency_ms": 500}, Verdict.PASS, "within max_p99"),
        (TrafficFigures(requests=500), None, {"max_p99_latency_ms": 500}, Verdict.INCONCLUSIVE, "no p99"),
        (
            TrafficFigures(requests=500, p99_ms=300),
            TrafficFigures(requests=500, p99_ms=100),
            {"max_p99_latency_ratio_to_blue": 1.5},
            Verdict.FAIL,
            "1.5 x blue",
        ),
        (
            TrafficFigures(requests=500, p99_ms=120),
            TrafficFigures(requests=500, p99_ms=100),
            {"max_p99_latency_ratio_to_blue": 1.5},
            Verdict.PASS,
            "within 1.5 x blue",
        ),
        (
            TrafficFigures(requests=500, p99_ms=120),
            None,
            {"max_p99_latency_ratio_to_blue": 1.5},
            Verdict.PASS,
            "relative to blue is skipped",
        ),
    ],
)
def test_judge(
    green: TrafficFigures, blue: TrafficFigures | None, thresholds: dict[str, object], verdict: Verdict, needle: str
) -> None:
    result = judge(snapshot(green, blue), AnalysisSpec.model_validate(thresholds))
    assert result.verdict is verdict
    assert any(needle in r for r in result.reasons), result.reasons


def test_blue_is_idle() -> None:
    drain = DrainSpec(idle_threshold=2)
    assert blue_is_idle(snapshot(TrafficFigures(), TrafficFigures(requests=0)), drain)
    assert blue_is_idle(snapshot(TrafficFigures(), TrafficFigures(requests=2, active_connections=1)), drain)
    assert not blue_is_idle(snapshot(TrafficFigures(), TrafficFigures(requests=3)), drain)
    assert not blue_is_idle(snapshot(TrafficFigures(), TrafficFigures(requests=0, active_connections=5)), drain)


def test_snapshots_collected_in_batches_add_up_as_one_collection() -> None:
    parts = [
        snapshot(
            TrafficFigures(requests=100, errors_5xx=1, p99_ms=80), TrafficFigures(requests=10, active_connections=2)
        ),
        snapshot(TrafficFigures(requests=50, errors_5xx=4, p99_ms=120), TrafficFigures(requests=5)),
        snapshot(TrafficFigures(), TrafficFigures(active_connections=3)),
    ]
    parts[1].notes.append("blue measured at the edge only")
    one = merged(parts)
    assert one.green == TrafficFigures(requests=150, errors_5xx=5, p99_ms=120, active_connections=None)
    assert one.blue == TrafficFigures(requests=15, errors_5xx=0, p99_ms=None, active_connections=5)
    assert (one.window_start, one.window_end, one.notes) == (NOW - timedelta(minutes=5), NOW, parts[1].notes)
