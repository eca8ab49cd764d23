"""What discovery found of blue: its ECS services and, where the API answers, App Mesh."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import Field

from meshshift.migration.appmesh_snapshot import EmbeddedSnapshot
from meshshift.migration.contracts.base import ActivityDef, AwsContext, Payload
from meshshift.migration.contracts.ecs import (
    CapacityProviderItem,
    LoadBalancerAttachment,
    NetworkConfig,
    TaskDefinition,
)
from meshshift.migration.edge.registry import RegisteredEdgeFacts
from meshshift.migration.spec import MigrationSpec


class AppMeshListener(Payload):
    port: int
    protocol: str  # http | http2 | grpc | tcp
    timeout_seconds: int | None = None
    idle_timeout_seconds: int | None = None
    tls_mode: str | None = None  # STRICT | PERMISSIVE | DISABLED
    has_outlier_detection: bool = False
    has_connection_pool: bool = False
    tls_certificate: str | None = Field(default=None, description="acm | file | sds: where the listener's cert is")
    tls_validation: str | None = Field(
        default=None, description="acm | file | sds: trust for client certificates (listener validation = mTLS)"
    )
    connection_pool: dict[str, int] = Field(default_factory=dict, description="e.g. maxConnections: 100")
    outlier_detection: dict[str, int] = Field(
        default_factory=dict, description="maxServerErrors, maxEjectionPercent, intervalSeconds, ..."
    )
    health_check: str | None = Field(default=None, description="Envoy's active health check, e.g. 'http /ping'")


class AppMeshClientPolicy(Payload):
    """TLS a client (virtual node or gateway) uses towards its backends."""

    scope: str = Field(description="'backendDefaults', or the virtual service it applies to")
    enforce: bool = True
    ports: list[int] = Field(default_factory=list)
    certificate: str | None = Field(default=None, description="file | sds: a client certificate is presented (mTLS)")
    validation: str | None = Field(default=None, description="acm | file | sds: trust used to check the server")


class AppMeshVirtualNode(Payload):
    name: str
    listeners: list[AppMeshListener] = Field(default_factory=list)
    cloud_map_namespace: str | None = None
    cloud_map_service: str | None = None
    dns_hostname: str | None = None
    backends: list[str] = Field(default_factory=list, description="virtual service names")
    access_log_path: str | None = None
    client_tls_enforced: bool = False
    client_policies: list[AppMeshClientPolicy] = Field(default_factory=list)
    access_log_format: str | None = Field(default=None, description="TEXT | JSON when the access log sets a format")


class AppMeshVirtualService(Payload):
    name: str  # the hostname clients use
    provider_node: str | None = None
    provider_router: str | None = None


class AppMeshRouteTarget(Payload):
    virtual_node: str
    weight: int
    port: int | None = None


class AppMeshMatch(Payload):
    """What a route or gateway route matches, as written in App Mesh (all empty = every request)."""

    prefix: str | None = None
    path: str | None = Field(default=None, description="'exact /a' or 'regex ^/a'")
    method: str | None = None
    scheme: str | None = None
    hostname: str | None = Field(default=None, description="gateway routes: 'exact a.example.com' or 'suffix ...'")
    headers: list[str] = Field(default_factory=list, description="e.g. 'x-version exact 2', '!x-canary present'")
    query_parameters: list[str] = Field(default_factory=list)
    port: int | None = None
    service_name: str | None = Field(default=None, description="gRPC")
    method_name: str | None = Field(default=None, description="gRPC")
    metadata: list[str] = Field(default_factory=list, description="gRPC")


class AppMeshRetryPolicy(Payload):
    max_retries: int = 0
    per_retry_timeout_seconds: float | None = None
    events: list[str] = Field(default_factory=list, description="http, tcp and gRPC retry events")


class AppMeshRoute(Payload):
    router: str
    name: str
    protocol: str
    targets: list[AppMeshRouteTarget] = Field(default_factory=list)
    timeout_seconds: int | None = Field(default=None, description="per-request timeout")
    has_retry_policy: bool = False
    match: AppMeshMatch | None = Field(default=None, description="None: not read (treated as every request)")
    priority: int | None = None
    retry_policy: AppMeshRetryPolicy | None = None
    idle_timeout_seconds: int | None = None


class AppMeshVirtualRouter(Payload):
    name: str
    listeners: list[AppMeshListener] = Field(default_factory=list)


class AppMeshGatewayRoute(Payload):
    name: str
    protocol: str
    match: AppMeshMatch = Field(default_factory=AppMeshMatch)
    target_virtual_service: str | None = None
    target_port: int | None = None
    rewrite: str | None = Field(default=None, description="how the request is rewritten before it is forwarded")
    priority: int | None = None


class AppMeshGateway(Payload):
    name: str
    routes: list[str] = Field(default_factory=list)
    listeners: list[AppMeshListener] = Field(default_factory=list)
    client_policies: list[AppMeshClientPolicy] = Field(default_factory=list)
    gateway_routes: list[AppMeshGatewayRoute] = Field(default_factory=list)
    access_log_path: str | None = None


class AppMeshInventory(Payload):
    mesh_name: str
    mesh_owner: str | None = None
    shared_from_other_account: bool = False
    virtual_nodes: list[AppMeshVirtualNode] = Field(default_factory=list)
    virtual_services: list[AppMeshVirtualService] = Field(default_factory=list)
    virtual_routers: list[AppMeshVirtualRouter] = Field(default_factory=list)
    routes: list[AppMeshRoute] = Field(default_factory=list)
    virtual_gateways: list[AppMeshGateway] = Field(default_factory=list)
    egress_filter: str | None = Field(default=None, description="ALLOW_ALL | DROP_ALL")


class CloudMapRegistration(Payload):
    """A Cloud Map service the ECS service registers its tasks in: clients find them at ``service.namespace``."""

    registry_arn: str
    service: str | None = None
    namespace: str | None = None
    # Added for discovery without App Mesh (issue 18): where the port clients use can be read.
    port: int | None = Field(default=None, description="ECS serviceRegistries port (SRV records)")
    container_name: str | None = Field(default=None, description="ECS serviceRegistries containerName")
    container_port: int | None = Field(default=None, description="ECS serviceRegistries containerPort")
    dns_records: list[str] = Field(default_factory=list, description="Cloud Map DNS record types, e.g. A, SRV")
    instance_ports: list[int] = Field(
        default_factory=list, description="AWS_INSTANCE_PORT of the registered instances (sorted, once each)"
    )

    @property
    def dns_name(self) -> str | None:
        return f"{self.service}.{self.namespace}" if self.service and self.namespace else None


class AppMeshStatus(StrEnum):
    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"  # the API did not answer (end of support): fell back to task definitions
    NOT_CONFIGURED = "not_configured"  # the spec names no mesh
    SNAPSHOT = "snapshot"  # the API did not answer; the inventory comes from blue.appmesh_snapshot


class FactSource(StrEnum):
    """Where a discovered or planned fact comes from, most trusted first (issue 18)."""

    SPEC = "spec"  # green.services.<name> in the spec: wins over every discovery source
    APP_MESH = "app_mesh"  # the live App Mesh API
    SNAPSHOT = "snapshot"  # an App Mesh snapshot (meshshift snapshot appmesh)
    CLOUD_MAP = "cloud_map"  # Cloud Map, through the ECS serviceRegistries
    TASK_DEFINITION = "task_definition"  # envoy APPMESH_* variables, port mappings, container environment


class BackendCall(Payload):
    """A host and port a blue client calls, as its container environment names it."""

    client: str = Field(description="Blue ECS service that makes the call")
    host: str = Field(description="DNS name called, e.g. api.acme.local")
    port: int | None = Field(description="Port called (from the URL, else its scheme's default; None: not said)")
    source: FactSource
    evidence: str = Field(description="e.g. \"container 'app' environment API_URL=http://api.acme.local:9090\"")


class InferredAlias(Payload):
    """A name and port clients reach a blue service by, inferred without App Mesh data."""

    blue_service: str
    dns_name: str
    port: int = Field(description="Port clients call")
    container_port: int | None = Field(default=None, description="Port the service's container serves it on")
    source: FactSource
    evidence: str


class BlueService(Payload):
    name: str
    arn: str
    cluster: str
    desired_count: int
    running_count: int
    launch_type: str | None = None
    capacity_provider_strategy: list[CapacityProviderItem] = Field(default_factory=list)
    platform_version: str | None = None
    task_definition_arn: str
    task_definition: TaskDefinition
    load_balancers: list[LoadBalancerAttachment] = Field(default_factory=list)
    network: NetworkConfig | None = None
    virtual_node_name: str | None = Field(default=None, description="From APPMESH_RESOURCE_ARN, if any")
    cloud_map: list[CloudMapRegistration] = Field(
        default_factory=list, description="Where ECS registers the tasks (serviceRegistries), when read"
    )


class DiscoverInput(Payload):
    aws: AwsContext
    spec: MigrationSpec
    mesh_in_pages: bool = Field(
        default=False,
        description="discover_blue_mesh reads the mesh alone and answers a cursor for discover_blue_mesh_page",
    )


class BlueDiscovery(Payload):
    services: list[BlueService]
    async_workers: list[BlueService] = Field(default_factory=list)
    appmesh_status: AppMeshStatus
    appmesh: AppMeshInventory | None = None
    warnings: list[str] = Field(default_factory=list)
    # Empty in histories recorded before discovery read the edge: their plan skips the checks that need it.
    edge_facts: list[RegisteredEdgeFacts] = Field(
        default_factory=list,
        description="what each edge shifter read of its resource (inspect), for the plan's edge preflight",
    )
    # Issue 18 (App Mesh end of support): what Cloud Map and the task definitions say, with evidence.
    backend_calls: list[BackendCall] = Field(
        default_factory=list, description="Hosts blue's clients call, named in their container environment"
    )
    inferred_aliases: list[InferredAlias] = Field(
        default_factory=list, description="Client aliases inferred without App Mesh data (Cloud Map, task definitions)"
    )
    namespaces: list[str] = Field(default_factory=list, description="Cloud Map namespaces blue's services register in")


DISCOVER_BLUE = ActivityDef("discover_blue", DiscoverInput, BlueDiscovery, start_to_close=timedelta(minutes=15))


# --- Discovery in pages (issue 22) -------------------------------------------------------------
# One discover_blue result held every blue task definition: 836 KB at 500 services, over
# Temporal's 2 MB blob limit at about 1,200. Discovery is now one call for what spans the
# application (App Mesh, the edge) and one call per page of services, each page bounded in bytes.


class BlueServiceRef(Payload):
    """One blue ECS service to discover: a service of ``blue.services`` or an async worker's blue side."""

    cluster: str
    name: str
    async_worker: bool = False


