"""The client side of a virtual node: backends, backend defaults and client policies, and services
that are App Mesh backends without running Envoy themselves.

| client construct                               | green                                                      |
|------------------------------------------------|------------------------------------------------------------|
| backends (virtual services the node calls)     | nothing to do: a Service Connect client reaches every alias |
| backend migrated by the spec                   | its green copy holds the alias                              |
| backend not migrated (plain Cloud Map or DNS)  | reported: green calls it by DNS, it must outlive blue       |
| client policy TLS (backendDefaults or backend) | reported: TLS origination needs Service Connect TLS         |
| client policy certificate                      | reported: mutual TLS has no equivalent                      |

An ECS service with no Envoy that App Mesh knows as a virtual node (found by its Cloud Map
registration) is a meshed backend all the same: its green copy takes the virtual service's client
alias, or, without App Mesh data, its own Cloud Map name, so that green's callers stop resolving
blue's tasks, which decommission deletes.
"""

from __future__ import annotations

from meshshift.migration.contracts import (
    AppMeshClientPolicy,
    AppMeshInventory,
    AppMeshVirtualNode,
    CloudMapRegistration,
    UntranslatableItem,
)
from meshshift.migration.translate_listeners import MTLS_NEXT_STEP, TLS_NEXT_STEP, certificate_source
from meshshift.migration.translate_routing import RoutingDecision, mesh_index
from meshshift.migration.translate_taskdef import ServedPort


def client_policy_items(
    service: str | None, owner: str, policies: list[AppMeshClientPolicy]
) -> list[UntranslatableItem]:
    """TLS origination and client certificates towards backends (``owner`` names the node or gateway)."""
    items = []
    for policy in policies:
        if not policy.enforce:
            continue
        scope = "every backend (backendDefaults)" if policy.scope == "backendDefaults" else f"backend {policy.scope}"
        ports = f" on port(s) {', '.join(map(str, policy.ports))}" if policy.ports else ""
        resource = f"{owner}, client policy for {scope}"
        trust = f", trusting {certificate_source(policy.validation)}" if policy.validation else ""
        items.append(
            UntranslatableItem(
                service=service,
                app_mesh_construct="client TLS",
                resource=resource,
                detail=f"calls to {scope}{ports} must use TLS{trust}: green's calls are plain text unless Service "
                "Connect TLS is set on the services they call",
                next_step=TLS_NEXT_STEP,
            )
        )
        if policy.certificate:
            items.append(
                UntranslatableItem(
                    service=service,
                    app_mesh_construct="mTLS",
                    resource=resource,
                    detail=f"presents a client certificate from {certificate_source(policy.certificate)} to "
                    f"{scope} (mutual TLS): Service Connect has no client certificates",
                    next_step=MTLS_NEXT_STEP,
                )
            )
    return items


def legacy_client_tls_item(service: str | None, node: AppMeshVirtualNode) -> UntranslatableItem | None:
    """Discovery data read before client policies were itemised only says that TLS was enforced."""
    if node.client_policies or not node.client_tls_enforced:
        return None
    return UntranslatableItem(
        service=service,
        app_mesh_construct="mTLS",
        resource=f"virtual node {node.name}, backend defaults",
        detail="the node enforces client TLS towards its backends (mutual TLS / client policy): Service Connect "
        "has no mTLS",
        next_step=MTLS_NEXT_STEP,
    )


def node_for_registrations(registrations: list[CloudMapRegistration], mesh: AppMeshInventory | None) -> str | None:
    """The virtual node that describes an ECS service without Envoy, found by where it registers:
    the node's Cloud Map service, or its DNS host name equal to the registration's name."""
    if mesh is None:
        return None
    for registration in registrations:
        for node in mesh_index(mesh).nodes_by_name:
            if (
                registration.service
                and node.cloud_map_service == registration.service
                and node.cloud_map_namespace in (None, registration.namespace)
            ):
                return node.name
            dns = registration.dns_name
            if dns and node.dns_hostname and node.dns_hostname.lower().rstrip(".") == dns.lower():
                return node.name
    return None


def registration_aliases(
    registrations: list[CloudMapRegistration], ports: list[ServedPort]
) -> dict[int, list[tuple[str, int]]]:
    """Without App Mesh data, an Envoy-less service is called by its Cloud Map name: green's copy
    takes that name as its alias (on its only port, the one clients can be sure of)."""
    names = [r.dns_name for r in registrations if r.dns_name]
    if not names or len(ports) != 1:
        return {}
    return {ports[0].port: [(names[0], ports[0].port)]}


def _provider_nodes(decision: RoutingDecision) -> list[str]:
    return sorted(decision.targets)


def _how_green_resolves(node: AppMeshVirtualNode | None) -> str:
    if node is None:
        return "by plain DNS"
    if node.cloud_map_service and node.cloud_map_namespace:
        return f"by DNS, to Cloud Map service {node.cloud_map_service}.{node.cloud_map_namespace}"
    if node.dns_hostname:
        return f"by DNS, to {node.dns_hostname}"
    return "by plain DNS"


def unmigrated_backend_items(
    service: str | None,
    node: AppMeshVirtualNode,
    mesh: AppMeshInventory,
    decisions: dict[str, RoutingDecision],
    migrated_nodes: set[str],
) -> list[UntranslatableItem]:
    """Backends of ``node`` that no service of the spec provides: green keeps calling them outside
    Service Connect, so they must outlive blue."""
    nodes = mesh_index(mesh).nodes
    items = []
    for backend in sorted(set(node.backends)):
        decision = decisions.get(backend)
        providers = _provider_nodes(decision) if decision else []
        if not providers or any(p in migrated_nodes for p in providers):
            continue
        provider = nodes.get(providers[0])
        items.append(
            UntranslatableItem(
                service=service,
                app_mesh_construct="backend",
                resource=f"virtual service {backend} (virtual node {', '.join(providers)})",
                detail=f"no service of this spec runs {', '.join(providers)}, so green has no Service Connect alias "
                f"for {backend}: green's calls resolve it {_how_green_resolves(provider)}, that is to what blue's "
                "side registered",
                next_step="if that ECS service is deleted with blue or stops with App Mesh, add it to blue.services "
                "so green gets its own copy holding the alias; otherwise make sure it outlives the decommission and "
                "answers plain-text calls from outside the mesh",
            )
        )
    return items
