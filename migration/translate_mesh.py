"""Mesh-wide constructs, and the sweep that makes sure no App Mesh resource is passed over in silence.

| mesh construct                             | green                                                          |
|--------------------------------------------|----------------------------------------------------------------|
| sharing with other accounts (AWS RAM)      | reported: a namespace is not shared, green runs in one account |
| egress filter DROP_ALL                     | reported: Service Connect does not filter egress               |
| virtual node no service of the spec runs   | reported: not migrated                                         |
| virtual gateway no service of the spec runs| reported, with its routes                                      |
"""

from __future__ import annotations

from meshshift.migration.contracts import AppMeshInventory, UntranslatableItem
from meshshift.migration.translate_gateways import AliasOwner, gateway_items, gateway_route_line


def mesh_items(
    appmesh: AppMeshInventory | None,
    run_nodes: set[str],
    run_gateways: set[str],
    owners: dict[str, AliasOwner] | None = None,
) -> list[UntranslatableItem]:
    """Everything mesh-wide, plus the nodes and gateways no service of the spec runs."""
    if appmesh is None:
        return []
    found = [shared_mesh_item(appmesh), egress_filter_item(appmesh)]
    items = [item for item in found if item is not None]
    items.extend(unmigrated_node_items(appmesh, run_nodes))
    items.extend(unmigrated_gateway_items(appmesh, run_gateways, owners or {}))
    return items


def shared_mesh_item(appmesh: AppMeshInventory) -> UntranslatableItem | None:
    # meshOwner is reported for every mesh; only a mesh owned by another account is shared.
    if not appmesh.shared_from_other_account:
        return None
    return UntranslatableItem(
        service=None,
        app_mesh_construct="mesh sharing",
        resource=f"mesh {appmesh.mesh_name}",
        detail="the mesh is shared across accounts (AWS RAM): a Cloud Map namespace cannot be shared, so every "
        "green service runs in this account",
        next_step="plan services of other accounts yourself, for example one migration per account",
    )


def egress_filter_item(appmesh: AppMeshInventory) -> UntranslatableItem | None:
    if (appmesh.egress_filter or "").upper() != "DROP_ALL":
        return None
    return UntranslatableItem(
        service=None,
        app_mesh_construct="egress filter",
        resource=f"mesh {appmesh.mesh_name}",
        detail="the mesh drops egress to anything that is not a declared backend (DROP_ALL): Service Connect does "
        "not filter egress, so green's tasks can call anywhere their network allows",
        next_step="restrict green's egress with security groups, network ACLs or VPC endpoints before the ramp",
    )


def unmigrated_node_items(appmesh: AppMeshInventory, run_nodes: set[str]) -> list[UntranslatableItem]:
    return [
        UntranslatableItem(
            service=None,
            app_mesh_construct="virtual node",
            resource=f"virtual node {node.name}",
            detail="no service of this spec runs this node (no Envoy names it, no Cloud Map registration matches "
            "it), so it is not migrated",
            next_step="add its ECS service to blue.services (or async_workers); if it runs elsewhere (EC2, EKS), "
            "make sure it outlives the decommission, which deletes the mesh when decommission.delete.app_mesh is on",
        )
        for node in sorted(appmesh.virtual_nodes, key=lambda n: n.name)
        if node.name not in run_nodes
    ]


def unmigrated_gateway_items(
    appmesh: AppMeshInventory, run_gateways: set[str], owners: dict[str, AliasOwner]
) -> list[UntranslatableItem]:
    items = []
    for gateway in sorted(appmesh.virtual_gateways, key=lambda g: g.name):
        if gateway.name in run_gateways:
            continue
        routes = "; ".join(gateway_route_line(r, owners) for r in gateway.gateway_routes) or (
            ", ".join(gateway.routes) or "no gateway routes"
        )
        items.append(
            UntranslatableItem(
                service=None,
                app_mesh_construct="virtual gateway",
                resource=f"virtual gateway {gateway.name}",
                detail=f"no service of this spec runs this gateway, and Service Connect has no gateway ({routes})",
                next_step="if it is this application's ingress, add its ECS service to blue.services so the plan "
                "points the edge's green side at green; otherwise it keeps sending requests to blue, which "
                "decommission deletes",
            )
        )
        items.extend(gateway_items(None, gateway))
    return items
