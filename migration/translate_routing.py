"""Virtual services, virtual routers and routes: who gets each client alias, and what routing is lost.

Service Connect reaches a service by host name and port only (one client alias per port). So:

- a virtual service provided by a node: its name becomes that node's client alias;
- a router whose routes all reach one node: the same, with the routes' timeouts;
- a router that splits every request by weight between nodes: the alias goes to the heaviest
  target and the split is reported ("weighted routing"): versions are shifted at the edge instead;
- a router whose routes choose by request (prefix, path, headers, method, query, gRPC service):
  the alias goes to the target of the route that matches every request, if there is one, and the
  routes are reported by name ("route match"). A request match is never read as a weighted split.

A route's ``match`` is kept apart from its weighted targets throughout.
"""

from __future__ import annotations

import weakref
from typing import Literal

from pydantic import BaseModel, Field

from meshshift.migration.contracts import (
    AppMeshInventory,
    AppMeshMatch,
    AppMeshRoute,
    AppMeshVirtualNode,
    AppMeshVirtualService,
    UntranslatableItem,
)
from meshshift.migration.translate_taskdef import ServedPort

RoutingMode = Literal["node", "single", "weighted", "match", "none"]
_NO_PRIORITY = 1001  # App Mesh priorities are 0..1000, lowest first; routes without one come after


class RoutingDecision(BaseModel):
    """How one virtual service's traffic is carried over to Service Connect."""

    virtual_service: str
    router: str | None = None
    mode: RoutingMode
    alias_node: str | None = Field(default=None, description="the node whose green service takes the alias")
    alias_routes: list[str] = Field(default_factory=list, description="routes whose targets carry the alias")
    targets: dict[str, list[str]] = Field(default_factory=dict, description="node -> routes that reach it")
    weights: dict[str, int] = Field(default_factory=dict, description="weighted split of the catch-all routes")
    default_route: str | None = None
    summary: str = ""


def describe_match(match: AppMeshMatch | None) -> str:
    """``prefix /color2, header x-v exact 2`` (or ``every request``), as App Mesh had it."""
    if match is None:
        return "every request"
    parts = [
        *([f"prefix {match.prefix}"] if match.prefix not in (None, "", "/") else []),
        *([f"path {match.path}"] if match.path else []),
        *([f"method {match.method}"] if match.method else []),
        *([f"scheme {match.scheme}"] if match.scheme else []),
        *([f"hostname {match.hostname}"] if match.hostname else []),
        *(f"header {h}" for h in match.headers),
        *(f"query {q}" for q in match.query_parameters),
        *([f"gRPC service {match.service_name}"] if match.service_name else []),
        *([f"gRPC method {match.method_name}"] if match.method_name else []),
        *(f"metadata {m}" for m in match.metadata),
    ]
    if not parts:
        parts = [f"prefix {match.prefix}" if match.prefix else "every request"]
    if match.port is not None:
        parts.append(f"port {match.port}")
    return ", ".join(parts)


def matches_every_request(match: AppMeshMatch | None) -> bool:
    """True when the match selects nothing but (at most) the listener port."""
    if match is None:
        return True
    return (
        match.prefix in (None, "", "/")
        and not any((match.path, match.method, match.scheme, match.hostname, match.service_name, match.method_name))
        and not (match.headers or match.query_parameters or match.metadata)
    )


def ordered_routes(routes: list[AppMeshRoute]) -> list[AppMeshRoute]:
    """Routes in the order App Mesh tries them: by priority, then as listed."""
    return sorted(routes, key=lambda r: r.priority if r.priority is not None else _NO_PRIORITY)


def heaviest(weights: dict[str, int]) -> str:
    return max(sorted(weights), key=lambda n: weights[n])


def _weights(routes: list[AppMeshRoute]) -> dict[str, int]:
    out: dict[str, int] = {}
    for route in routes:
        for target in route.targets:
            out[target.virtual_node] = out.get(target.virtual_node, 0) + target.weight
    return out


