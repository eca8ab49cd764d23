"""App Mesh -> ECS Service Connect, as pure functions (brief section 5).

| App Mesh                             | Service Connect                                     |
|--------------------------------------|-----------------------------------------------------|
| virtual node listener port/protocol  | port mapping ``name`` + ``appProtocol``             |
| virtual service hostname:port        | ``clientAliases`` (client code does not change)     |
| virtual node Cloud Map service       | ``discoveryName`` in the namespace                  |
| route / listener timeouts            | ``timeout``                                         |
| listener TLS                         | ``tls`` (needs a Private CA: a warning to act on)   |
| Envoy access logs                    | ``accessLogConfiguration``                          |
| virtual routers, weighted routes     | nothing: traffic is split at the edge instead       |

Green's task definition loses every trace of Envoy: the container, ``proxyConfiguration``,
``dependsOn`` on it and ``APPMESH_*``/``ENVOY_*`` variables. When the App Mesh API no longer
answers, the same facts are read from the blue task definition (``APPMESH_RESOURCE_ARN`` or
``APPMESH_VIRTUAL_NODE_NAME`` on the envoy container, ``AppPorts`` in ``proxyConfiguration``).
What cannot be carried over is reported, never silently dropped.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from meshshift.migration.contracts import (
    AppMeshInventory,
    AppMeshListener,
    AppMeshVirtualNode,
    ContainerDefinition,
    PortMapping,
    ServiceConnectClientAlias,
    ServiceConnectConfiguration,
    ServiceConnectService,
    ServiceConnectTimeout,
    TaskDefinition,
)

ENVOY_IMAGE_MARKER = "aws-appmesh-envoy"
ENVOY_CONTAINER_NAME = "envoy"
STRIPPED_ENV_PREFIXES = ("APPMESH_", "ENVOY_")
AppProtocol = Literal["http", "http2", "grpc"]
HTTP_PROTOCOLS: dict[str, AppProtocol] = {"http": "http", "http2": "http2", "grpc": "grpc"}

# Keys describe_task_definition returns that register_task_definition refuses.
READ_ONLY_TASK_KEYS = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
)
_NAME_CHARS = re.compile(r"[^a-z0-9_-]+")
_MAX_NAME = 64


class TranslatedService(BaseModel):
    """One blue service's green task definition and Service Connect entries, with what was lost."""

    model_config = ConfigDict(extra="forbid")

    task_definition: TaskDefinition
    services: list[ServiceConnectService] = Field(default_factory=list)
    log_configuration: dict[str, Any] | None = None
    access_log_configuration: dict[str, Any] | None = None
    virtual_node: str | None = None
    envoy_containers: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    untranslatable: list[str] = Field(default_factory=list)


def sc_name(text: str) -> str:
    """A Service Connect port or discovery name: lowercase letters, digits, ``_`` and ``-``, up to
    64 characters, not starting with a hyphen."""
    name = _NAME_CHARS.sub("-", text.lower()).lstrip("-")[:_MAX_NAME].rstrip("-")
    return name or "port"


def envoy_container_names(td: TaskDefinition) -> list[str]:
    """Envoy sidecars: named ``envoy``, running the App Mesh Envoy image, or the proxy container."""
    proxy = td.proxyConfiguration.containerName if td.proxyConfiguration else None
    return [
        c.name
        for c in td.containerDefinitions
        if c.name == ENVOY_CONTAINER_NAME or ENVOY_IMAGE_MARKER in c.image or c.name == proxy
    ]


def virtual_node_from_task_definition(td: TaskDefinition) -> str | None:
    """The virtual node named by the Envoy container's environment, if any.

    ``APPMESH_RESOURCE_ARN`` is ``arn:aws:appmesh:<region>:<account>:mesh/<mesh>/virtualNode/<node>``;
    the older ``APPMESH_VIRTUAL_NODE_NAME`` is ``mesh/<mesh>/virtualNode/<node>``.
    """
    for container in td.containerDefinitions:
        for env in container.environment:
            if env.name in ("APPMESH_RESOURCE_ARN", "APPMESH_VIRTUAL_NODE_NAME") and "/virtualNode/" in env.value:
                return env.value.rsplit("/virtualNode/", 1)[1] or None
    return None


