"""App Mesh -> ECS Service Connect, as pure functions (brief section 5).

Every App Mesh construct is either translated or reported as an ``UntranslatableItem`` (service,
construct, resource, detail, next step); nothing is dropped in silence. One module per concern:

| module              | constructs                                                                      |
|---------------------|---------------------------------------------------------------------------------|
| translate_taskdef   | Envoy sidecar, ``proxyConfiguration``, port mappings -> green task definition   |
| translate_listeners | listener timeouts, TLS, validation, connection pool, outlier and health checks  |
| translate_routing   | virtual services, routers, routes (match, weighted targets, retries, timeouts)  |
| translate_clients   | backends, backend defaults, client policies, services without Envoy             |
| translate_gateways  | virtual gateways, gateway routes, ingress                                       |
| translate_mesh      | mesh sharing, egress filter, nodes and gateways no service runs                 |

This module puts them together for one blue service (``translate_service``) and holds the
namespace-wide steps (unique discovery names, one owner per client alias).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from meshshift.migration.contracts import (
    AppMeshInventory,
    AppMeshVirtualNode,
    CloudMapRegistration,
    ContainerDefinition,
    InferredAlias,
    ServedPortRef,
    ServiceConnectClientAlias,
    ServiceConnectConfiguration,
    ServiceConnectService,
    TaskDefinition,
    UntranslatableItem,
)
from meshshift.migration.translate_clients import (
    client_policy_items,
    legacy_client_tls_item,
    node_for_registrations,
    registration_aliases,
    unmigrated_backend_items,
)
from meshshift.migration.translate_listeners import listener_items, port_timeout
from meshshift.migration.translate_routing import (
    RoutingDecision,
    aliases_for,
    decisions_for,
    decisions_reaching,
    mesh_index,
    retry_items,
    route_timeouts,
    routing_item,
)
from meshshift.migration.translate_taskdef import (
    MAX_NAME,
    READ_ONLY_TASK_KEYS,
    ServedPort,
    build_green_task_definition,
    envoy_container_names,
    sc_name,
    served_ports,
    strip_container,
    virtual_gateway_from_task_definition,
    virtual_node_from_task_definition,
)

__all__ = [
    "READ_ONLY_TASK_KEYS",
    "EnvoyOnlyTaskDefinition",
    "TranslatedService",
    "backend_items",
    "drop_duplicate_aliases",
    "envoy_container_names",
    "make_discovery_names_unique",
    "sc_name",
    "service_connect_configuration",
    "translate_service",
    "virtual_gateway_from_task_definition",
    "virtual_node_from_task_definition",
]

_Aliases = dict[int, list[tuple[str, int]]]


class EnvoyOnlyTaskDefinition(ValueError):
    """The task definition runs nothing but Envoy (a virtual gateway, typically): green has nothing to run."""


class TranslatedService(BaseModel):
    """One blue service's green task definition and Service Connect entries, with what was lost."""

    model_config = ConfigDict(extra="forbid")

    task_definition: TaskDefinition
    services: list[ServiceConnectService] = Field(default_factory=list)
    log_configuration: dict[str, Any] | None = None
    access_log_configuration: dict[str, Any] | None = None
    virtual_node: str | None = None
    envoy_containers: list[str] = Field(default_factory=list)
    served_ports: list[ServedPortRef] = Field(
        default_factory=list, description="What green_task_definition was built from, to build it again"
    )
    warnings: list[str] = Field(default_factory=list)
    untranslatable: list[UntranslatableItem] = Field(default_factory=list)


