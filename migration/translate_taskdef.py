"""Green's task definition: blue's, without Envoy, with every port named (the task half of the translation).

Green's task definition loses every trace of Envoy: the container, ``proxyConfiguration``,
``dependsOn`` on it and ``APPMESH_*``/``ENVOY_*`` variables. When the App Mesh API no longer
answers, what Envoy served is read from the blue task definition (``APPMESH_RESOURCE_ARN`` or
``APPMESH_VIRTUAL_NODE_NAME`` on the envoy container, ``AppPorts`` in ``proxyConfiguration``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

from meshshift.migration.contracts import (
    AppMeshListener,
    AppMeshVirtualNode,
    ContainerDefinition,
    PortMapping,
    TaskDefinition,
)

ENVOY_IMAGE_MARKER = "aws-appmesh-envoy"
ENVOY_CONTAINER_NAME = "envoy"
STRIPPED_ENV_PREFIXES = ("APPMESH_", "ENVOY_")
MESH_RESOURCE_ENV = ("APPMESH_RESOURCE_ARN", "APPMESH_VIRTUAL_NODE_NAME")
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
MAX_NAME = 64
_NAME_CHARS = re.compile(r"[^a-z0-9_-]+")
_PORT_RANGE = range(1, 65536)


def sc_name(text: str) -> str:
    """A Service Connect port or discovery name: lowercase letters, digits, ``_`` and ``-``, up to
    64 characters, not starting with a hyphen."""
    name = _NAME_CHARS.sub("-", text.lower()).lstrip("-")[:MAX_NAME].rstrip("-")
    return name or "port"


def unique_name(base: str, used: set[str]) -> str:
    """``base``, or ``base-2``, ``base-3``... cut to fit 64 characters; the result is added to ``used``."""
    name, n = base, 2
    while name in used:
        suffix = f"-{n}"
        name, n = f"{base[: MAX_NAME - len(suffix)]}{suffix}", n + 1
    used.add(name)
    return name


def envoy_container_names(td: TaskDefinition) -> list[str]:
    """Envoy sidecars: named ``envoy``, running the App Mesh Envoy image, or the proxy container."""
    proxy = td.proxyConfiguration.containerName if td.proxyConfiguration else None
    return [
        c.name
        for c in td.containerDefinitions
        if c.name == ENVOY_CONTAINER_NAME or ENVOY_IMAGE_MARKER in c.image or c.name == proxy
    ]


def _mesh_resource(td: TaskDefinition, kind: str) -> str | None:
    marker = f"/{kind}/"
    for container in td.containerDefinitions:
        for env in container.environment:
            if env.name in MESH_RESOURCE_ENV and marker in env.value:
                return env.value.rsplit(marker, 1)[1] or None
    return None


def virtual_node_from_task_definition(td: TaskDefinition) -> str | None:
    """The virtual node named by the Envoy container's environment, if any.

    ``APPMESH_RESOURCE_ARN`` is ``arn:aws:appmesh:<region>:<account>:mesh/<mesh>/virtualNode/<node>``;
    the older ``APPMESH_VIRTUAL_NODE_NAME`` is ``mesh/<mesh>/virtualNode/<node>``.
    """
    return _mesh_resource(td, "virtualNode")


def virtual_gateway_from_task_definition(td: TaskDefinition) -> str | None:
    """The virtual gateway this task's Envoy runs (``.../virtualGateway/<name>``), if it runs one."""
    return _mesh_resource(td, "virtualGateway")


def application_containers(td: TaskDefinition) -> list[ContainerDefinition]:
    """The containers green keeps: every one but Envoy."""
    envoy = set(envoy_container_names(td))
    return [c for c in td.containerDefinitions if c.name not in envoy]


def proxy_app_ports(td: TaskDefinition) -> list[int]:
    if td.proxyConfiguration is None:
        return []
    for prop in td.proxyConfiguration.properties:
        if prop.name == "AppPorts":
            ports = [int(p) for p in re.split(r"[,\s]+", prop.value.strip()) if p.isdigit()]
            return [p for p in dict.fromkeys(ports) if p in _PORT_RANGE]
    return []


