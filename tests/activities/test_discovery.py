"""discover_blue against the simulated AWS: in-process moto and the moto server."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.discovery import DiscoveryActivities, registerable_task_definition
from meshshift.migration.contracts import AppMeshStatus, BlueDiscovery, DiscoverInput
from meshshift.sim.aws.appmesh import UNAVAILABLE_ENV
from tests.activities import conftest_local as blue
from tests.activities.throttle import no_retry_backoff, throttle_once
from tests.netutil import free_port

__all__ = ["no_retry_backoff"]  # a fixture, used by name


def discover(clients: AwsClients, **spec_args: object) -> BlueDiscovery:
    app = spec_args.pop("app", None)
    spec = blue.spec(app, **spec_args)  # type: ignore[arg-type]
    return ActivityEnvironment().run(DiscoveryActivities(clients).discover_blue, DiscoverInput(aws=blue.AWS, spec=spec))


def assert_blue_inventory(result: BlueDiscovery, app: blue.BlueApp) -> None:
    assert [s.name for s in result.services] == blue.SERVICES
    frontend = result.services[0]
    assert frontend.cluster == blue.CLUSTER
    assert frontend.desired_count == 2
    assert frontend.launch_type == "FARGATE"
    assert frontend.task_definition_arn.endswith("task-definition/frontend:1")
    assert frontend.virtual_node_name == "frontend-node"
    assert [lb.target_group_arn for lb in frontend.load_balancers] == [app.target_groups["frontend"]]
    assert frontend.load_balancers[0].container_name == "app"
    assert frontend.load_balancers[0].container_port == 8080
    assert frontend.network is not None
    assert frontend.network.subnets == [app.subnet_id]
    assert frontend.network.security_groups == [app.security_group_id]
    assert frontend.network.assign_public_ip is False
    td = frontend.task_definition
    assert td.family == "frontend"
    assert [c.name for c in td.containerDefinitions] == ["app", "envoy"]
    assert td.proxyConfiguration is not None and td.proxyConfiguration.type == "APPMESH"
    dumped = td.model_dump(exclude_none=True)
    for read_only in (
        "taskDefinitionArn",
        "revision",
        "status",
        "requiresAttributes",
        "compatibilities",
        "registeredAt",
    ):
        assert read_only not in dumped
    assert [w.name for w in result.async_workers] == [blue.WORKER]
    assert result.async_workers[0].load_balancers == []


def test_discovers_blue_services_task_definitions_and_app_mesh(aws_inprocess: None, aws_clients: AwsClients) -> None:
    app = blue.seed_blue()
    result = discover(aws_clients, app=app)

    assert_blue_inventory(result, app)
    assert result.appmesh_status == AppMeshStatus.AVAILABLE
    assert result.warnings == []
    mesh = result.appmesh
    assert mesh is not None and mesh.mesh_name == blue.MESH
    nodes = {n.name: n for n in mesh.virtual_nodes}
    assert set(nodes) == {"frontend-node", "user-api-node", "stock-api-node"}
    node = nodes["frontend-node"]
    assert node.listeners[0].port == 8080 and node.listeners[0].protocol == "http"
    assert node.listeners[0].timeout_seconds == 15
    assert node.cloud_map_namespace == "shop.local" and node.cloud_map_service == "frontend"
    assert sorted(node.backends) == ["stock-api.shop.local", "user-api.shop.local"]
    assert node.access_log_path == "/dev/stdout"
    services = {s.name: s for s in mesh.virtual_services}
    assert services["frontend.shop.local"].provider_node == "frontend-node"
    assert services["user-api.shop.local"].provider_router == "user-api-router"
    assert [r.name for r in mesh.virtual_routers] == ["user-api-router"]
    (route,) = mesh.routes
    assert route.router == "user-api-router" and route.protocol == "http"
    assert [(t.virtual_node, t.weight) for t in route.targets] == [("user-api-node", 100)]
    assert route.timeout_seconds == 30 and route.has_retry_policy
    assert [(g.name, g.routes) for g in mesh.virtual_gateways] == [("ingress", ["to-frontend"])]


def test_repeat_gives_the_same_answer_and_changes_nothing(aws_inprocess: None, aws_clients: AwsClients) -> None:
    app = blue.seed_blue()
    first = discover(aws_clients, app=app)
    services_before = blue.service_count()
    second = discover(aws_clients, app=app)
    assert second == first
    assert blue.service_count() == services_before == len(blue.SERVICES) + 1
    assert blue.revision_count("frontend") == 1


def test_more_than_ten_services_are_described_in_batches(aws_inprocess: None, aws_clients: AwsClients) -> None:
    names = [f"svc-{i:02d}" for i in range(12)]
    blue.seed_blue(with_mesh=False, services=names)
    result = discover(aws_clients, services=names, mesh=None)
    assert [s.name for s in result.services] == names
    assert result.appmesh_status == AppMeshStatus.NOT_CONFIGURED


def test_throttled_describe_services_succeeds_on_retry(
    aws_inprocess: None, aws_clients: AwsClients, no_retry_backoff: None
) -> None:
    app = blue.seed_blue()
    ecs_throttle = throttle_once(aws_clients.ecs(blue.AWS), "DescribeServices", "ThrottlingException")
    mesh_throttle = throttle_once(aws_clients.appmesh(blue.AWS), "ListVirtualNodes", "TooManyRequestsException")
    result = discover(aws_clients, app=app)
    assert ecs_throttle.fired == 1 and mesh_throttle.fired == 1
    assert_blue_inventory(result, app)
    assert result.appmesh_status == AppMeshStatus.AVAILABLE


def test_missing_blue_service_is_a_permanent_error_naming_it(aws_inprocess: None, aws_clients: AwsClients) -> None:
    app = blue.seed_blue(with_mesh=False)
    with pytest.raises(ApplicationError) as caught:
        discover(aws_clients, app=app, services=["frontend", "basket-api"], mesh=None)
    err = caught.value
    assert err.non_retryable
    assert err.type == "BlueServiceNotFound"
    assert "basket-api" in err.message and "'shop'" in err.message
    assert "frontend" not in err.message.split("not found")[0].replace("basket-api", "")


@pytest.mark.parametrize("mode", ["1", "denied"])
def test_app_mesh_unavailable_falls_back_to_task_definitions(
    aws_inprocess: None, aws_clients: AwsClients, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    app = blue.seed_blue()
    monkeypatch.setenv(UNAVAILABLE_ENV, mode)
    result = discover(aws_clients, app=app)
    assert result.appmesh_status == AppMeshStatus.UNAVAILABLE
    assert result.appmesh is None
    assert_blue_inventory(result, app)  # virtual node names still come from the envoy sidecars
    (warning,) = result.warnings
    assert "fell back to the ECS task definitions" in warning and blue.MESH in warning


def test_service_without_envoy_is_reported_when_a_mesh_is_named(aws_inprocess: None, aws_clients: AwsClients) -> None:
    app = blue.seed_blue()
    ecs = blue.client("ecs")
    ecs.register_task_definition(**blue.blue_task_definition("frontend", with_envoy=False))
    ecs.update_service(cluster=blue.CLUSTER, service="frontend", taskDefinition="frontend:2")
    result = discover(aws_clients, app=app)
    assert result.services[0].virtual_node_name is None
    assert any("'frontend'" in w and "no envoy sidecar" in w for w in result.warnings)


def test_registerable_task_definition_drops_read_only_keys() -> None:
    described = {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/x:3",
        "family": "x",
        "revision": 3,
        "status": "ACTIVE",
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}],
        "compatibilities": ["EC2", "FARGATE"],
        "registeredAt": "2026-01-01T00:00:00Z",
        "registeredBy": "arn:aws:iam::123456789012:role/x",
        "deregisteredAt": "2026-01-02T00:00:00Z",
        "containerDefinitions": [
            {"name": "app", "image": "x", "ulimits": [{"name": "nofile", "softLimit": 1, "hardLimit": 2}]}
        ],
        "volumes": [],
        "runtimePlatform": {"operatingSystemFamily": "LINUX"},
    }
    td = registerable_task_definition(described, tags=[{"key": "team", "value": "shop"}])
    body = td.model_dump(exclude_none=True)
    assert set(body) == {"family", "containerDefinitions", "volumes", "runtimePlatform", "tags"}
    # Unknown container keys survive the round trip (nothing in blue is silently dropped).
    assert body["containerDefinitions"][0]["ulimits"][0]["softLimit"] == 1


@pytest.mark.integration
def test_server_mode_discovery_and_unreachable_app_mesh_endpoint(
    aws_server_env: str, aws_clients: AwsClients, monkeypatch: pytest.MonkeyPatch, no_retry_backoff: None
) -> None:
    app = blue.seed_blue()
    result = discover(aws_clients, app=app)
    assert_blue_inventory(result, app)
    assert result.appmesh_status == AppMeshStatus.AVAILABLE
    assert result.appmesh is not None and len(result.appmesh.virtual_services) == 3

    # App Mesh's endpoint gone entirely (connection refused): boto3's per-service endpoint variable
    # sends only App Mesh calls to a port nobody listens on.
    monkeypatch.setenv("AWS_ENDPOINT_URL_APP_MESH", f"http://127.0.0.1:{free_port()}")
    fresh = AwsClients(max_attempts=2)
    gone = discover(fresh, app=app)
    assert gone.appmesh_status == AppMeshStatus.UNAVAILABLE
    assert "EndpointConnectionError" in gone.warnings[0]
    assert [s.virtual_node_name for s in gone.services] == [f"{n}-node" for n in blue.SERVICES]