class _MeshSide(BaseModel):
    """What App Mesh says about one node's ports: aliases, route timeouts, and what is lost."""

    aliases: _Aliases = Field(default_factory=dict)
    per_request: dict[int, int] = Field(default_factory=dict)
    idle: dict[int, int] = Field(default_factory=dict)
    items: list[UntranslatableItem] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def translate_service(
    blue: TaskDefinition,
    *,
    service_name: str,
    family_suffix: str,
    green_namespace: str | None = None,
    appmesh: AppMeshInventory | None = None,
    virtual_node_name: str | None = None,
    cloud_map: list[CloudMapRegistration] | None = None,
    inferred: list[InferredAlias] | None = None,
) -> TranslatedService:
    """Green's task definition and Service Connect entries for one blue service.

    ``virtual_node_name`` is discovery's answer; without it the node is read from the envoy
    container's environment, or, for a service without Envoy, matched by its Cloud Map
    registrations (``cloud_map``). ``appmesh`` is None when the App Mesh API did not answer.
    Raises ``EnvoyOnlyTaskDefinition`` when nothing but Envoy runs (the plan reports those first).
    """
    envoy = set(envoy_container_names(blue))
    registrations = cloud_map or []
    node_name, node, warnings = _resolve_node(blue, appmesh, virtual_node_name, registrations, has_envoy=bool(envoy))
    app_containers = [strip_container(c, envoy) for c in blue.containerDefinitions if c.name not in envoy]
    if not app_containers:
        raise EnvoyOnlyTaskDefinition(
            f"task definition {blue.family!r} has only Envoy containers; there is nothing to run in green"
        )
    ports, notes = served_ports(blue, node, app_containers)
    green_td, port_names, built = build_green_task_definition(blue, ports, family_suffix)
    warnings += [*notes, *built]

    side = _mesh_side(service_name, node, appmesh, ports)
    if node is None:
        side = _without_node(side, appmesh, ports, registrations, inferred or [], has_envoy=bool(envoy))
    base, collision = _discovery_base(node, service_name, registrations, green_namespace, family_suffix)
    services, conflicts = _service_connect_services(service_name, ports, port_names, side, base)
    envoy_defs = [c for c in blue.containerDefinitions if c.name in envoy]
    log_configuration, access_logs, log_note = _access_logs(node, envoy_defs)
    return TranslatedService(
        task_definition=green_td,
        services=services,
        log_configuration=log_configuration,
        access_log_configuration=access_logs,
        virtual_node=node_name,
        envoy_containers=sorted(envoy),
        served_ports=[ServedPortRef(port=p.port, app_protocol=p.app_protocol, from_listener=p.listened) for p in ports],
        warnings=[*warnings, *side.notes, *collision, *log_note],
        untranslatable=[*side.items, *conflicts, *node_items(service_name, node)],
    )


def _resolve_node(
    blue: TaskDefinition,
    appmesh: AppMeshInventory | None,
    virtual_node_name: str | None,
    registrations: list[CloudMapRegistration],
    *,
    has_envoy: bool,
) -> tuple[str | None, AppMeshVirtualNode | None, list[str]]:
    """The virtual node this service is in App Mesh, with a note on how it was found."""
    notes = []
    node_name = virtual_node_name or virtual_node_from_task_definition(blue)
    if node_name is None and not has_envoy:
        node_name = node_for_registrations(registrations, appmesh)
        if node_name is not None:
            notes.append(
                f"runs without Envoy, but App Mesh describes it as virtual node {node_name!r} (matched by its Cloud "
                "Map registration): green's copy takes that node's client aliases, so green's callers reach it and "
                "not blue's tasks, which decommission deletes"
            )
    if appmesh is None or node_name is None:
        return node_name, None, notes
    node = mesh_index(appmesh).nodes.get(node_name)
    if node is None:
        notes.append(
            f"virtual node {node_name!r} is not in mesh {appmesh.mesh_name!r}: "
            "translated from the task definition alone"
        )
    return node_name, node, notes


def _mesh_side(
    service: str, node: AppMeshVirtualNode | None, appmesh: AppMeshInventory | None, ports: list[ServedPort]
) -> _MeshSide:
    """Aliases, route timeouts and routing losses of ``node`` (nothing without App Mesh data)."""
    if node is None or appmesh is None:
        return _MeshSide()
    decisions = decisions_for(appmesh)
    per_request, idle, timeout_items = route_timeouts(service, node.name, appmesh, ports)
    routing = [routing_item(service, node.name, d) for d in decisions_reaching(appmesh, node.name)]
    return _MeshSide(
        aliases=aliases_for(node.name, appmesh, ports, decisions),
        per_request=per_request,
        idle=idle,
        items=[
            *[item for item in routing if item is not None],
            *retry_items(service, node.name, appmesh),
            *timeout_items,
        ],
    )


