"""Typed payloads between the workflow and the activities, and the activities' stable names.

The workflow calls activities by these names (it never imports activity modules, which import
boto3), and tests register fakes under the same names. One model in, one model out, always.
AWS-shaped models (task definitions, Service Connect config) use AWS's camelCase keys so they
can be passed to boto3 as they are; they keep unknown keys (``extra="allow"``) so nothing a
user had in blue is silently dropped on the way to green.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from meshshift.migration.edge import registry as edge_registry
from meshshift.migration.edge.registry import EdgeSpec
from meshshift.migration.spec import (
    AnalysisSpec,
    HealthSpec,
    MigrationSpec,
    ProvisionMode,
    RateLimits,
)

# --- activity names (stable: renaming one breaks running workflows) ----------------------------

DISCOVER_BLUE = "discover_blue"
ENSURE_NAMESPACE = "ensure_namespace"
PROVISION_GREEN_SERVICE = "provision_green_service"
WAIT_SERVICES_STABLE = "wait_services_stable"
CHECK_TARGET_HEALTH = "check_target_health"
DEEP_HEALTH_CHECK = "deep_health_check"
SET_EDGE_WEIGHTS = "set_edge_weights"
READ_EDGE_WEIGHTS = "read_edge_weights"
COLLECT_METRICS = "collect_metrics"
POLL_ALARMS = "poll_alarms"
SCALE_SERVICE = "scale_service"
DELETE_ECS_SERVICES = "delete_ecs_services"
DELETE_TARGET_GROUPS = "delete_target_groups"
DELETE_WEIGHTED_RECORD = "delete_weighted_record"
DELETE_APP_MESH = "delete_app_mesh"
DEREGISTER_TASK_DEFINITIONS = "deregister_task_definitions"
# Temporal metadata (not AWS): which custom search attributes the namespace has registered.
REGISTERED_SEARCH_ATTRIBUTES = "registered_search_attributes"


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AwsShaped(BaseModel):
    """AWS API shapes: camelCase keys, unknown keys preserved."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AwsContext(Payload):
    """Where an activity's AWS calls go. Credentials always come from boto3's standard chain."""

    region: str | None = None
    rate_limits: RateLimits = Field(default_factory=RateLimits)


# --- ECS shapes ---------------------------------------------------------------------------------


class KeyValue(AwsShaped):
    name: str
    value: str


class PortMapping(AwsShaped):
    containerPort: int | None = None
    hostPort: int | None = None
    protocol: str | None = None
    name: str | None = None
    appProtocol: Literal["http", "http2", "grpc"] | None = None


class ContainerDependency(AwsShaped):
    containerName: str
    condition: str


class ContainerDefinition(AwsShaped):
    name: str
    image: str
    essential: bool | None = None
    portMappings: list[PortMapping] = Field(default_factory=list)
    environment: list[KeyValue] = Field(default_factory=list)
    dependsOn: list[ContainerDependency] = Field(default_factory=list)


class ProxyConfiguration(AwsShaped):
    type: str | None = None
    containerName: str
    properties: list[KeyValue] = Field(default_factory=list)


class TaskDefinition(AwsShaped):
    """The registerable part of a task definition (what ``register_task_definition`` takes)."""

    family: str
    containerDefinitions: list[ContainerDefinition]
    proxyConfiguration: ProxyConfiguration | None = None
    networkMode: str | None = None
    cpu: str | None = None
    memory: str | None = None
    taskRoleArn: str | None = None
    executionRoleArn: str | None = None
    requiresCompatibilities: list[str] | None = None


class ServiceConnectClientAlias(AwsShaped):
    port: int
    dnsName: str | None = None


class ServiceConnectTimeout(AwsShaped):
    idleTimeoutSeconds: int | None = None
    perRequestTimeoutSeconds: int | None = None


class ServiceConnectService(AwsShaped):
    portName: str
    discoveryName: str | None = None
    clientAliases: list[ServiceConnectClientAlias] = Field(default_factory=list, max_length=1)
    timeout: ServiceConnectTimeout | None = None
    tls: dict[str, Any] | None = None


class ServiceConnectConfiguration(AwsShaped):
    enabled: bool = True
    namespace: str | None = None
    services: list[ServiceConnectService] = Field(default_factory=list)
    logConfiguration: dict[str, Any] | None = None
    accessLogConfiguration: dict[str, Any] | None = None


class LoadBalancerAttachment(Payload):
    target_group_arn: str
    container_name: str
    container_port: int


class NetworkConfig(Payload):
    subnets: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)
    assign_public_ip: bool = False


class CapacityProviderItem(Payload):
    capacity_provider: str
    weight: int = 0
    base: int = 0


