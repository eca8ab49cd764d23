"""Virtual gateways and gateway routes: how ingress reaches green without a gateway.

Service Connect has no ingress gateway. A gateway's ECS service runs only Envoy, so green gets
no copy of it: it is reported, or retired when the spec lists it in ``blue.retire`` (either way
decommission deletes it with blue). Its job moves to the edge:

- gateway routes that all forward, unrewritten, to one virtual service: the edge's green side
  goes straight to the green service holding that virtual service's alias (the plan attaches it to
  the green target group that replaces the gateway's);
- gateway routes that choose the service by request, or rewrite it: reported with each route,
  since one edge shifter forwards to one green target (an ALB listener rule per route does this).

TLS on the gateway's listeners and its client certificate towards backends are reported too.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from meshshift.migration.contracts import AppMeshGateway, AppMeshGatewayRoute, UntranslatableItem
from meshshift.migration.translate_clients import client_policy_items
from meshshift.migration.translate_listeners import listener_items
from meshshift.migration.translate_routing import describe_match, matches_every_request

ROUTE_AT_THE_EDGE = (
    "route by request at the edge: an ALB listener rule per gateway route (path, host or header conditions) "
    "forwarding to a target group of the green service named, with an alb edge per rule so that meshshift shifts "
    "each one; or run a proxy of your own as green's entry"
)


class AliasOwner(BaseModel):
    """The green service that holds a virtual service's client alias, and where it listens."""

    blue_service: str
    green_service: str
    container_name: str
    container_port: int


class IngressDecision(BaseModel):
    """Where the edge's green side sends what the gateway received."""

    gateway: str
    target: AliasOwner | None = None
    virtual_service: str | None = None
    items: list[UntranslatableItem] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def gateway_route_line(route: AppMeshGatewayRoute, owners: dict[str, AliasOwner] | None = None) -> str:
    target = route.target_virtual_service or "(no virtual service)"
    port = f":{route.target_port}" if route.target_port else ""
    owner = (owners or {}).get(route.target_virtual_service or "")
    green = f" (green: {owner.green_service})" if owner else ""
    rewrite = f", {route.rewrite}" if route.rewrite else ""
    return f"gateway route {route.name} ({describe_match(route.match)}{rewrite}) -> {target}{port}{green}"


def gateway_items(service: str | None, gateway: AppMeshGateway) -> list[UntranslatableItem]:
    """TLS and client certificates of the gateway itself."""
    owner = f"virtual gateway {gateway.name}"
    items = [item for listener in gateway.listeners for item in listener_items(service, owner, listener)]
    for item in items:
        if item.app_mesh_construct == "TLS":
            # At the gateway, TLS came from outside the mesh: that is the edge's job in green.
            item.next_step = (
                "terminate TLS at the edge instead (an HTTPS listener on the ALB with an ACM certificate, or "
                "CloudFront); green's entry service then receives plain text from the edge"
            )
    return [*items, *client_policy_items(service, owner, gateway.client_policies)]


def gateway_service_item(
    service: str, gateway: str | None, family: str, ingress: IngressDecision | None
) -> UntranslatableItem:
    """The ECS service that runs a gateway (or only Envoy) gets no green copy."""
    if gateway is None:
        return UntranslatableItem(
            service=service,
            app_mesh_construct="task definition",
            resource=f"task definition {family}",
            detail="it runs only Envoy containers: there is nothing to run in green, so green gets no copy",
            next_step=f"list {service} in blue.retire (decommission deletes it with blue), or remove it from "
            "blue.services",
        )
    if ingress is not None and ingress.target is not None:
        instead = f"the edge's green side goes straight to {ingress.target.green_service} instead"
    else:
        instead = "the gateway route items say how requests reach green instead"
    return UntranslatableItem(
        service=service,
        app_mesh_construct="virtual gateway",
        resource=f"virtual gateway {gateway}",
        detail=f"this ECS service runs App Mesh virtual gateway {gateway} (Envoy only): Service Connect has no "
        f"gateway, so green gets no copy of it; {instead}",
        next_step=f"confirm with blue.retire: [{service}] (decommission deletes it with blue), and check that the "
        "edge's green target reaches green's entry service as planned",
    )


def ingress_for(
    service: str | None, gateway_name: str, gateway: AppMeshGateway | None, owners: dict[str, AliasOwner]
) -> IngressDecision:
    """How requests the gateway received reach green (``owners``: virtual service -> alias holder)."""
    decision = IngressDecision(gateway=gateway_name)
    resource = f"virtual gateway {gateway_name}"
    if gateway is None:
        decision.items.append(
            UntranslatableItem(
                service=service,
                app_mesh_construct="gateway route",
                resource=resource,
                detail="the gateway's routes are unknown (no App Mesh data for it), so the plan cannot say which "
                "green service replaces it at the edge",
                next_step="attach the green service that should receive the edge's traffic to the edge's green "
                "target group (create green with your infrastructure code and use green.provision: existing)",
            )
        )
        return decision
    routes = gateway.gateway_routes
    targets = sorted({r.target_virtual_service for r in routes if r.target_virtual_service})
    if not targets:
        decision.notes.append(f"virtual gateway {gateway_name} has no gateway routes: it forwarded nothing")
        return decision
    lines = "; ".join(gateway_route_line(r, owners) for r in routes)
    if len(targets) > 1 or any(r.rewrite for r in routes):
        decision.items.append(
            UntranslatableItem(
                service=service,
                app_mesh_construct="gateway route",
                resource=resource,
                detail=f"the gateway chooses or rewrites the request: {lines}. One edge shifter forwards to one "
                "green target",
                next_step=ROUTE_AT_THE_EDGE,
            )
        )
        return decision
    return _single_target(decision, service, resource, routes, targets[0], owners)


def _single_target(
    decision: IngressDecision,
    service: str | None,
    resource: str,
    routes: list[AppMeshGatewayRoute],
    virtual_service: str,
    owners: dict[str, AliasOwner],
) -> IngressDecision:
    decision.virtual_service = virtual_service
    owner = owners.get(virtual_service)
    if owner is None:
        decision.items.append(
            UntranslatableItem(
                service=service,
                app_mesh_construct="gateway route",
                resource=resource,
                detail=f"every gateway route forwards to {virtual_service}, but no green service of this plan "
                "holds that name",
                next_step=f"add the ECS service that provides {virtual_service} to blue.services",
            )
        )
        return decision
    decision.target = owner
    decision.notes.append(
        f"ingress: virtual gateway {decision.gateway} forwarded to {virtual_service}; green has no gateway, so the "
        f"edge's green side goes straight to {owner.green_service} (container {owner.container_name!r}, port "
        f"{owner.container_port}): check that the green target group's health check suits it"
    )
    narrowed = [r for r in routes if not matches_every_request(r.match)]
    if narrowed and len(narrowed) == len(routes):
        lines = "; ".join(gateway_route_line(r) for r in routes)
        decision.items.append(
            UntranslatableItem(
                service=service,
                app_mesh_construct="gateway route match",
                resource=resource,
                detail=f"the gateway forwarded only matching requests ({lines}); "
                f"green's entry {owner.green_service} receives every request the edge forwards",
                next_step="if the match kept requests out, add the same conditions to the edge (ALB listener rule "
                "conditions) or refuse them in the service",
            )
        )
    return decision
