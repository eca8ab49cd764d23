"""Virtual services, routers and routes: who takes each client alias, and what routing is reported."""

from __future__ import annotations

from typing import Any

import pytest

from meshshift.migration import translate_routing
from meshshift.migration.contracts import (
    AppMeshInventory,
    AppMeshListener,
    AppMeshMatch,
    AppMeshRetryPolicy,
    AppMeshRouteTarget,
    AppMeshVirtualRouter,
    AppMeshVirtualService,
)
from meshshift.migration.translate import translate_service
from meshshift.migration.translate_routing import (
    aliases_for,
    decisions_for,
    describe_match,
    matches_every_request,
    retry_items,
    route_timeouts,
    route_virtual_service,
    routing_item,
)
from meshshift.migration.translate_taskdef import ServedPort
from tests.unit.meshdata import PATH_ROUTES, color_mesh, node, plain_task_definition, route

COLOR = AppMeshVirtualService(name="color.shop.local", provider_router="color-router")
PORT = [ServedPort(port=8080, app_protocol="http")]


def test_match_descriptions_keep_every_condition() -> None:
    assert describe_match(None) == "every request"
    assert describe_match(AppMeshMatch(prefix="/")) == "prefix /"
    match = AppMeshMatch(
        prefix="/api",
        method="POST",
        headers=["x-version exact 2", "!x-canary present"],
        query_parameters=["debug exact 1"],
        port=8080,
    )
    assert describe_match(match) == (
        "prefix /api, method POST, header x-version exact 2, header !x-canary present, query debug exact 1, port 8080"
    )
    grpc = AppMeshMatch(service_name="bank.Accounts", method_name="Get", metadata=["tenant exact a"])
    assert describe_match(grpc) == "gRPC service bank.Accounts, gRPC method Get, metadata tenant exact a"


def test_only_a_match_that_selects_nothing_matches_every_request() -> None:
    assert matches_every_request(None)
    assert matches_every_request(AppMeshMatch(prefix="/"))
    assert matches_every_request(AppMeshMatch(port=8080))  # a port picks the listener, not the request
    for narrower in (
        AppMeshMatch(prefix="/a"),
        AppMeshMatch(path="exact /a"),
        AppMeshMatch(method="GET"),
        AppMeshMatch(headers=["x exact 1"]),
        AppMeshMatch(query_parameters=["q"]),
        AppMeshMatch(service_name="svc"),
        AppMeshMatch(metadata=["m exact 1"]),
    ):
        assert not matches_every_request(narrower), narrower


def test_a_virtual_service_provided_by_a_node_goes_to_that_node() -> None:
    mesh = AppMeshInventory(
        mesh_name="m",
        virtual_nodes=[node("a-vn")],
        virtual_services=[AppMeshVirtualService(name="a.local", provider_node="a-vn")],
    )
    (decision,) = decisions_for(mesh)
    assert (decision.mode, decision.alias_node) == ("node", "a-vn")
    assert aliases_for("a-vn", mesh, PORT, [decision]) == {8080: [("a.local", 8080)]}
    assert routing_item("svc", "a-vn", decision) is None


def test_routes_that_all_reach_one_node_carry_the_alias_whatever_they_match() -> None:
    mesh = color_mesh(
        route("api", ("blue-vn", 1), match=AppMeshMatch(prefix="/api")),
        route("rest", ("blue-vn", 1)),
    )
    decision = route_virtual_service(COLOR, mesh)
    assert (decision.mode, decision.alias_node) == ("single", "blue-vn")
    assert routing_item("svc", "blue-vn", decision) is None
    # The client port is the router's listener port, not the node's.
    assert aliases_for("blue-vn", mesh, PORT, [decision]) == {8080: [("color.shop.local", 80)]}