def _is_virtual_gateway(td: TaskDefinition) -> bool:
    return any(
        env.name in ("APPMESH_RESOURCE_ARN", "APPMESH_VIRTUAL_NODE_NAME") and "/virtualGateway/" in env.value
        for c in td.containerDefinitions
        for env in c.environment
    )


def _proxy_app_ports(td: TaskDefinition) -> list[int]:
    if td.proxyConfiguration is None:
        return []
    for prop in td.proxyConfiguration.properties:
        if prop.name == "AppPorts":
            return [int(p) for p in re.split(r"[,\s]+", prop.value.strip()) if p.isdigit()]
    return []


def _strip_container(container: ContainerDefinition, envoy: set[str]) -> ContainerDefinition:
    data = container.model_dump(exclude_none=False)
    data["environment"] = [
        e.model_dump() for e in container.environment if not e.name.startswith(STRIPPED_ENV_PREFIXES)
    ]
    data["dependsOn"] = [d.model_dump() for d in container.dependsOn if d.containerName not in envoy]
    # Envoy can also be reached through legacy links and volumesFrom; both would fail to register.
    if isinstance(data.get("links"), list):
        data["links"] = [link for link in data["links"] if str(link).split(":", 1)[0] not in envoy]
    if isinstance(data.get("volumesFrom"), list):
        data["volumesFrom"] = [v for v in data["volumesFrom"] if v.get("sourceContainer") not in envoy]
    return ContainerDefinition.model_validate(data)


class _Port(BaseModel):
    """A port green serves: where it is in the task definition and how App Mesh described it."""

    port: int
    listener: AppMeshListener | None = None
    app_protocol: AppProtocol | None = None


def _listeners_for(
    td: TaskDefinition, node: AppMeshVirtualNode | None, app_containers: list[ContainerDefinition]
) -> tuple[list[_Port], list[str]]:
    notes: list[str] = []
    if node is not None and node.listeners:
        ports = []
        for listener in node.listeners:
            proto = HTTP_PROTOCOLS.get(listener.protocol.lower())
            ports.append(_Port(port=listener.port, listener=listener, app_protocol=proto))
        return ports, notes
    app_ports = _proxy_app_ports(td)
    existing = {
        m.containerPort: m.appProtocol for c in app_containers for m in c.portMappings if m.containerPort is not None
    }
    if app_ports:
        unknown = [p for p in app_ports if existing.get(p) is None]
        if unknown:
            notes.append(
                f"port(s) {', '.join(map(str, unknown))}: protocol unknown without App Mesh data, so no appProtocol "
                "is set and Service Connect reports only TCP metrics; set appProtocol (http/http2/grpc) on green's "
                "port mapping to get request and 5xx metrics for the analysis"
            )
        return [_Port(port=p, app_protocol=existing.get(p)) for p in app_ports], notes
    tcp_ports = [
        m.containerPort
        for c in app_containers
        for m in c.portMappings
        if m.containerPort is not None and (m.protocol or "tcp").lower() == "tcp"
    ]
    if tcp_ports:
        notes.append(
            "no App Mesh listener data and no proxyConfiguration AppPorts: every TCP port mapping "
            f"({', '.join(map(str, tcp_ports))}) becomes a Service Connect endpoint"
        )
    return [_Port(port=p, app_protocol=existing.get(p)) for p in dict.fromkeys(tcp_ports)], notes