class MeshKind(StrEnum):
    """App Mesh's resources in the order a mesh is read (a router with its routes, a gateway with its)."""

    VIRTUAL_NODES = "virtual_nodes"
    VIRTUAL_SERVICES = "virtual_services"
    VIRTUAL_ROUTERS = "virtual_routers"
    VIRTUAL_GATEWAYS = "virtual_gateways"


class MeshSource(StrEnum):
    API = "api"
    SNAPSHOT = "snapshot"


class MeshCursor(Payload):
    """Where reading a mesh goes on: the list being read, App Mesh's nextToken for the list page
    that holds the next resource, and how many of that page's resources were read already."""

    source: MeshSource
    kind: MeshKind = MeshKind.VIRTUAL_NODES
    token: str | None = None
    skip: int = Field(default=0, ge=0)


class BlueMeshDiscovery(Payload):
    """What discovery reads once per application: App Mesh (live or snapshot) and the edge."""

    appmesh_status: AppMeshStatus
    appmesh: AppMeshInventory | None = None
    warnings: list[str] = Field(default_factory=list)
    edge_facts: list[RegisteredEdgeFacts] = Field(default_factory=list)
    # Issue 22: a mesh's inventory grows about 1.3 KB per virtual node, so it comes in pages.
    appmesh_next: MeshCursor | None = Field(
        default=None,
        description="With mesh_in_pages: 'appmesh' holds the mesh alone; its resources come from "
        "discover_blue_mesh_page from here on",
    )