def test_path_based_routing_without_a_catch_all_is_reported_by_route_and_gets_no_alias() -> None:
    mesh = color_mesh(*PATH_ROUTES)
    decision = route_virtual_service(COLOR, mesh)
    assert (decision.mode, decision.alias_node) == ("match", None)
    for target in ("blue-vn", "red-vn"):
        item = routing_item("svc", target, decision)
        assert item is not None and item.app_mesh_construct == "route match"
        assert "route color1 (prefix /color1) -> blue-vn" in item.detail
        assert "route color2 (prefix /color2) -> red-vn" in item.detail
        assert "no client alias for color.shop.local" in item.detail
        # Never misread as a weighted split (issue 19, point 3).
        assert "split" not in item.detail and "heaviest" not in item.detail
    assert aliases_for("blue-vn", mesh, PORT, [decision]) == {}
    assert aliases_for("red-vn", mesh, PORT, [decision]) == {}


def test_path_based_routing_with_a_catch_all_sends_everything_to_the_catch_all_target() -> None:
    mesh = color_mesh(
        route("color2", ("red-vn", 1), match=AppMeshMatch(prefix="/color2")),
        route("default", ("blue-vn", 1)),
    )
    decision = route_virtual_service(COLOR, mesh)
    assert (decision.mode, decision.alias_node, decision.default_route) == ("match", "blue-vn", "default")
    red = routing_item("red-svc", "red-vn", decision)
    assert red is not None and red.service == "red-svc"
    assert "green sends every request for color.shop.local to blue-vn's green service (not red-vn's)" in red.detail
    assert aliases_for("blue-vn", mesh, PORT, [decision]) == {8080: [("color.shop.local", 80)]}
    assert aliases_for("red-vn", mesh, PORT, [decision]) == {}


def test_header_method_and_query_routes_are_request_routing_too() -> None:
    for match in (
        AppMeshMatch(headers=["x-canary exact true"]),
        AppMeshMatch(method="POST"),
        AppMeshMatch(query_parameters=["beta exact 1"]),
        AppMeshMatch(path="exact /v2"),
    ):
        mesh = color_mesh(route("canary", ("red-vn", 1), match=match, priority=1), route("default", ("blue-vn", 1)))
        decision = route_virtual_service(COLOR, mesh)
        assert decision.mode == "match" and decision.alias_node == "blue-vn", match
        item = routing_item(None, "red-vn", decision)
        assert item is not None and describe_match(match) in item.detail


def test_a_weighted_split_gives_the_alias_to_the_heaviest_target_and_is_reported() -> None:
    mesh = color_mesh(route("canary", ("blue-vn", 90), ("red-vn", 10)))
    decision = route_virtual_service(COLOR, mesh)
    assert (decision.mode, decision.alias_node, decision.weights) == (
        "weighted",
        "blue-vn",
        {"blue-vn": 90, "red-vn": 10},
    )
    light = routing_item("red", "red-vn", decision)
    assert light is not None and light.app_mesh_construct == "weighted routing"
    assert "blue-vn (90), red-vn (10)" in light.detail and "no weighted routing" in light.detail
    assert aliases_for("red-vn", mesh, PORT, [decision]) == {}


def test_a_retry_policy_is_reported_for_every_target_even_without_the_alias() -> None:
    policy = AppMeshRetryPolicy(max_retries=3, per_retry_timeout_seconds=2, events=["server-error", "gateway-error"])
    mesh = color_mesh(
        route("color2", ("red-vn", 1), match=AppMeshMatch(prefix="/color2"), retry_policy=policy),
        route("default", ("blue-vn", 1)),
    )
    (item,) = retry_items("red", "red-vn", mesh)
    assert (item.service, item.app_mesh_construct, item.resource) == (
        "red",
        "retry policy",
        "route color-router/color2",
    )
    assert "3 retries, 2 s per try, on server-error, gateway-error" in item.detail
    assert retry_items("blue", "blue-vn", mesh) == []
    # Data read before retry policies were itemised still says there was one.
    legacy = color_mesh(route("default", ("blue-vn", 1), has_retry_policy=True))
    assert "a retry policy is not carried over" in retry_items("blue", "blue-vn", legacy)[0].detail