def _aliases_for(
    node: AppMeshVirtualNode, mesh: AppMeshInventory, ports: list[_Port]
) -> tuple[dict[int, list[tuple[str, int]]], dict[int, int], list[str]]:
    """Virtual services this node provides, per node port: [(hostname, client port)].

    Also the longest route timeout per node port, and what the routers did that cannot follow.
    """
    aliases: dict[int, list[tuple[str, int]]] = {}
    route_timeouts: dict[int, int] = {}
    lost: list[str] = []
    node_ports = [p.port for p in ports]
    default_port = node_ports[0] if node_ports else None
    routers = {r.name: r for r in mesh.virtual_routers}
    for vs in sorted(mesh.virtual_services, key=lambda v: v.name):
        if vs.provider_node == node.name:
            for port in node_ports:
                aliases.setdefault(port, []).append((vs.name, port))
            continue
        if vs.provider_router is None:
            continue
        routes = [r for r in mesh.routes if r.router == vs.provider_router]
        weight_by_node: dict[str, int] = {}
        for route in routes:
            for target in route.targets:
                weight_by_node[target.virtual_node] = weight_by_node.get(target.virtual_node, 0) + target.weight
        if node.name not in weight_by_node:
            continue
        if len(weight_by_node) > 1:
            winner = max(sorted(weight_by_node), key=lambda n: weight_by_node[n])
            split = ", ".join(f"{n} ({w})" for n, w in sorted(weight_by_node.items()))
            if winner == node.name:
                lost.append(
                    f"virtual service {vs.name!r} is split by router {vs.provider_router!r} between {split}: Service "
                    f"Connect has no weighted routing, so its client alias goes to the heaviest target {winner!r}; "
                    "shift between versions at the edge instead"
                )
            else:
                continue
        router = routers.get(vs.provider_router)
        router_ports = [listener.port for listener in router.listeners] if router else []
        for route in routes:
            for target in route.targets:
                if target.virtual_node != node.name:
                    continue
                node_port = target.port if target.port in node_ports else default_port
                if node_port is None:
                    continue
                client_port = router_ports[0] if router_ports else node_port
                entry = (vs.name, client_port)
                if entry not in aliases.setdefault(node_port, []):
                    aliases[node_port].append(entry)
                if route.timeout_seconds:
                    route_timeouts[node_port] = max(route_timeouts.get(node_port, 0), route.timeout_seconds)
            if route.has_retry_policy and any(t.virtual_node == node.name for t in route.targets):
                lost.append(
                    f"route {route.router}/{route.name}: its retry policy has no Service Connect equivalent "
                    "(Service Connect retries with fixed defaults)"
                )
    return aliases, route_timeouts, lost


