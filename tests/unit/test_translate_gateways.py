"""Virtual gateways and gateway routes: reported or retired, never a crash, and ingress handed to green."""

from __future__ import annotations

from typing import Any

import pytest

from meshshift.migration.contracts import (
    AppMeshClientPolicy,
    AppMeshInventory,
    AppMeshListener,
    AppMeshMatch,
    AppMeshVirtualService,
    BlueDiscovery,
    BlueService,
    LoadBalancerAttachment,
    MigrationPlan,
    TaskDefinition,
)
from meshshift.migration.plan import build_plan
from meshshift.migration.spec import MigrationSpec
from meshshift.migration.translate_gateways import (
    AliasOwner,
    gateway_items,
    gateway_route_line,
    gateway_service_item,
    ingress_for,
)
from tests.unit.meshdata import gateway, gateway_route, gateway_task_definition, node, plain_task_definition
from tests.unit.specdata import BLUE_TG, GREEN_TG, shop

FRONT = AliasOwner(blue_service="frontend", green_service="frontend-sc", container_name="app", container_port=8080)
OWNERS = {"frontend.shop.local": FRONT}


def test_one_unrewritten_target_goes_straight_to_its_green_service() -> None:
    decision = ingress_for("ingress", "ingress-gw", gateway(gateway_route("all", "frontend.shop.local")), OWNERS)
    assert decision.target == FRONT and decision.items == []
    (note,) = decision.notes
    assert "goes straight to frontend-sc (container 'app', port 8080)" in note and "health check" in note


def test_a_narrowing_match_on_the_only_target_is_reported_but_still_handed_over() -> None:
    narrowed = gateway(gateway_route("api", "frontend.shop.local"))
    narrowed.gateway_routes[0].match = AppMeshMatch(prefix="/", hostname="exact shop.example.com")
    decision = ingress_for("ingress", "ingress-gw", narrowed, OWNERS)
    assert decision.target == FRONT
    (item,) = decision.items
    assert item.app_mesh_construct == "gateway route match" and "hostname exact shop.example.com" in item.detail


def test_routes_to_several_services_or_rewrites_are_reported_route_by_route() -> None:
    several = gateway(
        gateway_route("to-front", "frontend.shop.local"),
        gateway_route("to-color", "color.shop.local", prefix="/color", rewrite="prefix /color rewritten to /"),
    )
    decision = ingress_for("ingress", "ingress-gw", several, OWNERS)
    assert decision.target is None
    (item,) = decision.items
    assert (item.service, item.app_mesh_construct, item.resource) == (
        "ingress",
        "gateway route",
        "virtual gateway ingress-gw",
    )
    assert "gateway route to-front (prefix /) -> frontend.shop.local (green: frontend-sc)" in item.detail
    assert "gateway route to-color (prefix /color, prefix /color rewritten to /) -> color.shop.local" in item.detail
    assert "ALB listener rule per gateway route" in item.next_step
    rewritten = gateway(
        gateway_route("r", "frontend.shop.local", prefix="/shop", rewrite="prefix /shop rewritten to /")
    )
    assert ingress_for("ingress", "ingress-gw", rewritten, OWNERS).target is None


def test_a_gateway_without_data_or_without_a_green_target_is_reported() -> None:
    unknown = ingress_for("ingress", "ingress-gw", None, OWNERS)
    assert unknown.target is None and "routes are unknown" in unknown.items[0].detail
    orphan = ingress_for("ingress", "ingress-gw", gateway(gateway_route("all", "gone.shop.local")), OWNERS)
    assert orphan.target is None and "add the ECS service that provides gone.shop.local" in orphan.items[0].next_step
    empty = ingress_for("ingress", "ingress-gw", gateway(), OWNERS)
    assert empty.items == [] and "no gateway routes" in empty.notes[0]


def test_gateway_tls_is_an_edge_job_and_its_client_certificate_is_mtls() -> None:
    gw = gateway(
        listeners=[AppMeshListener(port=8443, protocol="http", tls_mode="STRICT", tls_certificate="acm")],
        client_policies=[AppMeshClientPolicy(scope="backendDefaults", certificate="sds", validation="sds")],
    )
    items = gateway_items("ingress", gw)
    assert [i.app_mesh_construct for i in items] == ["TLS", "client TLS", "mTLS"]
    assert "terminate TLS at the edge" in items[0].next_step
    assert items[2].resource == "virtual gateway ingress-gw, client policy for every backend (backendDefaults)"