def _route_line(route: AppMeshRoute) -> str:
    targets = ", ".join(
        f"{t.virtual_node} ({t.weight})" if len(route.targets) > 1 else t.virtual_node for t in route.targets
    )
    return f"route {route.name} ({describe_match(route.match)}) -> {targets}"


class MeshIndex:
    """Lookups over one inventory, built once. Each service's translation used to ask them of the
    whole mesh, and every virtual service's routing was decided again for each service: planning
    1,000 services with a mesh took 273 s."""

    def __init__(self, mesh: AppMeshInventory) -> None:
        self.fingerprint = _fingerprint(mesh)
        self.nodes: dict[str, AppMeshVirtualNode] = {}
        for node in mesh.virtual_nodes:
            self.nodes.setdefault(node.name, node)
        self.nodes_by_name = sorted(mesh.virtual_nodes, key=lambda n: n.name)
        self.router_ports = {r.name: [listener.port for listener in r.listeners] for r in mesh.virtual_routers}
        self.route = {(r.router, r.name): r for r in mesh.routes}
        self.routes_of_router: dict[str, list[AppMeshRoute]] = {}
        # In the mesh's order, as the scans over every route they replace.
        self.routes_to_node: dict[str, list[AppMeshRoute]] = {}
        for route in mesh.routes:
            self.routes_of_router.setdefault(route.router, []).append(route)
            for node_name in dict.fromkeys(t.virtual_node for t in route.targets):
                self.routes_to_node.setdefault(node_name, []).append(route)
        self.decisions = [
            route_virtual_service(vs, mesh, self) for vs in sorted(mesh.virtual_services, key=lambda v: v.name)
        ]
        self.targets_of = {d.virtual_service: set(d.targets) for d in self.decisions}
        self.decisions_reaching: dict[str, list[RoutingDecision]] = {}
        self.decisions_aliasing: dict[str, list[RoutingDecision]] = {}
        for decision in self.decisions:
            for node_name in decision.targets:
                self.decisions_reaching.setdefault(node_name, []).append(decision)
            if decision.alias_node is not None:
                self.decisions_aliasing.setdefault(decision.alias_node, []).append(decision)


def _fingerprint(mesh: AppMeshInventory) -> tuple[int, ...]:
    return (
        len(mesh.virtual_nodes),
        len(mesh.virtual_services),
        len(mesh.virtual_routers),
        len(mesh.routes),
        id(mesh.virtual_nodes),
        id(mesh.virtual_services),
        id(mesh.routes),
    )


# id(inventory) -> (a weak reference to it, its index). Not an attribute of the inventory: pydantic
# compares private attributes too, so two equal inventories would differ once one was indexed.
_INDEXES: dict[int, tuple[weakref.ref[AppMeshInventory], MeshIndex]] = {}


def mesh_index(mesh: AppMeshInventory) -> MeshIndex:
    """``mesh``'s index, built on first use and kept while ``mesh`` lives (rebuilt if its lists
    were replaced or grew)."""
    key = id(mesh)
    found = _INDEXES.get(key)
    if found is not None and found[0]() is mesh and found[1].fingerprint == _fingerprint(mesh):
        return found[1]
    index = MeshIndex(mesh)
    _INDEXES[key] = (weakref.ref(mesh, lambda _: _INDEXES.pop(key, None)), index)
    return index


