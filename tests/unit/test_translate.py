"""App Mesh -> Service Connect translation of one blue service."""

from __future__ import annotations

import pytest

from meshshift.migration.contracts import (
    AppMeshInventory,
    AppMeshListener,
    AppMeshRoute,
    AppMeshRouteTarget,
    AppMeshVirtualNode,
    TaskDefinition,
)
from meshshift.migration.translate import (
    EnvoyOnlyTaskDefinition,
    envoy_container_names,
    make_discovery_names_unique,
    service_connect_configuration,
    translate_service,
    virtual_node_from_task_definition,
)
from meshshift.migration.translate_mesh import mesh_items
from tests.unit.meshdata import ENVOY_LOGS, NODE_ARN, blue_task_definition, inventory


def names(td: TaskDefinition) -> list[str]:
    return [c.name for c in td.containerDefinitions]


def assert_no_envoy_traces(td: TaskDefinition) -> None:
    assert td.proxyConfiguration is None
    assert "proxyConfiguration" not in td.model_dump(exclude_none=True)
    for c in td.containerDefinitions:
        assert "envoy" not in c.name and "aws-appmesh-envoy" not in c.image
        assert not [e for e in c.environment if e.name.startswith(("APPMESH_", "ENVOY_"))]
        assert not [d for d in c.dependsOn if d.containerName == "envoy"]


def test_with_app_mesh_data() -> None:
    out = translate_service(
        blue_task_definition(),
        service_name="user-api",
        family_suffix="-sc",
        green_namespace="shop.local",
        appmesh=inventory(),
    )
    td = out.task_definition
    assert td.family == "user-api-sc"
    assert names(td) == ["app", "xray"]
    assert_no_envoy_traces(td)
    app = td.containerDefinitions[0]
    assert [e.name for e in app.environment] == ["DB_HOST"]
    assert [d.containerName for d in app.dependsOn] == ["xray"]
    (port,) = app.portMappings
    assert (port.name, port.appProtocol, port.containerPort) == ("app-8080", "http", 8080)
    # What the user had beyond the modelled keys survives; what ECS refuses on register does not.
    dumped = td.model_dump(exclude_none=True)
    assert dumped["volumes"] == [{"name": "scratch"}] and dumped["containerDefinitions"][0]["mountPoints"]
    assert "taskDefinitionArn" not in dumped and "revision" not in dumped and "status" not in dumped
    assert out.virtual_node == "user-api-vn" and out.envoy_containers == ["envoy"]

    (svc,) = out.services
    assert svc.portName == "app-8080"
    assert svc.discoveryName == "user-api"
    assert [(a.dnsName, a.port) for a in svc.clientAliases] == [("user-api.shop.local", 80)]
    assert svc.timeout is not None
    assert (svc.timeout.perRequestTimeoutSeconds, svc.timeout.idleTimeoutSeconds) == (30, 300)
    assert out.log_configuration == ENVOY_LOGS and out.access_log_configuration == {
        "format": "TEXT",
        "includeQueryParameters": "DISABLED",
    }
    assert any(u.app_mesh_construct == "retry policy" for u in out.untranslatable)

    config = service_connect_configuration("shop.local", out)
    assert config.enabled and config.namespace == "shop.local" and config.logConfiguration == ENVOY_LOGS
    assert config.accessLogConfiguration is not None


def test_without_app_mesh_data_falls_back_to_the_task_definition() -> None:
    blue = blue_task_definition()
    assert virtual_node_from_task_definition(blue) == "user-api-vn"
    out = translate_service(blue, service_name="user-api", family_suffix="-sc")
    assert_no_envoy_traces(out.task_definition)
    (port,) = out.task_definition.containerDefinitions[0].portMappings
    assert port.name == "app-8080" and port.appProtocol is None
    (svc,) = out.services
    assert (svc.portName, svc.discoveryName, svc.clientAliases, svc.timeout) == ("app-8080", "user-api", [], None)
    assert any("protocol unknown" in w for w in out.warnings)
    assert any("no client alias" in w for w in out.warnings)
    assert out.untranslatable == []


def test_legacy_virtual_node_env_and_envoy_found_by_image_only() -> None:
    blue = blue_task_definition()
    data = blue.model_dump(exclude_none=True)
    data.pop("proxyConfiguration")
    envoy = data["containerDefinitions"][1]
    envoy["name"] = "proxy"
    envoy["environment"] = [{"name": "APPMESH_VIRTUAL_NODE_NAME", "value": "mesh/shop-mesh/virtualNode/user-api-vn"}]
    data["containerDefinitions"][0]["dependsOn"] = [{"containerName": "proxy", "condition": "HEALTHY"}]
    blue = TaskDefinition.model_validate(data)
    assert envoy_container_names(blue) == ["proxy"]
    out = translate_service(blue, service_name="user-api", family_suffix="-sc", appmesh=inventory())
    assert names(out.task_definition) == ["app", "xray"]
    assert out.task_definition.containerDefinitions[0].dependsOn == []
    assert out.services[0].clientAliases[0].dnsName == "user-api.shop.local"


def test_envoy_found_as_the_proxy_container_under_another_name_and_image() -> None:
    data = blue_task_definition().model_dump(exclude_none=True)
    data["proxyConfiguration"]["containerName"] = "sidecar"
    data["containerDefinitions"][1].update(name="sidecar", image="example.com/my-envoy:1")
    assert envoy_container_names(TaskDefinition.model_validate(data)) == ["sidecar"]


