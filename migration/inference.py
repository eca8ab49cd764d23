"""Names and ports of blue's services without App Mesh (issue 18: App Mesh end of support).

When the App Mesh API refuses (403) or is gone (404), the names clients call are still written
down elsewhere:

- Cloud Map, through the ECS ``serviceRegistries``: ``<service>.<namespace>``, with the port of the
  registration (SRV records), of its instances (``AWS_INSTANCE_PORT``) or of the task definition;
- the task definitions: the envoy sidecar's virtual node (``APPMESH_RESOURCE_ARN`` /
  ``APPMESH_VIRTUAL_NODE_NAME``), the port mappings, and container environment values that name a
  host of a discovered namespace (``API_URL=http://api.acme.local:9090``).

Pure functions: the discovery activity calls them with what it read, and every fact they return
carries its source and the evidence, which the plan shows.
"""

from __future__ import annotations

import re

from meshshift.migration.contracts import (
    BackendCall,
    BlueService,
    FactSource,
    InferredAlias,
)
from meshshift.migration.translate_taskdef import envoy_container_names

# A host name with at least one dot, optionally after a scheme and followed by a port. Values may hold
# several (comma-separated lists, JDBC-like URLs), so every match is taken.
_HOST = re.compile(
    r"(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?:[^@/\s]+@)?"
    r"(?P<host>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+)"
    r"(?::(?P<port>\d{1,5}))?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# Suffixes and prefixes App Mesh examples put around a service's name to name its virtual node.
_NODE_AFFIXES = (("", "-node"), ("", "-vn"), ("vn-", ""), ("", "-virtual-node"))


def aliases_by_service(aliases: list[InferredAlias]) -> dict[str, list[InferredAlias]]:
    """Each blue service's inferred aliases, in their order: looked up once per plan, not once per service."""
    out: dict[str, list[InferredAlias]] = {}
    for alias in aliases:
        out.setdefault(alias.blue_service, []).append(alias)
    return out


def namespace_of(host: str, namespaces: set[str]) -> str | None:
    """The longest discovered namespace ``host`` belongs to (``api.acme.local`` -> ``acme.local``)."""
    host = host.lower().rstrip(".")
    matches = [ns for ns in namespaces if host.endswith("." + ns.lower())]
    return max(matches, key=len) if matches else None


def env_backend_calls(service: BlueService, namespaces: set[str]) -> list[BackendCall]:
    """Hosts of a discovered namespace that ``service``'s application containers name in their
    environment, with the port called (explicit, else the scheme's default, else unknown)."""
    envoy = set(envoy_container_names(service.task_definition))
    calls: dict[tuple[str, int | None], BackendCall] = {}
    for container in service.task_definition.containerDefinitions:
        if container.name in envoy:
            continue
        for env in container.environment:
            for match in _HOST.finditer(env.value or ""):
                host = match["host"].lower().rstrip(".")
                if namespace_of(host, namespaces) is None:
                    continue
                port = int(match["port"]) if match["port"] else _DEFAULT_PORTS.get((match["scheme"] or "").lower())
                key = (host, port)
                if key not in calls:
                    calls[key] = BackendCall(
                        client=service.name,
                        host=host,
                        port=port,
                        source=FactSource.TASK_DEFINITION,
                        evidence=f"task definition {service.task_definition.family!r}, container "
                        f"{container.name!r} environment {env.name}={env.value}",
                    )
    return list(calls.values())


def _container_ports(service: BlueService) -> list[int]:
    envoy = set(envoy_container_names(service.task_definition))
    ports = [
        m.containerPort
        for c in service.task_definition.containerDefinitions
        if c.name not in envoy
        for m in c.portMappings
        if m.containerPort is not None
    ]
    return list(dict.fromkeys(ports))


def _node_names(service: BlueService) -> set[str]:
    """First labels that name this service: its ECS name, and its virtual node's name without the
    usual affixes (``api-node`` -> ``api``)."""
    names = {service.name.lower()}
    node = (service.virtual_node_name or "").lower()
    if node:
        names.add(node)
        for prefix, suffix in _NODE_AFFIXES:
            if node.startswith(prefix) and node.endswith(suffix) and len(node) > len(prefix) + len(suffix):
                names.add(node[len(prefix) : len(node) - len(suffix)])
    return names


def _serving_port(service: BlueService, client_port: int | None, registered: int | None) -> int | None:
    """The container port that answers calls on ``client_port``: the registration's, the same port,
    or the only one."""
    ports = _container_ports(service)
    if registered is not None and registered in ports:
        return registered
    if client_port is not None and client_port in ports:
        return client_port
    return ports[0] if len(ports) == 1 else None


def infer_aliases(
    services: list[BlueService], calls: list[BackendCall], namespaces: set[str]
) -> tuple[list[InferredAlias], list[str]]:
    """Client aliases of each blue service, inferred from Cloud Map and the task definitions, with a
    warning per alias naming its evidence (and one per host that could not be tied to a service)."""
    aliases: list[InferredAlias] = []
    warnings: list[str] = []
    claimed: set[str] = set()
    by_host: dict[str, list[BackendCall]] = {}
    for call in calls:
        by_host.setdefault(call.host, []).append(call)

    def add(service: BlueService, host: str, registered: int | None, source: FactSource, evidence: str) -> None:
        called = sorted({c.port for c in by_host.get(host, []) if c.port is not None})
        callers = sorted({c.client for c in by_host.get(host, [])})
        ports = called or ([registered] if registered is not None else [])
        if not ports:
            ports = _container_ports(service)[:1] if len(_container_ports(service)) == 1 else []
        if not ports:
            warnings.append(
                f"service {service.name!r}: clients may call it as {host}, but no port could be inferred "
                f"({evidence}); set green.services.{service.name}.client_aliases"
            )
            return
        for port in ports:
            serving = _serving_port(service, port, registered)
            why = evidence + (f"; called on port {port} by {', '.join(callers)}" if port in called else "")
            aliases.append(
                InferredAlias(
                    blue_service=service.name,
                    dns_name=host,
                    port=port,
                    container_port=serving,
                    source=source,
                    evidence=why,
                )
            )
            warnings.append(
                f"service {service.name!r}: client alias {host}:{port} inferred without App Mesh from {source.value} "
                f"({why}); check it, or set green.services.{service.name}.client_aliases"
            )
        claimed.add(host)

    for service in services:
        for registration in service.cloud_map:
            host = (registration.dns_name or "").lower()
            if not host or host in claimed:
                continue
            registered = registration.port or registration.container_port
            if registered is None and len(registration.instance_ports) == 1:
                registered = registration.instance_ports[0]
            records = "/".join(registration.dns_records) or "no DNS records read"
            evidence = (
                f"ECS serviceRegistries -> Cloud Map service {registration.service!r} in namespace "
                f"{registration.namespace!r} ({records}"
                + (f", port {registered}" if registered is not None else "")
                + ")"
            )
            add(service, host, registered, FactSource.CLOUD_MAP, evidence)
    for service in services:
        names = _node_names(service)
        for host in sorted(by_host):
            if host in claimed or host.split(".", 1)[0] not in names:
                continue
            node = f"envoy virtual node {service.virtual_node_name!r}" if service.virtual_node_name else "ECS name"
            evidence = f"{host} named in a client's environment matches {service.name!r} ({node})"
            add(service, host, None, FactSource.TASK_DEFINITION, evidence)
    for host in sorted(set(by_host) - claimed):
        first = by_host[host][0]
        warnings.append(
            f"{host} is called by {', '.join(sorted({c.client for c in by_host[host]}))} ({first.evidence}) but no "
            f"blue service of the spec registers or is named {host.split('.', 1)[0]!r} in namespace "
            f"{namespace_of(host, namespaces)}"
        )
    return aliases, warnings