def _without_node(
    side: _MeshSide,
    appmesh: AppMeshInventory | None,
    ports: list[ServedPort],
    registrations: list[CloudMapRegistration],
    inferred: list[InferredAlias],
    *,
    has_envoy: bool,
) -> _MeshSide:
    """Aliases of a service App Mesh data says nothing about."""
    if not ports:
        return side
    if appmesh is None and inferred:
        return _inferred_side(side, ports, inferred)
    if not has_envoy:
        aliases = registration_aliases(registrations, ports)
        if aliases:
            ((host, port),) = next(iter(aliases.values()))
            side.aliases = aliases
            side.notes.append(
                f"runs without Envoy and registers in Cloud Map as {host}: green's copy takes client alias "
                f"{host}:{port}, so green's callers reach it and not blue's tasks, which decommission deletes"
            )
        elif registrations:
            side.notes.append(
                "runs without Envoy and registers in Cloud Map, but its name or port is ambiguous: green's copy gets "
                "no client alias, so green's callers keep resolving blue's tasks until you add one"
            )
        return side
    if appmesh is None:
        side.notes.append(
            "no App Mesh virtual service data: green gets no client alias, so clients that call the old virtual "
            "service hostname must be checked (or add the alias to the plan by hand)"
        )
    return side


def _inferred_side(side: _MeshSide, ports: list[ServedPort], inferred: list[InferredAlias]) -> _MeshSide:
    """Aliases discovery inferred (Cloud Map, task definitions), each on the port that serves it."""
    served = [p.port for p in ports]
    for alias in inferred:
        port = alias.container_port if alias.container_port in served else None
        if port is None and alias.port in served:
            port = alias.port
        if port is None and len(served) == 1:
            port = served[0]
        if port is None:
            side.notes.append(
                f"client alias {alias.dns_name}:{alias.port} ({alias.source.value}: {alias.evidence}) matches none "
                f"of the served ports {served}: not set; give it in green.services.<name>.client_aliases"
            )
            continue
        side.aliases.setdefault(port, []).append((alias.dns_name, alias.port))
    return side


def node_items(service: str | None, node: AppMeshVirtualNode | None) -> list[UntranslatableItem]:
    """What the node's listeners and client policies do that green does not."""
    if node is None:
        return []
    owner = f"virtual node {node.name}"
    items = [item for listener in node.listeners for item in listener_items(service, owner, listener)]
    items.extend(client_policy_items(service, owner, node.client_policies))
    legacy = legacy_client_tls_item(service, node)
    return [*items, *([legacy] if legacy else [])]


def _discovery_base(
    node: AppMeshVirtualNode | None,
    service_name: str,
    registrations: list[CloudMapRegistration],
    green_namespace: str | None,
    family_suffix: str,
) -> tuple[str, list[str]]:
    """Green's discovery name, kept apart from a name blue already holds in green's namespace."""
    if node is not None and node.cloud_map_service:
        base, taken = sc_name(node.cloud_map_service), node.cloud_map_namespace == green_namespace
    elif node is not None and node.dns_hostname:
        base, taken = sc_name(node.dns_hostname.split(".", 1)[0]), False
    elif registrations and registrations[0].service:
        base = sc_name(registrations[0].service)
        taken = any(r.namespace == green_namespace and sc_name(r.service or "") == base for r in registrations)
    else:
        base, taken = sc_name(service_name), False
    if not (green_namespace and taken):
        return base, []
    green = sc_name(base + family_suffix)
    note = (
        f"blue registers {base!r} in Cloud Map namespace {green_namespace!r} too: green's discovery name is "
        f"{green!r} so the two do not collide (clients use the alias)"
    )
    return green, [note]


def _service_connect_services(
    service: str, ports: list[ServedPort], port_names: dict[int, str], side: _MeshSide, base: str
) -> tuple[list[ServiceConnectService], list[UntranslatableItem]]:
    services = []
    lost = []
    for index, p in enumerate(ports):
        port_name = port_names[p.port]
        port_aliases = side.aliases.get(p.port, [])
        lost.extend(_alias_conflicts(service, p.port, port_aliases))
        services.append(
            ServiceConnectService(
                portName=port_name,
                discoveryName=base if index == 0 else sc_name(f"{base}-{port_name}"),
                clientAliases=[ServiceConnectClientAlias(port=port_aliases[0][1], dnsName=port_aliases[0][0])]
                if port_aliases
                else [],
                timeout=port_timeout(p, side.per_request.get(p.port), side.idle.get(p.port)),
            )
        )
    return services, lost