def strip_container(container: ContainerDefinition, envoy: set[str]) -> ContainerDefinition:
    data = container.model_dump(exclude_none=False)
    data["environment"] = [
        e.model_dump() for e in container.environment if not e.name.startswith(STRIPPED_ENV_PREFIXES)
    ]
    data["dependsOn"] = [d.model_dump() for d in container.dependsOn if d.containerName not in envoy]
    # Envoy can also be reached through legacy links and volumesFrom; both would fail to register.
    if isinstance(data.get("links"), list):
        data["links"] = [link for link in data["links"] if str(link).split(":", 1)[0] not in envoy]
    if isinstance(data.get("volumesFrom"), list):
        data["volumesFrom"] = [
            v for v in data["volumesFrom"] if not isinstance(v, dict) or v.get("sourceContainer") not in envoy
        ]
    return ContainerDefinition.model_validate(data)


class ServedPort(BaseModel):
    """A port green serves: where it is in the task definition and how App Mesh described it."""

    port: int
    listener: AppMeshListener | None = None
    app_protocol: AppProtocol | None = None
    # Set when the port is rebuilt from a plan's ServedPortRef, which keeps no listener (issue 22).
    from_listener: bool = False

    @property
    def listened(self) -> bool:
        """An App Mesh listener described the port: its protocol is known, so appProtocol is set."""
        return self.listener is not None or self.from_listener


def served_ports(
    td: TaskDefinition, node: AppMeshVirtualNode | None, app_containers: list[ContainerDefinition]
) -> tuple[list[ServedPort], list[str]]:
    """The ports that become Service Connect endpoints: the node's listeners, else Envoy's AppPorts,
    else every TCP port mapping. Also notes on what had to be guessed."""
    if node is not None and node.listeners:
        return _listener_ports(node)
    existing = {
        m.containerPort: m.appProtocol for c in app_containers for m in c.portMappings if m.containerPort is not None
    }
    app_ports = proxy_app_ports(td)
    if app_ports:
        notes = []
        unknown = [p for p in app_ports if existing.get(p) is None]
        if unknown:
            notes.append(
                f"port(s) {', '.join(map(str, unknown))}: protocol unknown without App Mesh data, so no appProtocol "
                "is set and Service Connect reports only TCP metrics; set appProtocol (http/http2/grpc) on green's "
                "port mapping to get request and 5xx metrics for the analysis"
            )
        return [_served(p, existing.get(p)) for p in app_ports], notes
    tcp_ports = [
        m.containerPort
        for c in app_containers
        for m in c.portMappings
        if m.containerPort is not None and m.containerPort in _PORT_RANGE and (m.protocol or "tcp").lower() == "tcp"
    ]
    if not tcp_ports:
        return [], []
    note = (
        "no App Mesh listener data and no proxyConfiguration AppPorts: every TCP port mapping "
        f"({', '.join(map(str, tcp_ports))}) becomes a Service Connect endpoint"
    )
    return [_served(p, existing.get(p)) for p in dict.fromkeys(tcp_ports)], [note]


def _served(port: int, app_protocol: str | None) -> ServedPort:
    return ServedPort(port=port, app_protocol=HTTP_PROTOCOLS.get((app_protocol or "").lower()))


def _listener_ports(node: AppMeshVirtualNode) -> tuple[list[ServedPort], list[str]]:
    ports: dict[int, ServedPort] = {}
    notes = []
    for listener in node.listeners:
        if listener.port not in _PORT_RANGE:
            notes.append(f"virtual node {node.name!r}: listener port {listener.port} is not a valid port, skipped")
        elif listener.port in ports:
            notes.append(f"virtual node {node.name!r}: listener port {listener.port} is listed twice, the first kept")
        else:
            proto = HTTP_PROTOCOLS.get(listener.protocol.lower())
            ports[listener.port] = ServedPort(port=listener.port, listener=listener, app_protocol=proto)
    return list(ports.values()), notes