def translate_service(
    blue: TaskDefinition,
    *,
    service_name: str,
    family_suffix: str,
    green_namespace: str | None = None,
    appmesh: AppMeshInventory | None = None,
    virtual_node_name: str | None = None,
) -> TranslatedService:
    """Green's task definition and Service Connect entries for one blue service.

    ``virtual_node_name`` is discovery's answer; without it the node is read from the envoy
    container's environment. ``appmesh`` is None when the App Mesh API did not answer.
    """
    warnings: list[str] = []
    lost: list[str] = []
    envoy = set(envoy_container_names(blue))
    node_name = virtual_node_name or virtual_node_from_task_definition(blue)
    node = None
    if appmesh is not None and node_name is not None:
        node = next((n for n in appmesh.virtual_nodes if n.name == node_name), None)
        if node is None:
            warnings.append(
                f"virtual node {node_name!r} is not in mesh {appmesh.mesh_name!r}: "
                "translated from the task definition alone"
            )
    if _is_virtual_gateway(blue):
        warnings.append(
            "this service runs an App Mesh virtual gateway: its ingress role is taken by the edge (ALB, Route 53, "
            "CloudFront) and its gateway routes are not carried over"
        )

    envoy_defs = [c for c in blue.containerDefinitions if c.name in envoy]
    app_containers = [_strip_container(c, envoy) for c in blue.containerDefinitions if c.name not in envoy]
    if not app_containers:
        raise ValueError(f"task definition {blue.family!r} has only Envoy containers; there is nothing to run in green")

    ports, notes = _listeners_for(blue, node, app_containers)
    warnings.extend(notes)

    # Name every port mapping (Service Connect refers to ports by name) and set appProtocol where
    # App Mesh said the listener speaks HTTP, HTTP/2 or gRPC.
    used_names = {m.name for c in app_containers for m in c.portMappings if m.name}
    by_port = {p.port: p for p in ports}
    port_names: dict[int, str] = {}
    containers: list[ContainerDefinition] = []
    for container in app_containers:
        mappings: list[PortMapping] = []
        for mapping in container.portMappings:
            data = mapping.model_dump()
            if not mapping.name:
                base = sc_name(f"{container.name}-{mapping.containerPort}")
                name, n = base, 2
                while name in used_names:
                    name, n = f"{base[: _MAX_NAME - len(str(n)) - 1]}-{n}", n + 1
                used_names.add(name)
                data["name"] = name
            served = by_port.get(mapping.containerPort) if mapping.containerPort is not None else None
            if served is not None and served.listener is not None:
                data["appProtocol"] = served.app_protocol
            if served is not None and mapping.containerPort not in port_names:
                port_names[mapping.containerPort] = data["name"]  # type: ignore[index]
            mappings.append(PortMapping.model_validate(data))
        containers.append(container.model_copy(update={"portMappings": mappings}))

    # A port Envoy forwarded to may have had no mapping (awsvpc shares the network namespace);
    # Service Connect needs one, so it goes on the first essential application container.
    missing = [p for p in ports if p.port not in port_names]
    if missing:
        target = next((i for i, c in enumerate(containers) if c.essential is not False), 0)
        extra = []
        for p in missing:
            name = sc_name(f"{containers[target].name}-{p.port}")
            while name in used_names:
                name = sc_name(f"{name}-x")
            used_names.add(name)
            port_names[p.port] = name
            extra.append(PortMapping(containerPort=p.port, protocol="tcp", name=name, appProtocol=p.app_protocol))
        containers[target] = containers[target].model_copy(
            update={"portMappings": [*containers[target].portMappings, *extra]}
        )
        warnings.append(
            f"added port mapping(s) {', '.join(str(p.port) for p in missing)} on container "
            f"{containers[target].name!r}: Envoy reached them without one, Service Connect needs a named mapping"
        )

    if all(c.essential is False for c in containers):
        containers[0] = containers[0].model_copy(update={"essential": True})
        warnings.append(
            f"no essential container was left once Envoy was removed: {containers[0].name!r} made essential"
        )

    data = blue.model_dump(exclude_none=True)
    for key in READ_ONLY_TASK_KEYS:
        data.pop(key, None)
    data.pop("proxyConfiguration", None)
    data["family"] = blue.family + family_suffix
    data["containerDefinitions"] = [c.model_dump(exclude_none=True) for c in containers]
    green_td = TaskDefinition.model_validate(data)
    if len(green_td.family) > 255:
        warnings.append(f"green family {green_td.family!r} is longer than ECS's 255 characters")

    # Service Connect entries.
    aliases: dict[int, list[tuple[str, int]]] = {}
    route_timeouts: dict[int, int] = {}
    if node is not None and appmesh is not None:
        aliases, route_timeouts, route_losses = _aliases_for(node, appmesh, ports)
        lost.extend(route_losses)
    elif ports:
        warnings.append(
            "no App Mesh virtual service data: green gets no client alias, so clients that call the old virtual "
            "service hostname must be checked (or add the alias to the plan by hand)"
        )

    base = _discovery_base(node, service_name)
    if node is not None and green_namespace and node.cloud_map_namespace == green_namespace:
        base = sc_name(base + family_suffix)
        warnings.append(
            f"blue registers {node.cloud_map_service or service_name!r} in Cloud Map namespace {green_namespace!r} "
            f"too: green's discovery name is {base!r} so the two do not collide (clients use the alias)"
        )
    services: list[ServiceConnectService] = []
    for index, p in enumerate(ports):
        port_name = port_names[p.port]
        discovery = base if index == 0 else sc_name(f"{base}-{port_name}")
        port_aliases = aliases.get(p.port, [])
        if len(port_aliases) > 1:
            kept = port_aliases[0]
            for host, client_port in port_aliases[1:]:
                lost.append(
                    f"virtual service {host!r}:{client_port} also reaches node port {p.port}, "
                    "but Service Connect allows "
                    f"one client alias per port and {kept[0]!r} has it: clients of {host!r} must change hostname"
                )
        timeout = _timeout(p, route_timeouts.get(p.port))
        services.append(
            ServiceConnectService(
                portName=port_name,
                discoveryName=discovery,
                clientAliases=[ServiceConnectClientAlias(port=port_aliases[0][1], dnsName=port_aliases[0][0])]
                if port_aliases
                else [],
                timeout=timeout,
            )
        )
        if p.listener is not None and p.listener.tls_mode and p.listener.tls_mode.upper() in ("STRICT", "PERMISSIVE"):
            warnings.append(
                f"listener {p.port} terminates TLS ({p.listener.tls_mode}): set green's Service Connect tls "
                "(issuerCertificateAuthority.awsPcaAuthorityArn and roleArn) before the ramp, or traffic "
                "between green services is plain text"
            )
        if p.listener is not None and p.listener.has_outlier_detection:
            lost.append(
                f"listener {p.port}: outlier detection tuning has no Service Connect equivalent (fixed defaults)"
            )
        if p.listener is not None and p.listener.has_connection_pool:
            lost.append(f"listener {p.port}: connection pool limits have no Service Connect equivalent")

    if node is not None and node.client_tls_enforced:
        lost.append(
            f"virtual node {node.name!r} enforces client TLS (mutual TLS / client policy): Service Connect has no mTLS"
        )

    log_configuration, access_logs = _access_logs(node, envoy_defs, warnings)
    return TranslatedService(
        task_definition=green_td,
        services=services,
        log_configuration=log_configuration,
        access_log_configuration=access_logs,
        virtual_node=node_name,
        envoy_containers=sorted(envoy),
        warnings=warnings,
        untranslatable=lost,
    )