def test_several_containers_and_unnamed_ports_get_stable_unique_names() -> None:
    data = blue_task_definition().model_dump(exclude_none=True)
    data["containerDefinitions"][0]["portMappings"] = [
        {"containerPort": 8080, "protocol": "tcp"},
        {"containerPort": 9090, "protocol": "tcp", "name": "metrics"},
    ]
    data["containerDefinitions"].append(
        {"name": "Admin_UI", "image": "admin:1", "portMappings": [{"containerPort": 8080}, {"containerPort": 3000}]}
    )
    blue = TaskDefinition.model_validate(data)
    first = translate_service(blue, service_name="user-api", family_suffix="-sc", appmesh=inventory())
    again = translate_service(blue, service_name="user-api", family_suffix="-sc", appmesh=inventory())
    assert first == again
    port_names = [m.name for c in first.task_definition.containerDefinitions for m in c.portMappings]
    assert port_names == ["app-8080", "metrics", "xray-2000", "admin_ui-8080", "admin_ui-3000"]
    assert len(set(port_names)) == len(port_names)
    # Only the listener port is a Service Connect endpoint, on the first container that maps it.
    assert [s.portName for s in first.services] == ["app-8080"]


def test_tcp_and_grpc_listeners_and_a_port_without_mapping() -> None:
    mesh = inventory(
        listeners=[
            AppMeshListener(port=8080, protocol="grpc", timeout_seconds=5),
            AppMeshListener(port=7000, protocol="tcp", timeout_seconds=5, idle_timeout_seconds=60),
        ]
    )
    out = translate_service(blue_task_definition(), service_name="user-api", family_suffix="-sc", appmesh=mesh)
    app = out.task_definition.containerDefinitions[0]
    assert [(m.containerPort, m.name, m.appProtocol) for m in app.portMappings] == [
        (8080, "app-8080", "grpc"),
        (7000, "app-7000", None),
    ]
    assert any("added port mapping" in w for w in out.warnings)
    grpc, tcp = out.services
    assert grpc.discoveryName == "user-api" and tcp.discoveryName == "user-api-app-7000"
    assert (
        tcp.timeout is not None
        and tcp.timeout.perRequestTimeoutSeconds is None
        and tcp.timeout.idleTimeoutSeconds == 60
    )


def test_untranslatable_features_are_reported() -> None:
    mesh = inventory(
        listeners=[
            AppMeshListener(
                port=8080, protocol="http", tls_mode="STRICT", has_outlier_detection=True, has_connection_pool=True
            )
        ],
        client_tls_enforced=True,
    )
    weighted = mesh.model_copy(
        update={
            "virtual_nodes": [
                *mesh.virtual_nodes,
                AppMeshVirtualNode(name="user-api-v2", listeners=mesh.virtual_nodes[0].listeners),
            ],
            "routes": [
                AppMeshRoute(
                    router="user-api-router",
                    name="canary",
                    protocol="http",
                    targets=[
                        AppMeshRouteTarget(virtual_node="user-api-vn", weight=90),
                        AppMeshRouteTarget(virtual_node="user-api-v2", weight=10),
                    ],
                )
            ],
        }
    )
    out = translate_service(blue_task_definition(), service_name="user-api", family_suffix="-sc", appmesh=weighted)
    lost = " | ".join(u.text() for u in out.untranslatable)
    for needle in ("no weighted routing", "outlier detection", "connection pool", "mTLS", "terminates TLS"):
        assert needle in lost
    assert out.services[0].clientAliases[0].dnsName == "user-api.shop.local"  # the heaviest target keeps it
    # The lighter target gets no alias: the hostname can only point at one Service Connect service.
    v2 = translate_service(
        blue_task_definition(),
        service_name="user-api",
        family_suffix="-sc",
        appmesh=weighted,
        virtual_node_name="user-api-v2",
    )
    assert v2.services[0].clientAliases == []


def test_same_cloud_map_namespace_as_blue_gets_a_distinct_discovery_name() -> None:
    out = translate_service(
        blue_task_definition(),
        service_name="user-api",
        family_suffix="-sc",
        green_namespace="shop-mesh.local",
        appmesh=inventory(),
    )
    assert out.services[0].discoveryName == "user-api-sc"


def test_mesh_wide_untranslatable_and_unique_discovery_names() -> None:
    shared = AppMeshInventory(mesh_name="m", mesh_owner="210987654321", shared_from_other_account=True)
    assert "shared across accounts" in mesh_items(shared, set(), set())[0].detail
    assert mesh_items(None, set(), set()) == []
    a = translate_service(blue_task_definition(), service_name="user-api", family_suffix="-sc")
    b = translate_service(blue_task_definition(), service_name="user-api", family_suffix="-sc")
    configs = [service_connect_configuration("ns", a), service_connect_configuration("ns", b)]
    notes = make_discovery_names_unique(configs)
    assert [c.services[0].discoveryName for c in configs] == ["user-api", "user-api-2"] and notes


def test_virtual_node_arn_parsing() -> None:
    assert NODE_ARN.endswith("user-api-vn")
    assert virtual_node_from_task_definition(TaskDefinition(family="x", containerDefinitions=[])) is None


def test_own_mesh_is_not_reported_as_shared() -> None:
    own = AppMeshInventory(mesh_name="m", mesh_owner="123456789012", shared_from_other_account=False)
    assert mesh_items(own, set(), set()) == []


def test_an_envoy_only_task_definition_is_a_named_error_not_a_crash() -> None:
    data = blue_task_definition().model_dump(exclude_none=True)
    data["containerDefinitions"] = [data["containerDefinitions"][1]]
    with pytest.raises(EnvoyOnlyTaskDefinition, match="only Envoy containers"):
        translate_service(TaskDefinition.model_validate(data), service_name="gw", family_suffix="-sc")