def name_port_mappings(
    containers: list[ContainerDefinition], ports: list[ServedPort]
) -> tuple[list[ContainerDefinition], dict[int, str], set[str]]:
    """Every port mapping gets a name (Service Connect refers to ports by name); a served port's
    mapping also gets ``appProtocol`` where App Mesh said the listener speaks HTTP, HTTP/2 or gRPC.

    Returns the containers, the name of each served port's mapping, and every name in use."""
    used = {m.name for c in containers for m in c.portMappings if m.name}
    by_port = {p.port: p for p in ports}
    port_names: dict[int, str] = {}
    named: list[ContainerDefinition] = []
    for container in containers:
        mappings: list[PortMapping] = []
        for mapping in container.portMappings:
            data = mapping.model_dump()
            if not mapping.name:
                data["name"] = unique_name(sc_name(f"{container.name}-{mapping.containerPort}"), used)
            served = by_port.get(mapping.containerPort) if mapping.containerPort is not None else None
            if served is not None and served.listened:
                data["appProtocol"] = served.app_protocol
            if served is not None and served.port not in port_names:
                port_names[served.port] = data["name"]
            mappings.append(PortMapping.model_validate(data))
        named.append(container.model_copy(update={"portMappings": mappings}))
    return named, port_names, used


def add_missing_mappings(
    containers: list[ContainerDefinition], ports: list[ServedPort], port_names: dict[int, str], used: set[str]
) -> tuple[list[ContainerDefinition], list[str]]:
    """A port Envoy forwarded to may have had no mapping (awsvpc shares the network namespace);
    Service Connect needs one, so it goes on the first essential application container."""
    missing = [p for p in ports if p.port not in port_names]
    if not missing or not containers:
        return containers, []
    target = next((i for i, c in enumerate(containers) if c.essential is not False), 0)
    extra = []
    for p in missing:
        name = unique_name(sc_name(f"{containers[target].name}-{p.port}"), used)
        port_names[p.port] = name
        extra.append(PortMapping(containerPort=p.port, protocol="tcp", name=name, appProtocol=p.app_protocol))
    out = list(containers)
    out[target] = out[target].model_copy(update={"portMappings": [*out[target].portMappings, *extra]})
    note = (
        f"added port mapping(s) {', '.join(str(p.port) for p in missing)} on container "
        f"{out[target].name!r}: Envoy reached them without one, Service Connect needs a named mapping"
    )
    return out, [note]


def ensure_essential(containers: list[ContainerDefinition]) -> tuple[list[ContainerDefinition], list[str]]:
    """ECS refuses a task definition without an essential container; Envoy was often the only one."""
    if not containers or any(c.essential is not False for c in containers):
        return containers, []
    out = [containers[0].model_copy(update={"essential": True}), *containers[1:]]
    return out, [f"no essential container was left once Envoy was removed: {out[0].name!r} made essential"]


def green_task_definition(
    blue: TaskDefinition, containers: list[ContainerDefinition], family_suffix: str
) -> tuple[TaskDefinition, list[str]]:
    """Blue's task definition with green's containers, no proxy and no read-only keys, in a new family."""
    data = blue.model_dump(exclude_none=True)
    for key in READ_ONLY_TASK_KEYS:
        data.pop(key, None)
    data.pop("proxyConfiguration", None)
    data["family"] = blue.family + family_suffix
    data["containerDefinitions"] = [c.model_dump(exclude_none=True) for c in containers]
    green = TaskDefinition.model_validate(data)
    notes = []
    if len(green.family) > 255:
        notes.append(f"green family {green.family!r} is longer than ECS's 255 characters")
    return green, notes


def container_port_for(td: TaskDefinition, port_name: str) -> tuple[str, int] | None:
    """The container and container port of the port mapping called ``port_name``."""
    for container in td.containerDefinitions:
        for mapping in container.portMappings:
            if mapping.name == port_name and mapping.containerPort is not None:
                return container.name, mapping.containerPort
    return None


def build_green_task_definition(
    blue: TaskDefinition, ports: list[ServedPort], family_suffix: str
) -> tuple[TaskDefinition, dict[int, str], list[str]]:
    """Green's task definition from blue's and the ports green serves: Envoy and its proxy removed,
    port mappings named, essential container kept. Returns it, each served port's mapping name, and
    notes. Planning and the provisioning activity (which re-reads blue's revision) both call it, so
    the two agree."""
    envoy = set(envoy_container_names(blue))
    app_containers = [strip_container(c, envoy) for c in blue.containerDefinitions if c.name not in envoy]
    containers, port_names, used = name_port_mappings(app_containers, ports)
    containers, added = add_missing_mappings(containers, ports, port_names, used)
    containers, essential = ensure_essential(containers)
    green_td, family = green_task_definition(blue, containers, family_suffix)
    return green_td, port_names, [*added, *essential, *family]
