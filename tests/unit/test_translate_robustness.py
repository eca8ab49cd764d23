"""Odd App Mesh data and odd task definitions: the plan is still made, never a traceback, and what it
says stays consistent (no Envoy left in green, unique names, every finding in both forms)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshshift.migration.contracts import (
    AppMeshGateway,
    AppMeshGatewayRoute,
    AppMeshInventory,
    AppMeshListener,
    AppMeshMatch,
    AppMeshRoute,
    AppMeshRouteTarget,
    AppMeshVirtualNode,
    AppMeshVirtualRouter,
    AppMeshVirtualService,
    BlueDiscovery,
    BlueService,
    TaskDefinition,
)
from meshshift.migration.plan import build_plan
from meshshift.migration.spec import MigrationSpec
from meshshift.migration.translate_taskdef import proxy_app_ports, sc_name, unique_name
from tests.unit.meshdata import ENVOY_IMAGE, MESH_ARN
from tests.unit.specdata import shop

NODES = ["a-vn", "b-vn", "c-vn", "ghost-vn"]  # ghost-vn is named but never defined
SERVICES = ["svc-a", "svc-b", "svc-c"]
ports = st.sampled_from([0, 80, 8080, 8080, 9090, 70000])
protocols = st.sampled_from(["http", "http2", "grpc", "tcp", "HTTP", "weird"])
matches = st.builds(
    AppMeshMatch,
    prefix=st.sampled_from([None, "", "/", "/a", "/b"]),
    method=st.sampled_from([None, "GET"]),
    headers=st.lists(st.sampled_from(["x exact 1", "!y present"]), max_size=1),
    port=st.sampled_from([None, 80, 9999]),
)
listeners = st.builds(
    AppMeshListener,
    port=ports,
    protocol=protocols,
    timeout_seconds=st.sampled_from([None, 0, 5]),
    tls_mode=st.sampled_from([None, "STRICT", "PERMISSIVE", "DISABLED", "odd"]),
    tls_validation=st.sampled_from([None, "sds"]),
)
nodes = st.builds(
    AppMeshVirtualNode,
    name=st.sampled_from(NODES[:3]),
    listeners=st.lists(listeners, max_size=3),
    cloud_map_namespace=st.sampled_from([None, "shop.local", "other.local"]),
    cloud_map_service=st.sampled_from([None, "svc-a", "Odd Name!!"]),
    dns_hostname=st.sampled_from([None, "a.local", "."]),
    backends=st.lists(st.sampled_from(["vs-a", "vs-r", "missing"]), max_size=3),
)
routes = st.builds(
    AppMeshRoute,
    router=st.sampled_from(["r1", "r2"]),
    name=st.sampled_from(["x", "y", "z"]),
    protocol=protocols,
    targets=st.lists(
        st.builds(
            AppMeshRouteTarget,
            virtual_node=st.sampled_from(NODES),
            weight=st.integers(0, 100),
            port=st.sampled_from([None, 8080, 1]),
        ),
        max_size=3,
    ),
    timeout_seconds=st.sampled_from([None, 3, 30]),
    has_retry_policy=st.booleans(),
    match=st.one_of(st.none(), matches),
    priority=st.sampled_from([None, 0, 1000]),
)
meshes = st.builds(
    AppMeshInventory,
    mesh_name=st.just("m"),
    virtual_nodes=st.lists(nodes, max_size=4),
    virtual_services=st.lists(
        st.builds(
            AppMeshVirtualService,
            name=st.sampled_from(["vs-a", "vs-r", "vs-b"]),
            provider_node=st.sampled_from([None, *NODES]),
            provider_router=st.sampled_from([None, "r1", "r2", "nowhere"]),
        ),
        max_size=4,
    ),
    virtual_routers=st.lists(
        st.builds(AppMeshVirtualRouter, name=st.sampled_from(["r1", "r2"]), listeners=st.lists(listeners, max_size=2)),
        max_size=2,
    ),
    routes=st.lists(routes, max_size=5),
    virtual_gateways=st.lists(
        st.builds(
            AppMeshGateway,
            name=st.sampled_from(["gw", "gw2"]),
            gateway_routes=st.lists(
                st.builds(
                    AppMeshGatewayRoute,
                    name=st.sampled_from(["g1", "g2"]),
                    protocol=st.just("http"),
                    match=matches,
                    target_virtual_service=st.sampled_from([None, "vs-a", "vs-r", "nowhere"]),
                    rewrite=st.sampled_from([None, "prefix /a rewritten to /"]),
                ),
                max_size=2,
            ),
        ),
        max_size=2,
    ),
    egress_filter=st.sampled_from([None, "DROP_ALL"]),
)


@st.composite
def task_definitions(draw: st.DrawFn, family: str) -> TaskDefinition:
    resource = draw(
        st.sampled_from(
            [None, f"{MESH_ARN}/virtualNode/a-vn", f"{MESH_ARN}/virtualNode/ghost-vn", f"{MESH_ARN}/virtualGateway/gw"]
        )
    )
    containers: list[dict[str, Any]] = []
    if draw(st.booleans()):
        env = [{"name": "APPMESH_RESOURCE_ARN", "value": resource}] if resource else []
        containers.append({"name": "envoy", "image": ENVOY_IMAGE, "essential": True, "environment": env})
    for i in range(draw(st.integers(0, 2))):
        mappings: list[dict[str, Any]] = draw(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "containerPort": st.sampled_from([8080, 8080, 9090, 1]),
                        "protocol": st.sampled_from(["tcp", "udp"]),
                    },
                    optional={"name": st.sampled_from(["http", "x" * 62])},
                ),
                max_size=2,
            )
        )
        # ECS refuses a task definition whose port mapping names repeat, so blue never has one.
        for j, mapping in enumerate(mappings):
            if "name" in mapping:
                mapping["name"] = f"{mapping['name']}{i}{j}"
        name = draw(st.sampled_from(["app", "A" * 70, "side car"])) + str(i)
        containers.append(
            {
                "name": name,
                "image": "app:1",
                "essential": draw(st.sampled_from([None, False, True])),
                "portMappings": mappings,
                "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}],
            }
        )
    body: dict[str, Any] = {"family": family, "containerDefinitions": containers}
    with_proxy: bool = draw(st.booleans())
    if containers and with_proxy:
        app_ports = draw(st.sampled_from(["8080", "8080, 9090", "abc", "99999", ""]))
        body["proxyConfiguration"] = {
            "type": "APPMESH",
            "containerName": "envoy",
            "properties": [{"name": "AppPorts", "value": app_ports}],
        }
    return TaskDefinition.model_validate(body)


@st.composite
def discoveries(draw: st.DrawFn) -> BlueDiscovery:
    services = [
        BlueService(
            name=name,
            arn=f"arn:aws:ecs:us-east-1:123456789012:service/shop/{name}",
            cluster="shop",
            desired_count=1,
            running_count=1,
            task_definition_arn=f"arn:aws:ecs:us-east-1:123456789012:task-definition/{name}:1",
            task_definition=draw(task_definitions(name)),
            virtual_node_name=draw(st.sampled_from([None, "b-vn", "ghost-vn"])),
        )
        for name in SERVICES
    ]
    mesh = draw(st.one_of(st.none(), meshes))
    return BlueDiscovery(services=services, appmesh_status="available" if mesh else "unavailable", appmesh=mesh)


def spec(retire: list[str]) -> MigrationSpec:
    data = shop()
    data["blue"]["services"] = SERVICES
    data["blue"]["retire"] = retire
    data["async_workers"] = []
    return MigrationSpec.model_validate(data)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(discovery=discoveries(), retire=st.lists(st.sampled_from(SERVICES), max_size=1))
def test_any_mesh_and_task_definitions_give_a_consistent_plan(discovery: BlueDiscovery, retire: list[str]) -> None:
    plan = build_plan(spec(retire), discovery)
    assert plan.untranslatable == [item.text() for item in plan.untranslatable_items]
    assert {p.blue_service for p in plan.services}.isdisjoint(plan.retired_services)
    assert {p.blue_service for p in plan.services} | set(plan.retired_services) == set(SERVICES)
    discovery_names = [s.discoveryName for p in plan.services for s in p.service_connect.services]
    assert len(discovery_names) == len(set(discovery_names))
    aliases = [(a.dnsName, a.port) for p in plan.services for s in p.service_connect.services for a in s.clientAliases]
    assert len(aliases) == len(set(aliases))
    for green in plan.services:
        td = green.task_definition
        assert td.containerDefinitions and td.proxyConfiguration is None
        assert any(c.essential is not False for c in td.containerDefinitions)
        assert all(c.name != "envoy" and "appmesh-envoy" not in c.image for c in td.containerDefinitions)
        names = [m.name for c in td.containerDefinitions for m in c.portMappings]
        assert all(names) and len(names) == len(set(names)) and all(len(n or "") <= 64 for n in names)


def test_names_never_loop_or_overflow() -> None:
    used = {"x" * 64}
    assert unique_name("x" * 64, used) == "x" * 62 + "-2"
    assert unique_name("x" * 64, used) == "x" * 62 + "-3"
    assert sc_name("---") == "port" and sc_name("Admin UI 8080") == "admin-ui-8080"


def test_proxy_app_ports_ignore_what_is_not_a_port() -> None:
    td = TaskDefinition.model_validate(
        {
            "family": "x",
            "containerDefinitions": [],
            "proxyConfiguration": {
                "containerName": "envoy",
                "properties": [{"name": "AppPorts", "value": "8080, abc,99999 8080\t9090"}],
            },
        }
    )
    assert proxy_app_ports(td) == [8080, 9090]