# --- discovery ----------------------------------------------------------------------------------


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

    @property
    def dns_name(self) -> str | None:
        return f"{self.service}.{self.namespace}" if self.service and self.namespace else None


class AppMeshStatus(StrEnum):
    AVAILABLE = "available"
    UNAVAILABLE = "unavailable"  # the API did not answer (end of support): fell back to task definitions
    NOT_CONFIGURED = "not_configured"  # the spec names no mesh


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


class BlueDiscovery(Payload):
    services: list[BlueService]
    async_workers: list[BlueService] = Field(default_factory=list)
    appmesh_status: AppMeshStatus
    appmesh: AppMeshInventory | None = None
    warnings: list[str] = Field(default_factory=list)


# --- plan (computed purely from spec + discovery) ----------------------------------------------


class GreenServicePlan(Payload):
    blue_service: str
    green_service: str
    cluster: str
    desired_count: int
    task_definition: TaskDefinition
    service_connect: ServiceConnectConfiguration
    load_balancers: list[LoadBalancerAttachment] = Field(default_factory=list)
    network: NetworkConfig | None = None
    launch_type: str | None = None
    capacity_provider_strategy: list[CapacityProviderItem] = Field(default_factory=list)
    platform_version: str | None = None
    is_async_worker: bool = False


# The name of a registered edge mechanism (migration.edge.registry).
MechanismName = Annotated[str, AfterValidator(edge_registry.check_name)]


class ShifterWeights(Payload):
    """Weights in the mechanism's own units (each mechanism's module under migration/edge/ says
    which); ``promoted`` means the mechanism moved all traffic at once (100% green)."""

    shifter_id: str
    mechanism: MechanismName
    blue: float
    green: float
    promoted: bool = False


class PlannedStep(Payload):
    index: int
    percent: int
    bake: timedelta
    approval_required: bool
    weights: list[ShifterWeights]


class UntranslatableItem(Payload):
    """One App Mesh construct that green does not get as blue had it, and what to do instead."""

    service: str | None = Field(description="Blue ECS service it concerns; None = the mesh as a whole")
    app_mesh_construct: str = Field(description="e.g. 'retry policy', 'route match', 'virtual gateway', 'mTLS'")
    resource: str = Field(description="The App Mesh resource, e.g. 'route color-router/color2'")
    detail: str
    next_step: str

    def text(self) -> str:
        """The one-line form kept in ``MigrationPlan.untranslatable``."""
        prefix = f"service {self.service!r}: " if self.service else ""
        return f"{prefix}{self.app_mesh_construct} ({self.resource}): {self.detail}. Next: {self.next_step}"


class MigrationPlan(Payload):
    services: list[GreenServicePlan]
    async_workers: list[GreenServicePlan] = Field(default_factory=list)
    steps: list[PlannedStep]
    rollback_weights: list[ShifterWeights]
    warnings: list[str] = Field(default_factory=list)
    untranslatable: list[str] = Field(default_factory=list)
    untranslatable_items: list[UntranslatableItem] = Field(
        default_factory=list, description="The same findings as untranslatable, structured, each with its next step"
    )
    retired_services: list[str] = Field(
        default_factory=list, description="Blue services that get no green copy (virtual gateways, blue.retire)"
    )


# --- provisioning -------------------------------------------------------------------------------


class EnsureNamespaceInput(Payload):
    aws: AwsContext
    name: str


class NamespaceResult(Payload):
    name: str
    id: str
    arn: str
    created: bool


class ProvisionServiceInput(Payload):
    aws: AwsContext
    plan: GreenServicePlan
    namespace_arn: str
    mode: ProvisionMode
    initial_desired_count: int | None = Field(default=None, description="Override (async workers start at 0)")


class ProvisionedService(Payload):
    service_name: str
    service_arn: str
    task_definition_arn: str
    created: bool
    adopted: bool
    mismatches: list[str] = Field(default_factory=list)


# --- health -------------------------------------------------------------------------------------


class ServicesStableInput(Payload):
    aws: AwsContext
    cluster: str
    services: list[str]
    timeout: timedelta
    poll_interval: timedelta = timedelta(seconds=10)


class ServiceState(Payload):
    name: str
    desired_count: int
    running_count: int
    pending_count: int
    deployments: int
    rollout_state: str | None
    stable: bool


class ServicesStableResult(Payload):
    ok: bool
    services: list[ServiceState]


class TargetHealthInput(Payload):
    aws: AwsContext
    target_group_arns: list[str]
    timeout: timedelta
    poll_interval: timedelta = timedelta(seconds=10)


class TargetGroupHealth(Payload):
    target_group_arn: str
    healthy: int
    unhealthy: int
    other: int
    ok: bool


class TargetHealthResult(Payload):
    ok: bool
    groups: list[TargetGroupHealth]