def route_virtual_service(
    vs: AppMeshVirtualService, mesh: AppMeshInventory, index: MeshIndex | None = None
) -> RoutingDecision:
    """Who takes ``vs``'s client alias in green, and in which routing mode blue served it."""
    if vs.provider_node is not None:
        return RoutingDecision(
            virtual_service=vs.name, mode="node", alias_node=vs.provider_node, targets={vs.provider_node: []}
        )
    if vs.provider_router is None:
        return RoutingDecision(virtual_service=vs.name, mode="none")
    of_router = index.routes_of_router.get(vs.provider_router, []) if index else mesh.routes
    routes = ordered_routes([r for r in of_router if r.router == vs.provider_router and r.targets])
    targets: dict[str, list[str]] = {}
    for route in routes:
        for target in route.targets:
            targets.setdefault(target.virtual_node, []).append(route.name)
    base = RoutingDecision(
        virtual_service=vs.name,
        router=vs.provider_router,
        mode="none",
        targets=targets,
        summary="; ".join(_route_line(r) for r in routes),
    )
    if not routes:
        return base
    if len(targets) == 1:
        (node,) = targets
        return base.model_copy(update={"mode": "single", "alias_node": node, "alias_routes": [r.name for r in routes]})
    catch_all = [r for r in routes if matches_every_request(r.match)]
    default = catch_all[0] if catch_all else None
    default_nodes = {t.virtual_node for t in default.targets} if default else set()
    by_request = [r for r in routes if r not in catch_all and {t.virtual_node for t in r.targets} != default_nodes]
    if by_request or default is None:
        weights = _weights([default]) if default else {}
        return base.model_copy(
            update={
                "mode": "match",
                "alias_node": heaviest(weights) if weights else None,
                "alias_routes": [default.name] if default else [],
                "weights": weights if len(weights) > 1 else {},
                "default_route": default.name if default else None,
            }
        )
    weights = _weights(catch_all)
    winner = heaviest(weights)
    return base.model_copy(
        update={
            "mode": "weighted",
            "alias_node": winner,
            "alias_routes": [r.name for r in routes if any(t.virtual_node == winner for t in r.targets)],
            "weights": weights,
            "default_route": default.name,
        }
    )


def routing_item(service: str | None, node: str, decision: RoutingDecision) -> UntranslatableItem | None:
    """The routing blue did for ``decision``'s virtual service that green cannot do, told to ``node``'s service."""
    if decision.mode not in ("weighted", "match") or node not in decision.targets:
        return None
    resource = f"virtual service {decision.virtual_service}, router {decision.router}"
    split = ", ".join(f"{n} ({w})" for n, w in sorted(decision.weights.items()))
    owner = f"{decision.alias_node}'s green service" if decision.alias_node else "no green service"
    this = "" if decision.alias_node == node else f" (not {node}'s)"
    if decision.mode == "weighted":
        return UntranslatableItem(
            service=service,
            app_mesh_construct="weighted routing",
            resource=resource,
            detail=f"every request is split by weight between {split}: Service Connect has no weighted routing, "
            f"so the client alias {decision.virtual_service} goes to the heaviest target, {owner}{this}",
            next_step="run one version in green (drop the split), or split between versions at the edge instead, "
            "the way meshshift shifts blue to green",
        )
    if decision.alias_node:
        outcome = (
            f"green sends every request for {decision.virtual_service} to {owner}{this}, the target of the "
            f"catch-all route {decision.default_route}"
            + (f" (which itself splits by weight between {split})" if split else "")
        )
    else:
        outcome = (
            f"no route matches every request, so green has no client alias for {decision.virtual_service} and "
            "callers in green cannot reach it by that name"
        )
    return UntranslatableItem(
        service=service,
        app_mesh_construct="route match",
        resource=resource,
        detail=f"routes choose the target by request: {decision.summary}. Service Connect routes by host name "
        f"and port only: {outcome}",
        next_step="route by request in front of green (an internal ALB with listener rules per path, header or "
        "method, forwarding to each green service) or in the callers; or give each target its own host name and "
        "change the callers",
    )


def _retry_text(route: AppMeshRoute) -> str:
    policy = route.retry_policy
    if policy is None:
        return "a retry policy"
    per_try = f", {policy.per_retry_timeout_seconds:g} s per try" if policy.per_retry_timeout_seconds else ""
    events = f", on {', '.join(policy.events)}" if policy.events else ""
    return f"a retry policy ({policy.max_retries} retries{per_try}{events})"


def retry_items(service: str | None, node: str, mesh: AppMeshInventory) -> list[UntranslatableItem]:
    """Every route that reaches ``node`` with a retry policy, whether or not ``node`` takes the alias."""
    return [
        UntranslatableItem(
            service=service,
            app_mesh_construct="retry policy",
            resource=f"route {route.router}/{route.name}",
            detail=f"{_retry_text(route)} is not carried over: Service Connect has no retry settings",
            next_step="retry in the callers (client library retries with backoff), or accept fewer retries; watch "
            "green's 5xx closely during the first ramp steps",
        )
        for route in mesh_index(mesh).routes_to_node.get(node, [])
        if route.retry_policy is not None or route.has_retry_policy
    ]