def test_route_timeouts_take_the_longest_and_report_when_routes_differ() -> None:
    mesh = color_mesh(
        route(
            "slow", ("blue-vn", 1), match=AppMeshMatch(prefix="/report"), timeout_seconds=60, idle_timeout_seconds=300
        ),
        route("default", ("blue-vn", 1), timeout_seconds=5),
    )
    per_request, idle, items = route_timeouts("blue", "blue-vn", mesh, PORT)
    assert (per_request, idle) == ({8080: 60}, {8080: 300})
    (item,) = items
    assert item.app_mesh_construct == "route timeout"
    assert "color-router/default 5 s, color-router/slow 60 s" in item.detail and "the longest, 60 s" in item.detail
    same = color_mesh(route("a", ("blue-vn", 1), timeout_seconds=5), route("b", ("red-vn", 1), timeout_seconds=9))
    assert route_timeouts("blue", "blue-vn", same, PORT) == ({8080: 5}, {}, [])


def test_a_route_to_a_named_port_and_a_router_port_match() -> None:
    mesh = color_mesh(route("admin", ("blue-vn", 1), match=AppMeshMatch(prefix="/", port=9000)))
    mesh.routes[0].targets = [AppMeshRouteTarget(virtual_node="blue-vn", weight=1, port=9090)]
    ports = [ServedPort(port=8080, app_protocol="http"), ServedPort(port=9090, app_protocol="http")]
    assert aliases_for("blue-vn", mesh, ports, decisions_for(mesh)) == {9090: [("color.shop.local", 9000)]}


def test_translated_path_routed_services_keep_their_own_settings_and_report_the_routing() -> None:
    mesh = color_mesh(*PATH_ROUTES)
    out = translate_service(
        plain_task_definition("red"), service_name="red", family_suffix="-sc", appmesh=mesh, virtual_node_name="red-vn"
    )
    (svc,) = out.services
    assert svc.clientAliases == [] and svc.discoveryName == "red"
    assert out.task_definition.containerDefinitions[0].portMappings[0].appProtocol == "http"
    assert [u.app_mesh_construct for u in out.untranslatable] == ["route match"]


def _many_routed_services(count: int) -> AppMeshInventory:
    names = [f"s{i}" for i in range(count)]
    return AppMeshInventory(
        mesh_name="m",
        virtual_nodes=[node(f"{n}-vn") for n in names],
        virtual_services=[AppMeshVirtualService(name=f"{n}.m.local", provider_router=f"{n}-router") for n in names],
        virtual_routers=[
            AppMeshVirtualRouter(name=f"{n}-router", listeners=[AppMeshListener(port=80, protocol="http")])
            for n in names
        ],
        routes=[route("default", (f"{n}-vn", 1), router=f"{n}-router") for n in names],
    )


def test_each_virtual_service_is_routed_once_per_mesh_not_once_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every service's translation asked for every virtual service's routing: cubic in the number
    of services (273 s to plan 1,000). The mesh's decisions are made once and looked up."""
    mesh = _many_routed_services(40)
    calls: list[str] = []
    original = translate_routing.route_virtual_service

    def counted(vs: AppMeshVirtualService, *args: Any) -> Any:
        calls.append(vs.name)
        return original(vs, *args)

    monkeypatch.setattr(translate_routing, "route_virtual_service", counted)
    results = [
        translate_service(
            plain_task_definition(f"s{i}"),
            service_name=f"s{i}",
            family_suffix="-sc",
            appmesh=mesh,
            virtual_node_name=f"s{i}-vn",
        )
        for i in range(40)
    ]
    assert sorted(calls) == sorted(vs.name for vs in mesh.virtual_services)
    # And each service still takes its own alias, on the router's port.
    assert [[(a.dnsName, a.port) for s in r.services for a in s.clientAliases] for r in results] == [
        [(f"s{i}.m.local", 80)] for i in range(40)
    ]


def test_the_mesh_index_follows_an_inventory_that_grew() -> None:
    mesh = _many_routed_services(2)
    assert [d.virtual_service for d in decisions_for(mesh)] == ["s0.m.local", "s1.m.local"]
    mesh.virtual_services.append(AppMeshVirtualService(name="s9.m.local", provider_node="s0-vn"))
    assert [d.virtual_service for d in decisions_for(mesh)] == ["s0.m.local", "s1.m.local", "s9.m.local"]
    assert decisions_for(mesh) == decisions_for(mesh.model_copy(deep=True))