def _alias_conflicts(service: str, port: int, aliases: list[tuple[str, int]]) -> list[UntranslatableItem]:
    """Service Connect allows one client alias per port: the first keeps it, the others are reported."""
    if len(aliases) < 2:
        return []
    kept = aliases[0][0]
    return [
        UntranslatableItem(
            service=service,
            app_mesh_construct="client alias",
            resource=f"virtual service {host}",
            detail=f"{host}:{client_port} also reaches port {port}, but Service Connect allows one client alias per "
            f"port and {kept} has it",
            next_step=f"change the callers of {host} to call {kept}, or serve {host} from a port of its own",
        )
        for host, client_port in aliases[1:]
    ]


def _access_logs(
    node: AppMeshVirtualNode | None, envoy_defs: list[ContainerDefinition]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[str]]:
    """Envoy's log configuration for the Service Connect proxy, and its access logs if App Mesh kept them."""
    envoy_logs = next(
        (
            c.model_extra.get("logConfiguration")
            for c in envoy_defs
            if c.model_extra and c.model_extra.get("logConfiguration")
        ),
        None,
    )
    logs = dict(envoy_logs) if isinstance(envoy_logs, dict) else None
    if node is None or not node.access_log_path:
        return logs, None, []
    access = {
        "format": "JSON" if (node.access_log_format or "").upper() == "JSON" else "TEXT",
        "includeQueryParameters": "DISABLED",
    }
    if logs is None:
        note = (
            f"Envoy wrote access logs to {node.access_log_path!r} but had no logConfiguration to copy: set green's "
            "Service Connect logConfiguration, or the access logs are not kept"
        )
        return None, access, [note]
    return logs, access, []


def service_connect_configuration(namespace: str, translated: TranslatedService) -> ServiceConnectConfiguration:
    """The service's ``serviceConnectConfiguration`` (a client-only service has no ``services``)."""
    return ServiceConnectConfiguration(
        enabled=True,
        namespace=namespace,
        services=translated.services,
        logConfiguration=translated.log_configuration,
        accessLogConfiguration=translated.access_log_configuration if translated.log_configuration else None,
    )


def backend_items(
    translated: list[tuple[str, TranslatedService]], appmesh: AppMeshInventory | None
) -> list[UntranslatableItem]:
    """Backends that green's services call but no service of the spec provides."""
    if appmesh is None:
        return []
    decisions: dict[str, RoutingDecision] = {d.virtual_service: d for d in decisions_for(appmesh)}
    migrated = {t.virtual_node for _, t in translated if t.virtual_node}
    nodes = {n.name: n for n in appmesh.virtual_nodes}
    items = []
    for service, result in translated:
        node = nodes.get(result.virtual_node or "")
        if node is not None:
            items.extend(unmigrated_backend_items(service, node, appmesh, decisions, migrated))
    return items


def make_discovery_names_unique(configs: list[ServiceConnectConfiguration]) -> list[str]:
    """Discovery names must be unique in the namespace: rename repeats in place order, return notes."""
    seen: set[str] = set()
    notes: list[str] = []
    for config in configs:
        for service in config.services:
            name = service.discoveryName or service.portName
            candidate, n = name, 2
            while candidate in seen:
                candidate = sc_name(f"{name[: MAX_NAME - len(str(n)) - 1]}-{n}")
                n += 1
            if candidate != name:
                notes.append(
                    f"discovery name {name!r} is used twice in the namespace: the second becomes {candidate!r}"
                )
                service.discoveryName = candidate
            seen.add(candidate)
    return notes


def drop_duplicate_aliases(configs: list[ServiceConnectConfiguration]) -> list[str]:
    """A client alias (hostname:port) can point at one Service Connect service only: keep the first."""
    owner: dict[tuple[str | None, int], str] = {}
    notes: list[str] = []
    for config in configs:
        for service in config.services:
            kept = []
            for alias in service.clientAliases:
                key = (alias.dnsName, alias.port)
                name = service.discoveryName or service.portName
                if key in owner:
                    notes.append(
                        f"client alias {alias.dnsName}:{alias.port} is claimed by {owner[key]!r} and {name!r}: "
                        f"only {owner[key]!r} keeps it"
                    )
                    continue
                owner[key] = name
                kept.append(alias)
            service.clientAliases = kept
    return notes