def _node_port(target_port: int | None, ports: list[ServedPort]) -> int | None:
    node_ports = [p.port for p in ports]
    if target_port in node_ports:
        return target_port
    return node_ports[0] if node_ports else None


def route_timeouts(
    service: str | None, node: str, mesh: AppMeshInventory, ports: list[ServedPort]
) -> tuple[dict[int, int], dict[int, int], list[UntranslatableItem]]:
    """The longest per-request and idle timeout of the routes reaching each node port; a report when
    routes had different per-request timeouts, since Service Connect has one per port."""
    per_request: dict[int, dict[str, int]] = {}
    idle: dict[int, int] = {}
    for route in mesh_index(mesh).routes_to_node.get(node, []):
        for target in route.targets:
            port = _node_port(target.port, ports) if target.virtual_node == node else None
            if port is None:
                continue
            if route.timeout_seconds:
                per_request.setdefault(port, {})[f"{route.router}/{route.name}"] = route.timeout_seconds
            if route.idle_timeout_seconds:
                idle[port] = max(idle.get(port, 0), route.idle_timeout_seconds)
    items = []
    for port, by_route in sorted(per_request.items()):
        if len(set(by_route.values())) > 1:
            listed = ", ".join(f"{name} {seconds} s" for name, seconds in sorted(by_route.items()))
            items.append(
                UntranslatableItem(
                    service=service,
                    app_mesh_construct="route timeout",
                    resource=f"virtual node {node}, port {port}",
                    detail=f"routes have different per-request timeouts ({listed}); Service Connect has one per port, "
                    f"so green uses the longest, {max(by_route.values())} s",
                    next_step="where a shorter timeout protected a caller, set it in that caller",
                )
            )
    return {p: max(v.values()) for p, v in per_request.items()}, idle, items


def _client_port(route: AppMeshRoute, router_ports: list[int], node_port: int) -> int:
    if route.match is not None and route.match.port is not None:
        return route.match.port
    return router_ports[0] if router_ports else node_port


def aliases_for(
    node: str, mesh: AppMeshInventory, ports: list[ServedPort], decisions: list[RoutingDecision]
) -> dict[int, list[tuple[str, int]]]:
    """Per node port, the (host name, client port) pairs green's callers use to reach ``node``."""
    aliases: dict[int, list[tuple[str, int]]] = {}
    index = mesh_index(mesh)
    routers, routes = index.router_ports, index.route
    # ``decisions`` is the mesh's (decisions_for); only those whose alias goes to ``node`` count.
    mine = index.decisions_aliasing.get(node, []) if decisions is index.decisions else decisions
    for decision in mine:
        if decision.alias_node != node:
            continue
        if decision.mode == "node":
            for p in ports:
                _add(aliases, p.port, (decision.virtual_service, p.port))
            continue
        router = decision.router or ""
        for route in (routes[(router, name)] for name in decision.alias_routes if (router, name) in routes):
            for target in route.targets:
                node_port = _node_port(target.port, ports) if target.virtual_node == node else None
                if node_port is not None:
                    client_port = _client_port(route, routers.get(router, []), node_port)
                    _add(aliases, node_port, (decision.virtual_service, client_port))
    return aliases


def _add(aliases: dict[int, list[tuple[str, int]]], port: int, entry: tuple[str, int]) -> None:
    entries = aliases.setdefault(port, [])
    if entry not in entries:
        entries.append(entry)


def decisions_for(mesh: AppMeshInventory) -> list[RoutingDecision]:
    """One decision per virtual service, in name order (the order aliases are handed out)."""
    return mesh_index(mesh).decisions


def decisions_reaching(mesh: AppMeshInventory, node: str) -> list[RoutingDecision]:
    """The decisions whose virtual service reaches ``node``, in name order."""
    return mesh_index(mesh).decisions_reaching.get(node, [])