class DeepHealthInput(Payload):
    health: HealthSpec


class UrlCheck(Payload):
    url: str
    ok: bool
    consecutive_successes: int
    attempts: int
    last_status: int | None = None
    last_error: str | None = None
    dependencies: dict[str, str] = Field(default_factory=dict)


class DeepHealthResult(Payload):
    ok: bool
    checks: list[UrlCheck]


# --- edge ---------------------------------------------------------------------------------------


class ShifterTarget(Payload):
    edge: EdgeSpec
    weights: ShifterWeights


class SetEdgeWeightsInput(Payload):
    aws: AwsContext
    targets: list[ShifterTarget]
    wait_for_sync: bool = True


class ReadEdgeWeightsInput(Payload):
    aws: AwsContext
    edges: list[EdgeSpec]


class ShifterReading(Payload):
    shifter_id: str
    mechanism: MechanismName
    blue: float
    green: float
    promoted: bool = False
    green_percent: float
    in_sync: bool = True
    detail: str = ""


class EdgeWeightsResult(Payload):
    readings: list[ShifterReading]


# --- metrics and alarms -------------------------------------------------------------------------


class AlbMetricSource(Payload):
    load_balancer: str  # the LoadBalancer dimension: app/<name>/<id>
    blue_target_group: str  # the TargetGroup dimension: targetgroup/<name>/<id>
    green_target_group: str


class ServiceConnectMetricSource(Payload):
    cluster: str
    blue_service: str
    green_service: str
    discovery_name: str | None = None


class MetricSources(Payload):
    alb: list[AlbMetricSource] = Field(default_factory=list)
    service_connect: list[ServiceConnectMetricSource] = Field(default_factory=list)


class CollectMetricsInput(Payload):
    aws: AwsContext
    sources: MetricSources
    window: timedelta
    end: datetime | None = Field(default=None, description="Window end; default now")


class TrafficFigures(Payload):
    requests: float = 0.0
    errors_5xx: float = 0.0
    p99_ms: float | None = None
    active_connections: float | None = None


class MetricsSnapshot(Payload):
    window_start: datetime
    window_end: datetime
    green: TrafficFigures
    blue: TrafficFigures
    notes: list[str] = Field(
        default_factory=list, description="What could not be measured or split blue/green, and why"
    )


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class AnalysisVerdict(Payload):
    verdict: Verdict
    reasons: list[str]
    snapshot: MetricsSnapshot
    thresholds: AnalysisSpec


class PollAlarmsInput(Payload):
    aws: AwsContext
    alarm_names: list[str]


class AlarmState(Payload):
    name: str
    state: str  # OK | ALARM | INSUFFICIENT_DATA
    reason: str | None = None
    updated: datetime | None = None


class PollAlarmsResult(Payload):
    alarms: list[AlarmState]
    missing: list[str] = Field(default_factory=list)

    @property
    def firing(self) -> list[AlarmState]:
        return [a for a in self.alarms if a.state == "ALARM"]


# --- async workers ------------------------------------------------------------------------------


class ScaleServiceInput(Payload):
    aws: AwsContext
    cluster: str
    service: str
    desired_count: int = Field(ge=0)
    wait_stable: bool = True
    timeout: timedelta = timedelta(minutes=15)
    poll_interval: timedelta = timedelta(seconds=10)


class ScaleServiceResult(Payload):
    service: str
    desired_count: int
    running_count: int
    pending_count: int
    stable: bool
    previous_desired_count: int


# --- decommission -------------------------------------------------------------------------------


class DeleteServicesInput(Payload):
    aws: AwsContext
    cluster: str
    services: list[str]


class DeleteTargetGroupsInput(Payload):
    aws: AwsContext
    target_group_arns: list[str]


class DeleteWeightedRecordInput(Payload):
    aws: AwsContext
    edge: EdgeSpec  # one whose mechanism lists the record among its blue resources
    set_identifier: str


class DeleteAppMeshInput(Payload):
    aws: AwsContext
    mesh: str
    mesh_owner: str | None = None


class DeregisterTaskDefinitionsInput(Payload):
    aws: AwsContext
    task_definition_arns: list[str]


class DeletionResult(Payload):
    deleted: list[str] = Field(default_factory=list)
    already_absent: list[str] = Field(default_factory=list)
    skipped: bool = False
    warnings: list[str] = Field(default_factory=list)


# --- Temporal metadata --------------------------------------------------------------------------


class RegisteredSearchAttributesInput(Payload):
    """Empty on purpose: the activity asks about the namespace of the workflow that called it."""


class RegisteredSearchAttributes(Payload):
    names: list[str] = Field(default_factory=list, description="Custom search attribute names on the namespace")
