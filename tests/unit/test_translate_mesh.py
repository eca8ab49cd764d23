"""Mesh-wide constructs, and the sweep for nodes and gateways that no service of the spec runs."""

from __future__ import annotations

from meshshift.migration.contracts import AppMeshInventory
from meshshift.migration.translate_mesh import (
    egress_filter_item,
    mesh_items,
    shared_mesh_item,
    unmigrated_gateway_items,
    unmigrated_node_items,
)
from tests.unit.meshdata import gateway, gateway_route, node


def test_egress_filter_drop_all_is_reported() -> None:
    assert egress_filter_item(AppMeshInventory(mesh_name="m", egress_filter="ALLOW_ALL")) is None
    item = egress_filter_item(AppMeshInventory(mesh_name="m", egress_filter="DROP_ALL"))
    assert item is not None and (item.service, item.app_mesh_construct, item.resource) == (
        None,
        "egress filter",
        "mesh m",
    )
    assert "security groups" in item.next_step


def test_a_mesh_shared_from_another_account_is_reported() -> None:
    assert shared_mesh_item(AppMeshInventory(mesh_name="m")) is None
    item = shared_mesh_item(AppMeshInventory(mesh_name="m", shared_from_other_account=True))
    assert item is not None and "shared across accounts" in item.detail


def test_nodes_no_service_runs_are_reported_so_nothing_is_passed_over() -> None:
    mesh = AppMeshInventory(mesh_name="m", virtual_nodes=[node("a-vn"), node("b-vn")])
    (item,) = unmigrated_node_items(mesh, {"a-vn"})
    assert item.resource == "virtual node b-vn" and "not migrated" in item.detail
    assert "decommission.delete.app_mesh" in item.next_step


def test_gateways_no_service_runs_are_reported_with_their_routes_and_tls() -> None:
    gw = gateway(gateway_route("all", "front.local"))
    gw.listeners[0].tls_mode = "STRICT"
    mesh = AppMeshInventory(mesh_name="m", virtual_gateways=[gw])
    items = unmigrated_gateway_items(mesh, set(), {})
    assert [(i.service, i.app_mesh_construct) for i in items] == [(None, "virtual gateway"), (None, "TLS")]
    assert "gateway route all (prefix /) -> front.local" in items[0].detail
    assert unmigrated_gateway_items(mesh, {"ingress-gw"}, {}) == []


def test_mesh_items_put_them_together() -> None:
    mesh = AppMeshInventory(mesh_name="m", egress_filter="DROP_ALL", virtual_nodes=[node("a-vn")])
    assert [i.app_mesh_construct for i in mesh_items(mesh, set(), set())] == ["egress filter", "virtual node"]
    assert mesh_items(mesh, {"a-vn"}, set())[1:] == []
    assert mesh_items(None, set(), set()) == []