def test_the_gateway_service_item_says_what_replaces_it() -> None:
    decision = ingress_for("ingress", "ingress-gw", gateway(gateway_route("all", "frontend.shop.local")), OWNERS)
    item = gateway_service_item("ingress", "ingress-gw", "ingress", decision)
    assert item.app_mesh_construct == "virtual gateway" and "straight to frontend-sc" in item.detail
    assert "blue.retire: [ingress]" in item.next_step
    envoy_only = gateway_service_item("proxy", None, "proxy", None)
    assert envoy_only.app_mesh_construct == "task definition" and "only Envoy" in envoy_only.detail
    assert gateway_route_line(gateway_route("all", "x.local")) == "gateway route all (prefix /) -> x.local"


# --- in the plan ---------------------------------------------------------------------------------


def service(name: str, td: TaskDefinition, **extra: Any) -> BlueService:
    return BlueService.model_validate(
        {
            "name": name,
            "arn": f"arn:aws:ecs:us-east-1:123456789012:service/shop/{name}",
            "cluster": "shop",
            "desired_count": 2,
            "running_count": 2,
            "task_definition_arn": f"arn:aws:ecs:us-east-1:123456789012:task-definition/{name}:1",
            "task_definition": td,
            **extra,
        }
    )


def gateway_app(*, retire: bool = False, mesh: bool = True) -> tuple[MigrationSpec, BlueDiscovery]:
    """ingress (a virtual gateway behind the ALB edge's blue target group) -> frontend."""
    data = shop()
    data["blue"]["services"] = ["ingress", "frontend"]
    data["blue"]["retire"] = ["ingress"] if retire else []
    data["async_workers"] = []
    inventory = AppMeshInventory(
        mesh_name="shop-mesh",
        virtual_nodes=[node("frontend-vn")],
        virtual_services=[AppMeshVirtualService(name="frontend.shop.local", provider_node="frontend-vn")],
        virtual_gateways=[gateway(gateway_route("all", "frontend.shop.local"))],
    )
    on_blue_tg = [LoadBalancerAttachment(target_group_arn=BLUE_TG, container_name="envoy", container_port=8443)]
    discovery = BlueDiscovery(
        services=[
            service("ingress", gateway_task_definition(), load_balancers=on_blue_tg),
            service("frontend", plain_task_definition("frontend"), virtual_node_name="frontend-vn"),
        ],
        appmesh_status="available" if mesh else "unavailable",
        appmesh=inventory if mesh else None,
    )
    return MigrationSpec.model_validate(data), discovery


def constructs(plan: MigrationPlan) -> list[tuple[str | None, str]]:
    return [(i.service, i.app_mesh_construct) for i in plan.untranslatable_items]


def test_a_listed_gateway_service_is_reported_not_a_crash_and_ingress_reaches_green() -> None:
    spec, discovery = gateway_app()
    plan = build_plan(spec, discovery)
    assert [p.blue_service for p in plan.services] == ["frontend"]
    assert plan.retired_services == ["ingress"]
    assert ("ingress", "virtual gateway") in constructs(plan)
    (frontend,) = plan.services
    assert [(lb.target_group_arn, lb.container_name, lb.container_port) for lb in frontend.load_balancers] == [
        (GREEN_TG, "app", 8080)
    ]
    assert any("goes straight to frontend-sc" in w for w in plan.warnings)
    # The one-line form stays beside the structured one, item for item.
    assert plan.untranslatable == [i.text() for i in plan.untranslatable_items]


def test_a_retired_gateway_is_a_warning_and_still_hands_over_its_ingress() -> None:
    spec, discovery = gateway_app(retire=True)
    plan = build_plan(spec, discovery)
    assert ("ingress", "virtual gateway") not in constructs(plan)
    assert any("retired (blue.retire)" in w for w in plan.warnings)
    assert plan.services[0].load_balancers[0].target_group_arn == GREEN_TG


def test_a_gateway_without_app_mesh_data_is_reported_and_its_target_group_flagged() -> None:
    spec, discovery = gateway_app(mesh=False)
    plan = build_plan(spec, discovery)
    assert ("ingress", "gateway route") in constructs(plan)
    assert plan.services[0].load_balancers == []
    assert any("no green service is attached to green target group" in w for w in plan.warnings)


def test_a_gateway_no_listed_service_runs_is_reported_mesh_wide_with_its_routes() -> None:
    spec, discovery = gateway_app()
    spec = spec.model_copy(update={"blue": spec.blue.model_copy(update={"services": ["frontend"]})})
    discovery = discovery.model_copy(update={"services": discovery.services[1:]})
    plan = build_plan(spec, discovery)
    (item,) = [i for i in plan.untranslatable_items if i.app_mesh_construct == "virtual gateway"]
    assert (
        item.service is None
        and "gateway route all (prefix /) -> frontend.shop.local (green: frontend-sc)" in item.detail
    )


def test_retire_must_name_a_listed_service() -> None:
    data = shop()
    data["blue"]["retire"] = ["gateway"]
    with pytest.raises(ValueError, match=r"retire\[0\].*a service listed in blue.services"):
        MigrationSpec.model_validate(data)