class DiscoverMeshPageInput(Payload):
    """Not the spec: its service list and snapshot would be in every page's input."""

    aws: AwsContext
    mesh: str = Field(description="blue.mesh")
    mesh_owner: str | None = Field(default=None, description="blue.mesh_owner")
    snapshot: EmbeddedSnapshot | None = Field(
        default=None, description="blue.appmesh_snapshot, given only to pages read from it"
    )
    snapshot_given: bool = Field(
        default=False, description="The spec has a snapshot: an API that stops answering goes on from its start"
    )
    cursor: MeshCursor
    max_bytes: int = Field(
        default=192 * 1024,
        description="Stop adding resources once the page's reach this size; the rest come from 'next'",
    )


class AppMeshPage(Payload):
    """Resources of a mesh from a cursor on: the lists of an AppMeshInventory, to be appended."""

    resources: AppMeshInventory
    next: MeshCursor | None = Field(default=None, description="None: the mesh is read")
    problem: str | None = Field(
        default=None,
        description="The App Mesh API stopped answering, or the snapshot could not be read: the pages read "
        "before are dropped, and 'next' is the snapshot's start, or None (no App Mesh data)",
    )
    warnings: list[str] = Field(default_factory=list)


class DiscoverServicesInput(Payload):
    aws: AwsContext
    services: list[BlueServiceRef] = Field(description="The page, in the spec's order")
    mesh: str | None = Field(default=None, description="blue.mesh: a service without an envoy naming a node is noted")
    every_registration: bool = Field(
        default=False,
        description="Read every service's Cloud Map registration (no App Mesh data), not only those without Envoy",
    )
    max_bytes: int = Field(
        default=192 * 1024,
        description="Stop adding services once the page's services reach this size; the rest come back in 'unread'",
    )


class BlueServicesPage(Payload):
    services: list[BlueService] = Field(default_factory=list, description="Of blue.services, in the page's order")
    async_workers: list[BlueService] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    unread: list[BlueServiceRef] = Field(
        default_factory=list, description="Refs not read because the page reached max_bytes: the next page's start"
    )


DISCOVER_BLUE_MESH = ActivityDef(
    "discover_blue_mesh", DiscoverInput, BlueMeshDiscovery, start_to_close=timedelta(minutes=15)
)
DISCOVER_BLUE_SERVICES = ActivityDef(
    "discover_blue_services", DiscoverServicesInput, BlueServicesPage, start_to_close=timedelta(minutes=15)
)
DISCOVER_BLUE_MESH_PAGE = ActivityDef(
    "discover_blue_mesh_page", DiscoverMeshPageInput, AppMeshPage, start_to_close=timedelta(minutes=15)
)