def _discovery_base(node: AppMeshVirtualNode | None, service_name: str) -> str:
    if node is not None and node.cloud_map_service:
        return sc_name(node.cloud_map_service)
    if node is not None and node.dns_hostname:
        return sc_name(node.dns_hostname.split(".", 1)[0])
    return sc_name(service_name)


def _timeout(port: _Port, route_timeout: int | None) -> ServiceConnectTimeout | None:
    listener = port.listener
    per_request = max(filter(None, [route_timeout, listener.timeout_seconds if listener else None]), default=None)
    idle = listener.idle_timeout_seconds if listener else None
    # Service Connect refuses a per-request timeout on TCP ports (no appProtocol).
    if port.app_protocol is None:
        per_request = None
    if per_request is None and idle is None:
        return None
    return ServiceConnectTimeout(perRequestTimeoutSeconds=per_request, idleTimeoutSeconds=idle)


def _access_logs(
    node: AppMeshVirtualNode | None, envoy_defs: list[ContainerDefinition], warnings: list[str]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    envoy_logs = next(
        (
            c.model_extra.get("logConfiguration")
            for c in envoy_defs
            if c.model_extra and c.model_extra.get("logConfiguration")
        ),
        None,
    )
    if node is None or not node.access_log_path:
        return (dict(envoy_logs) if isinstance(envoy_logs, dict) else None), None
    if not isinstance(envoy_logs, dict):
        warnings.append(
            f"Envoy wrote access logs to {node.access_log_path!r} but had no logConfiguration to copy: set green's "
            "Service Connect logConfiguration, or the access logs are not kept"
        )
        return None, {"format": "TEXT", "includeQueryParameters": "DISABLED"}
    return dict(envoy_logs), {"format": "TEXT", "includeQueryParameters": "DISABLED"}


def service_connect_configuration(namespace: str, translated: TranslatedService) -> ServiceConnectConfiguration:
    """The service's ``serviceConnectConfiguration`` (a client-only service has no ``services``)."""
    return ServiceConnectConfiguration(
        enabled=True,
        namespace=namespace,
        services=translated.services,
        logConfiguration=translated.log_configuration,
        accessLogConfiguration=translated.access_log_configuration if translated.log_configuration else None,
    )


def make_discovery_names_unique(configs: list[ServiceConnectConfiguration]) -> list[str]:
    """Discovery names must be unique in the namespace: rename repeats in place order, return notes."""
    seen: set[str] = set()
    notes: list[str] = []
    for config in configs:
        for service in config.services:
            name = service.discoveryName or service.portName
            candidate, n = name, 2
            while candidate in seen:
                candidate = sc_name(f"{name[: _MAX_NAME - len(str(n)) - 1]}-{n}")
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


def mesh_untranslatable(appmesh: AppMeshInventory | None) -> list[str]:
    """Mesh-wide features with no Service Connect equivalent."""
    if appmesh is None:
        return []
    lost = []
    # meshOwner is reported for every mesh; only a mesh owned by another account is shared.
    if appmesh.shared_from_other_account:
        lost.append(
            f"mesh {appmesh.mesh_name!r} is shared across accounts (AWS RAM): a Cloud Map namespace cannot be shared, "
            "so every green service must run in this account"
        )
    if appmesh.virtual_gateways:
        names = ", ".join(sorted(g.name for g in appmesh.virtual_gateways))
        lost.append(f"virtual gateways ({names}) and their gateway routes: ingress moves to the edge shifters")
    return lost
