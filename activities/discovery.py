"""Discovery of blue: its ECS services and task definitions, and App Mesh while its API answers.

Everything here only reads. App Mesh reached end of support on 2026-09-30, so its API is optional
input: when it does not answer, discovery still succeeds from the ECS task definitions (the envoy
sidecar, ``APPMESH_RESOURCE_ARN``, ``proxyConfiguration``) and says so in a warning that ends up
in the plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from meshshift.activities.aws import AwsClients, aws_errors, error_code, is_transient
from meshshift.activities.definition import implements
from meshshift.activities.edge.inspect import inspect_edges
from meshshift.migration import paging
from meshshift.migration.appmesh_snapshot import AppMeshSnapshot
from meshshift.migration.contracts import (
    DISCOVER_BLUE,
    DISCOVER_BLUE_MESH,
    DISCOVER_BLUE_MESH_PAGE,
    DISCOVER_BLUE_SERVICES,
    AppMeshClientPolicy,
    AppMeshGateway,
    AppMeshGatewayRoute,
    AppMeshInventory,
    AppMeshListener,
    AppMeshMatch,
    AppMeshPage,
    AppMeshRetryPolicy,
    AppMeshRoute,
    AppMeshRouteTarget,
    AppMeshStatus,
    AppMeshVirtualNode,
    AppMeshVirtualRouter,
    AppMeshVirtualService,
    AwsContext,
    BlueDiscovery,
    BlueMeshDiscovery,
    BlueService,
    BlueServiceRef,
    BlueServicesPage,
    CapacityProviderItem,
    CloudMapRegistration,
    DiscoverInput,
    DiscoverMeshPageInput,
    DiscoverServicesInput,
    LoadBalancerAttachment,
    MeshCursor,
    MeshKind,
    MeshSource,
    NetworkConfig,
    TaskDefinition,
)
from meshshift.migration.spec import MigrationSpec
from meshshift.migration.translate import READ_ONLY_TASK_KEYS

if TYPE_CHECKING:
    from mypy_boto3_appmesh import AppMeshClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_servicediscovery import ServiceDiscoveryClient

# describe_services accepts at most 10 services per call.
DESCRIBE_SERVICES_BATCH = 10

# Environment variables through which the envoy sidecar learns its virtual node.
VIRTUAL_NODE_ENV = ("APPMESH_RESOURCE_ARN", "APPMESH_VIRTUAL_NODE_NAME")

_Read = TypeVar("_Read")

# Each kind of mesh resource: its list operation, the answer's key and the name's key.
_MESH_LISTS: dict[MeshKind, tuple[str, str, str]] = {
    MeshKind.VIRTUAL_NODES: ("list_virtual_nodes", "virtualNodes", "virtualNodeName"),
    MeshKind.VIRTUAL_SERVICES: ("list_virtual_services", "virtualServices", "virtualServiceName"),
    MeshKind.VIRTUAL_ROUTERS: ("list_virtual_routers", "virtualRouters", "virtualRouterName"),
    MeshKind.VIRTUAL_GATEWAYS: ("list_virtual_gateways", "virtualGateways", "virtualGatewayName"),
}

# App Mesh's list operations answer at most 100 resources a call.
APPMESH_LIST_LIMIT = 100

# App Mesh errors that mean "try again", not "the API is gone": botocore already retried them.
_APPMESH_RETRYABLE = frozenset({"TooManyRequestsException", "LimitExceededException", "Throttling"})


def registerable_task_definition(described: dict[str, Any], tags: list[dict[str, str]] | None = None) -> TaskDefinition:
    """The part of a described task definition that ``register_task_definition`` accepts.

    Read-only attributes (ARN, revision, status, requiresAttributes, compatibilities, register and
    deregister stamps) would be refused on registration, so they are dropped here once.
    """
    body = {key: value for key, value in described.items() if key not in READ_ONLY_TASK_KEYS}
    if tags:
        body["tags"] = tags
    return TaskDefinition.model_validate(body)


def virtual_node_from_task_definition(task_definition: TaskDefinition) -> str | None:
    """The virtual node an envoy sidecar serves, from its ``APPMESH_*`` environment."""
    for container in task_definition.containerDefinitions:
        for env in container.environment:
            if env.name in VIRTUAL_NODE_ENV and env.value:
                # arn:aws:appmesh:<region>:<account>:mesh/<mesh>/virtualNode/<name>, or mesh/<mesh>/virtualNode/<name>
                marker = "/virtualNode/"
                if marker in env.value:
                    return env.value.split(marker, 1)[1]
                if "/virtualGateway/" in env.value:
                    return None  # a gateway's Envoy: the plan reports the gateway, it is no node
                return env.value.rsplit("/", 1)[-1]
    return None


def _runs_a_gateway(task_definition: TaskDefinition) -> bool:
    """A virtual gateway's Envoy names its gateway: the plan reports it, it is no service without a node."""
    return any(
        env.name in VIRTUAL_NODE_ENV and "/virtualGateway/" in env.value
        for container in task_definition.containerDefinitions
        for env in container.environment
    )


class DiscoveryActivities:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    @implements(DISCOVER_BLUE)
    def discover_blue(self, params: DiscoverInput) -> BlueDiscovery:
        """Everything at once: the CLI's ``meshshift plan``, and workflows started before paged discovery."""
        mesh = self._mesh(params)
        page = self._page(
            params.aws,
            paging.blue_refs(params.spec),
            mesh=params.spec.blue.mesh,
            every=paging.without_mesh_data(mesh.appmesh_status),
            max_bytes=None,
        )
        return paging.assemble(mesh, [page])

    @implements(DISCOVER_BLUE_MESH)
    def discover_blue_mesh(self, params: DiscoverInput) -> BlueMeshDiscovery:
        return self._mesh(params)

    @implements(DISCOVER_BLUE_MESH_PAGE)
    def discover_blue_mesh_page(self, params: DiscoverMeshPageInput) -> AppMeshPage:
        """The mesh's resources from the cursor on, up to the page's byte budget. If the App Mesh API
        stops answering part way, the page says so and points at the snapshot's start (if any)."""
        cursor = params.cursor
        if cursor.source is MeshSource.SNAPSHOT:
            return self._snapshot_page(params)
        resources = AppMeshInventory(mesh_name=params.mesh)

        def read(reader: _MeshReader) -> MeshCursor | None:
            return reader.read_page(cursor, resources, params.max_bytes)

        after, problem = self._app_mesh(params.aws, params.mesh, params.mesh_owner, read)
        if not problem:
            return AppMeshPage(resources=resources, next=after)
        if not params.snapshot_given:
            return AppMeshPage(resources=resources, problem=problem, warnings=[_no_app_mesh_data(params.mesh, problem)])
        return AppMeshPage(
            resources=resources,
            next=MeshCursor(source=MeshSource.SNAPSHOT),
            problem=problem,
            warnings=[
                f"App Mesh API stopped answering for mesh {params.mesh!r} part way through discovery ({problem}); "
                "discovery reads blue.appmesh_snapshot from its start instead: anything changed in the mesh since "
                "it was taken is not in the plan"
            ],
        )

    @staticmethod
    def _snapshot_page(params: DiscoverMeshPageInput) -> AppMeshPage:
        snapshot = params.snapshot
        try:
            if snapshot is None:
                raise TypeError("no blue.appmesh_snapshot was given to a page read from it")
            reader = _MeshReader(SnapshotAppMesh(snapshot), params.mesh, snapshot.mesh_owner)
            resources = reader.header()
            after = reader.read_page(params.cursor, resources, params.max_bytes)
        except (KeyError, TypeError, AttributeError) as err:
            problem = _unreadable_snapshot(err)
            return AppMeshPage(
                resources=AppMeshInventory(mesh_name=params.mesh),
                problem=problem,
                warnings=[problem, _no_app_mesh_data(params.mesh, "and its snapshot could not be read")],
            )
        return AppMeshPage(resources=resources, next=after)

    @implements(DISCOVER_BLUE_SERVICES)
    def discover_blue_services(self, params: DiscoverServicesInput) -> BlueServicesPage:
        return self._page(
            params.aws,
            params.services,
            mesh=params.mesh,
            every=params.every_registration,
            max_bytes=params.max_bytes,
        )

    def _mesh(self, params: DiscoverInput) -> BlueMeshDiscovery:
        """App Mesh (live, else the spec's snapshot) and the edge: what discovery reads once.
        ``mesh_in_pages``: the mesh alone, and a cursor where discover_blue_mesh_page goes on."""
        spec = params.spec
        warnings: list[str] = []
        status = AppMeshStatus.NOT_CONFIGURED
        inventory: AppMeshInventory | None = None
        after: MeshCursor | None = None
        read: Callable[[_MeshReader], AppMeshInventory] = (
            _MeshReader.header if params.mesh_in_pages else _MeshReader.read
        )
        if spec.blue.mesh:
            inventory, problem = self._app_mesh(params.aws, spec.blue.mesh, spec.blue.mesh_owner, read)
            if inventory is not None:
                status = AppMeshStatus.AVAILABLE
            else:
                status, inventory = self._fallback(spec, problem, warnings, read)
            if params.mesh_in_pages and inventory is not None:
                source = MeshSource.SNAPSHOT if status is AppMeshStatus.SNAPSHOT else MeshSource.API
                after = MeshCursor(source=source)
        return BlueMeshDiscovery(
            appmesh_status=status,
            appmesh=inventory,
            warnings=warnings,
            edge_facts=inspect_edges(self._clients, params.aws, spec.edge, activity.heartbeat),
            appmesh_next=after,
        )

    def _fallback(
        self, spec: MigrationSpec, problem: str, warnings: list[str], read: Callable[[_MeshReader], AppMeshInventory]
    ) -> tuple[AppMeshStatus, AppMeshInventory | None]:
        """What stands in for the App Mesh API that did not answer: the spec's snapshot, else nothing."""
        mesh = spec.blue.mesh or ""
        inventory = self._from_snapshot(spec.blue.appmesh_snapshot, mesh, problem, warnings, read)
        if inventory is not None:
            return AppMeshStatus.SNAPSHOT, inventory
        warnings.append(_no_app_mesh_data(mesh, problem))
        return AppMeshStatus.UNAVAILABLE, None

    def _page(
        self, aws: AwsContext, refs: list[BlueServiceRef], *, mesh: str | None, every: bool, max_bytes: int | None
    ) -> BlueServicesPage:
        """The ECS services of ``refs`` with their task definitions and Cloud Map registrations.
        With ``max_bytes``, reading stops once the services read reach it; the rest are 'unread'."""
        ecs = self._clients.ecs(aws)
        warnings: list[str] = []
        task_definitions: dict[str, TaskDefinition] = {}
        read: list[tuple[BlueServiceRef, BlueService]] = []
        size = 0
        position = 0
        while position < len(refs):
            # One describe_services batch at a time, of one cluster, so the budget is checked often.
            chunk = [refs[position]]
            while (
                position + len(chunk) < len(refs)
                and len(chunk) < DESCRIBE_SERVICES_BATCH
                and refs[position + len(chunk)].cluster == chunk[0].cluster
            ):
                chunk.append(refs[position + len(chunk)])
            found = self._describe(ecs, chunk[0].cluster, [r.name for r in chunk], task_definitions, warnings)
            read.extend(zip(chunk, found, strict=True))
            position += len(chunk)
            size += sum(len(service.model_dump_json()) for service in found)
            if max_bytes is not None and size >= max_bytes:
                break
        services = [service for _, service in read]
        if mesh:
            for service in services:
                if service.virtual_node_name is None and not _runs_a_gateway(service.task_definition):
                    fallback = (
                        "the plan looks it up in App Mesh by its Cloud Map registration, else it is migrated as a "
                        "plain ECS service"
                        if service.cloud_map
                        else "it is migrated as a plain ECS service"
                    )
                    warnings.append(
                        f"Blue service {service.name!r} (cluster {service.cluster!r}) has no envoy sidecar naming an "
                        f"App Mesh virtual node (APPMESH_RESOURCE_ARN / APPMESH_VIRTUAL_NODE_NAME); {fallback}."
                    )
        self._read_registrations(aws, services, warnings, every=every)
        return BlueServicesPage(
            services=[service for ref, service in read if not ref.async_worker],
            async_workers=[service for ref, service in read if ref.async_worker],
            warnings=warnings,
            unread=list(refs[position:]),
        )

    # --- Cloud Map ------------------------------------------------------------------------------

    def _read_registrations(
        self, aws: AwsContext, services: list[BlueService], warnings: list[str], *, every: bool
    ) -> None:
        """Where services without Envoy register in Cloud Map: an App Mesh backend that runs no Envoy
        is found by that name, and green's copy must take it over (or green keeps calling blue).
        ``every``: without App Mesh data, every service's registration is read (issue 18)."""
        unmeshed = [s for s in services if (every or s.virtual_node_name is None) and s.cloud_map]
        if not unmeshed:
            return
        reader = _CloudMapReader(self._clients.servicediscovery(aws))
        for service in unmeshed:
            try:
                service.cloud_map = [reader.resolve(r) for r in service.cloud_map]
            except ClientError as err:
                if is_transient(err):
                    raise ApplicationError(
                        f"Cloud Map lookup for service {service.name!r}: transient error {error_code(err)}",
                        type=error_code(err),
                    ) from err
                warnings.append(
                    f"Blue service {service.name!r}: its Cloud Map registration could not be read "
                    f"({error_code(err)}); if other services call it by that name, give green's copy the client "
                    "alias by hand."
                )
            activity.heartbeat(f"cloud map registrations of {service.name}")

    # --- ECS ------------------------------------------------------------------------------------

    def _describe(
        self,
        ecs: ECSClient,
        cluster: str,
        names: list[str],
        task_definitions: dict[str, TaskDefinition],
        warnings: list[str],
    ) -> list[BlueService]:
        found: dict[str, Any] = {}
        for start in range(0, len(names), DESCRIBE_SERVICES_BATCH):
            batch = names[start : start + DESCRIBE_SERVICES_BATCH]
            with aws_errors(f"describe blue ECS services {batch} in cluster {cluster!r}"):
                answer = ecs.describe_services(cluster=cluster, services=batch)
            for service in answer.get("services", []):
                if service.get("status") == "ACTIVE":
                    found[service["serviceName"]] = service
            activity.heartbeat(f"described {start + len(batch)}/{len(names)} services in {cluster}")
        missing = [name for name in names if name not in found]
        if missing:
            raise ApplicationError(
                f"Blue ECS service(s) {missing} not found (or not ACTIVE) in cluster {cluster!r}. "
                "Next: fix blue.services / async_workers[].blue_service or blue.cluster in the spec "
                "(names are ECS service names, not task definition families).",
                type="BlueServiceNotFound",
                non_retryable=True,
            )
        result: list[BlueService] = []
        for name in names:
            service = found[name]
            arn = service["taskDefinition"]
            if arn not in task_definitions:
                task_definitions[arn] = self._task_definition(ecs, arn)
            result.append(self._blue_service(service, cluster, task_definitions[arn], warnings))
        return result

    def _task_definition(self, ecs: ECSClient, arn: str) -> TaskDefinition:
        with aws_errors(f"describe task definition {arn}"):
            answer = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        tags = [dict(tag) for tag in answer.get("tags", [])]
        return registerable_task_definition(dict(answer["taskDefinition"]), tags)  # type: ignore[arg-type]

    @staticmethod
    def _blue_service(
        service: dict[str, Any], cluster: str, task_definition: TaskDefinition, warnings: list[str]
    ) -> BlueService:
        name = service["serviceName"]
        load_balancers: list[LoadBalancerAttachment] = []
        for attachment in service.get("loadBalancers", []):
            if "targetGroupArn" not in attachment:
                warnings.append(
                    f"Blue service {name!r} is attached to classic load balancer "
                    f"{attachment.get('loadBalancerName')!r}; only ALB/NLB target groups are carried to green."
                )
                continue
            load_balancers.append(
                LoadBalancerAttachment(
                    target_group_arn=attachment["targetGroupArn"],
                    container_name=attachment["containerName"],
                    container_port=attachment["containerPort"],
                )
            )
        network: NetworkConfig | None = None
        vpc = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration")
        if vpc:
            network = NetworkConfig(
                subnets=list(vpc.get("subnets", [])),
                security_groups=list(vpc.get("securityGroups", [])),
                assign_public_ip=vpc.get("assignPublicIp") == "ENABLED",
            )
        strategy = [
            CapacityProviderItem(
                capacity_provider=item["capacityProvider"], weight=item.get("weight", 0), base=item.get("base", 0)
            )
            for item in service.get("capacityProviderStrategy") or []
        ]
        return BlueService(
            name=name,
            arn=service["serviceArn"],
            cluster=cluster,
            desired_count=service.get("desiredCount", 0),
            running_count=service.get("runningCount", 0),
            # ECS reports no launch type when a capacity provider strategy is in use.
            launch_type=None if strategy else service.get("launchType"),
            capacity_provider_strategy=strategy,
            platform_version=service.get("platformVersion"),
            task_definition_arn=service["taskDefinition"],
            task_definition=task_definition,
            load_balancers=load_balancers,
            network=network,
            virtual_node_name=virtual_node_from_task_definition(task_definition),
            cloud_map=[
                CloudMapRegistration(
                    registry_arn=r["registryArn"],
                    port=r.get("port"),
                    container_name=r.get("containerName"),
                    container_port=r.get("containerPort"),
                )
                for r in service.get("serviceRegistries") or []
                if r.get("registryArn")
            ],
        )

    # --- App Mesh -------------------------------------------------------------------------------

    @staticmethod
    def _from_snapshot(
        snapshot: AppMeshSnapshot | str | None,
        mesh: str,
        problem: str,
        warnings: list[str],
        read: Callable[[_MeshReader], AppMeshInventory],
    ) -> AppMeshInventory | None:
        """The inventory from the spec's snapshot, ranked after the live API (which did not answer)."""
        if snapshot is None:
            return None
        if isinstance(snapshot, str):
            warnings.append(
                f"blue.appmesh_snapshot is the file path {snapshot!r}, which the worker does not read: start the "
                "migration with `meshshift start` (or `meshshift plan`), which embeds the file's content in the spec"
            )
            return None
        try:
            inventory = read(_MeshReader(SnapshotAppMesh(snapshot), mesh, snapshot.mesh_owner))
        except (KeyError, TypeError, AttributeError) as err:
            warnings.append(_unreadable_snapshot(err))
            return None
        warnings.append(
            f"App Mesh API did not answer for mesh {mesh!r} ({problem}); discovery used blue.appmesh_snapshot "
            f"(format {snapshot.format_version}, taken {snapshot.taken_at or 'at an unknown time'}): anything changed "
            "in the mesh since then is not in the plan"
        )
        return inventory

    def _app_mesh(
        self, aws: AwsContext, mesh: str, owner: str | None, read: Callable[[_MeshReader], _Read]
    ) -> tuple[_Read | None, str]:
        """What ``read`` reads of the mesh, or (None, why) when the App Mesh API does not answer."""
        try:
            return read(_MeshReader(self._clients.appmesh(aws), mesh, owner)), ""
        except ClientError as err:
            code = error_code(err)
            status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in _APPMESH_RETRYABLE or (is_transient(err) and status < 500):
                # Throttled even after botocore's retries: let Temporal retry the activity later.
                raise ApplicationError(f"App Mesh discovery of mesh {mesh!r} throttled: {err}", type=code) from err
            message = err.response.get("Error", {}).get("Message", "")
            return None, f"{code or status}: {message}".strip()
        except BotoCoreError as err:
            # EndpointConnectionError and friends: the endpoint is gone or unreachable.
            return None, f"{type(err).__name__}: {err}"


def _after(cursor: MeshCursor, kind: MeshKind) -> MeshCursor | None:
    """The start of the kind after ``kind`` (None after the last)."""
    kinds = list(MeshKind)
    position = kinds.index(kind) + 1
    if position == len(kinds):
        return None
    return cursor.model_copy(update={"kind": kinds[position], "token": None, "skip": 0})


def _no_app_mesh_data(mesh: str, problem: str) -> str:
    return (
        f"App Mesh API did not answer for mesh {mesh!r} ({problem}); discovery fell back to "
        "the ECS task definitions (envoy sidecar, APPMESH_RESOURCE_ARN, proxyConfiguration) and Cloud "
        "Map. Route timeouts, retry policies and TLS settings known only to App Mesh are not in the plan: "
        "review the green Service Connect configuration, or supply them in the spec (green.services)."
    )


def _unreadable_snapshot(err: Exception) -> str:
    return (
        f"blue.appmesh_snapshot could not be read (missing or malformed {err}): expected every describe "
        "output as documented in migration/appmesh_snapshot.py; discovery goes on without it"
    )


def snapshot_mesh(client: AppMeshClient, mesh: str, owner: str | None) -> AppMeshSnapshot:
    """``meshshift snapshot appmesh``: every describe output of ``mesh`` while the API answers.
    App Mesh errors propagate: the command says what the API answered."""
    return _MeshReader(client, mesh, owner).snapshot(taken_at=datetime.now(UTC).isoformat(timespec="seconds"))


def _seconds(duration: dict[str, Any] | None) -> int | None:
    if not duration or "value" not in duration:
        return None
    value = float(duration["value"])
    return int(value / 1000) if duration.get("unit") == "ms" else int(value)


def _source(holder: dict[str, Any] | None) -> str | None:
    """Which of App Mesh's certificate sources (acm, file, sds) a certificate or trust uses."""
    return next(iter(sorted(holder)), None) if holder else None


def _listener(listener: dict[str, Any]) -> AppMeshListener:
    mapping = listener.get("portMapping", {})
    protocol = mapping.get("protocol", "http")
    timeout = (listener.get("timeout") or {}).get(protocol) or {}
    tls = listener.get("tls") or {}
    return AppMeshListener(
        port=mapping.get("port", 0),
        protocol=protocol,
        timeout_seconds=_seconds(timeout.get("perRequest")),
        idle_timeout_seconds=_seconds(timeout.get("idle")),
        tls_mode=tls.get("mode"),
        has_outlier_detection=bool(listener.get("outlierDetection")),
        has_connection_pool=bool(listener.get("connectionPool")),
        tls_certificate=_source(tls.get("certificate")),
        tls_validation=_source((tls.get("validation") or {}).get("trust")),
        connection_pool=_connection_pool(listener.get("connectionPool")),
        outlier_detection=_outlier_detection(listener.get("outlierDetection")),
        health_check=_health_check(listener.get("healthCheck")),
    )


def _connection_pool(pool: dict[str, Any] | None) -> dict[str, int]:
    # One key per protocol (http, http2, grpc, tcp), each holding the limits.
    limits = next(iter((pool or {}).values()), None)
    return {k: int(v) for k, v in (limits or {}).items() if isinstance(v, int | float)}


def _outlier_detection(outlier: dict[str, Any] | None) -> dict[str, int]:
    if not outlier:
        return {}
    out = {k: int(v) for k, v in outlier.items() if isinstance(v, int | float)}
    for key in ("interval", "baseEjectionDuration"):
        seconds = _seconds(outlier.get(key))
        if seconds is not None:
            out[f"{key}Seconds"] = seconds
    return out


def _health_check(check: dict[str, Any] | None) -> str | None:
    if not check:
        return None
    parts = [str(check.get("protocol", "?")), *([str(check["path"])] if check.get("path") else [])]
    if check.get("port"):
        parts.append(f"port {check['port']}")
    if check.get("intervalMillis"):
        parts.append(f"every {check['intervalMillis']} ms")
    return " ".join(parts)


def _client_policies(spec: dict[str, Any]) -> list[AppMeshClientPolicy]:
    """Client TLS of backendDefaults and of each backend, for a node or a gateway."""
    scoped = [("backendDefaults", (spec.get("backendDefaults") or {}).get("clientPolicy"))]
    for item in spec.get("backends") or []:
        backend = item.get("virtualService") or {}
        scoped.append((backend.get("virtualServiceName", "?"), backend.get("clientPolicy")))
    policies = []
    for scope, policy in scoped:
        tls = (policy or {}).get("tls")
        if not tls:
            continue
        policies.append(
            AppMeshClientPolicy(
                scope=scope,
                enforce=bool(tls.get("enforce", True)),
                ports=[int(p) for p in tls.get("ports") or []],
                certificate=_source(tls.get("certificate")),
                validation=_source((tls.get("validation") or {}).get("trust")),
            )
        )
    return policies


def _text_match(field: str, match: dict[str, Any] | None) -> str:
    """``x-version exact 2`` from App Mesh's ``{name, match: {exact: 2}, invert}``."""
    if not match:
        return f"{field} present"
    kind = next(iter(sorted(match)), "")
    value = match[kind] if kind else ""
    if isinstance(value, dict):  # range: {start, end}
        value = f"{value.get('start')}..{value.get('end')}"
    return f"{field} {kind} {value}".strip()


def _conditions(items: list[dict[str, Any]] | None) -> list[str]:
    out = []
    for item in items or []:
        text = _text_match(str(item.get("name", "?")), item.get("match"))
        out.append(f"!{text}" if item.get("invert") else text)
    return out


def _match(match: dict[str, Any] | None) -> AppMeshMatch:
    match = match or {}
    path = match.get("path") or {}
    hostname = match.get("hostname") or {}
    return AppMeshMatch(
        prefix=match.get("prefix"),
        path=" ".join(f"{k} {v}" for k, v in sorted(path.items())) or None,
        method=match.get("method"),
        scheme=match.get("scheme"),
        hostname=" ".join(f"{k} {v}" for k, v in sorted(hostname.items())) or None,
        headers=_conditions(match.get("headers")),
        query_parameters=_conditions(match.get("queryParameters")),
        port=match.get("port"),
        service_name=match.get("serviceName"),
        method_name=match.get("methodName"),
        metadata=_conditions(match.get("metadata")),
    )


def _retry_policy(policy: dict[str, Any] | None) -> AppMeshRetryPolicy | None:
    if not policy:
        return None
    per_try = policy.get("perRetryTimeout") or {}
    seconds = None
    if "value" in per_try:
        seconds = float(per_try["value"]) / (1000 if per_try.get("unit") == "ms" else 1)
    events = [
        *policy.get("httpRetryEvents", []),
        *policy.get("tcpRetryEvents", []),
        *policy.get("grpcRetryEvents", []),
    ]
    return AppMeshRetryPolicy(
        max_retries=int(policy.get("maxRetries", 0)), per_retry_timeout_seconds=seconds, events=events
    )


def _gateway_rewrite(protocol: str, match: AppMeshMatch, action: dict[str, Any]) -> str | None:
    """What the gateway does to the request before forwarding, App Mesh's defaults included."""
    rewrite = action.get("rewrite") or {}
    parts = []
    prefix = rewrite.get("prefix") or {}
    if prefix.get("value"):
        parts.append(f"prefix rewritten to {prefix['value']}")
    elif (
        protocol in ("http", "http2")
        and match.prefix not in (None, "", "/")
        and prefix.get("defaultPrefix") != "DISABLED"
    ):
        # App Mesh's default for a prefix match: the matched prefix becomes "/".
        parts.append(f"prefix {match.prefix} rewritten to /")
    if (rewrite.get("path") or {}).get("exact"):
        parts.append(f"path rewritten to {rewrite['path']['exact']}")
    if (rewrite.get("hostname") or {}).get("defaultTargetHostname") == "ENABLED":
        parts.append("host name rewritten to the target's")
    return ", ".join(parts) or None


def _beat(detail: str) -> None:
    # The snapshot command reads a mesh outside any activity: there is nobody to heartbeat to.
    if activity.in_activity():
        activity.heartbeat(detail)


def _json_safe(value: Any) -> Any:
    """A describe output as JSON values (timestamps as ISO 8601 text), without response metadata."""
    return json.loads(json.dumps(value, default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v)))


class SnapshotAppMesh:
    """Answers _MeshReader's App Mesh calls from a snapshot, as the API answered when it was taken."""

    def __init__(self, snapshot: AppMeshSnapshot) -> None:
        self._snapshot = snapshot

    def describe_mesh(self, **_: str) -> dict[str, Any]:
        return {"mesh": self._snapshot.mesh}

    def list_virtual_nodes(self, **params: Any) -> dict[str, Any]:
        return self._list("list_virtual_nodes", params)

    def list_virtual_services(self, **params: Any) -> dict[str, Any]:
        return self._list("list_virtual_services", params)

    def list_virtual_routers(self, **params: Any) -> dict[str, Any]:
        return self._list("list_virtual_routers", params)

    def list_routes(self, **params: Any) -> dict[str, Any]:
        return self._list("list_routes", params)

    def list_virtual_gateways(self, **params: Any) -> dict[str, Any]:
        return self._list("list_virtual_gateways", params)

    def list_gateway_routes(self, **params: Any) -> dict[str, Any]:
        return self._list("list_gateway_routes", params)

    # operation -> (snapshot field, answer key, name key, parent's name key)
    _LISTS = {
        "list_virtual_nodes": ("virtual_nodes", "virtualNodes", "virtualNodeName", None),
        "list_virtual_services": ("virtual_services", "virtualServices", "virtualServiceName", None),
        "list_virtual_routers": ("virtual_routers", "virtualRouters", "virtualRouterName", None),
        "list_routes": ("routes", "routes", "routeName", "virtualRouterName"),
        "list_virtual_gateways": ("virtual_gateways", "virtualGateways", "virtualGatewayName", None),
        "list_gateway_routes": ("gateway_routes", "gatewayRoutes", "gatewayRouteName", "virtualGatewayName"),
    }

    def _list(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """A list operation's answer, paged as App Mesh pages: ``nextToken`` is the offset here."""
        field, key, name, parent = self._LISTS[operation]
        items: list[dict[str, Any]] = getattr(self._snapshot, field)
        if parent is not None:
            items = [i for i in items if i.get(parent) == params.get(parent)]
        start = int(params.get("nextToken") or 0)
        end = start + int(params.get("limit") or APPMESH_LIST_LIMIT)
        answer: dict[str, Any] = {
            key: [{name: item[name], **({parent: item[parent]} if parent else {})} for item in items[start:end]]
        }
        if end < len(items):
            answer["nextToken"] = str(end)
        return answer

    def describe_virtual_node(self, *, virtualNodeName: str, **_: str) -> dict[str, Any]:
        return {"virtualNode": _named(self._snapshot.virtual_nodes, "virtualNodeName", virtualNodeName)}

    def describe_virtual_service(self, *, virtualServiceName: str, **_: str) -> dict[str, Any]:
        return {"virtualService": _named(self._snapshot.virtual_services, "virtualServiceName", virtualServiceName)}

    def describe_virtual_router(self, *, virtualRouterName: str, **_: str) -> dict[str, Any]:
        return {"virtualRouter": _named(self._snapshot.virtual_routers, "virtualRouterName", virtualRouterName)}

    def describe_route(self, *, virtualRouterName: str, routeName: str, **_: str) -> dict[str, Any]:
        routes = [r for r in self._snapshot.routes if r.get("virtualRouterName") == virtualRouterName]
        return {"route": _named(routes, "routeName", routeName)}

    def describe_virtual_gateway(self, *, virtualGatewayName: str, **_: str) -> dict[str, Any]:
        return {"virtualGateway": _named(self._snapshot.virtual_gateways, "virtualGatewayName", virtualGatewayName)}

    def describe_gateway_route(self, *, virtualGatewayName: str, gatewayRouteName: str, **_: str) -> dict[str, Any]:
        routes = [r for r in self._snapshot.gateway_routes if r.get("virtualGatewayName") == virtualGatewayName]
        return {"gatewayRoute": _named(routes, "gatewayRouteName", gatewayRouteName)}


def _named(items: list[dict[str, Any]], key: str, name: str) -> dict[str, Any]:
    for item in items:
        if item.get(key) == name:
            return item
    raise KeyError(f"{key} {name!r}")


class _MeshReader:
    """Reads one mesh's resources. App Mesh errors propagate to the caller, which decides."""

    def __init__(self, client: AppMeshClient | SnapshotAppMesh, mesh: str, owner: str | None) -> None:
        # Any: the scope kwargs (meshName, optional meshOwner) are built at run time.
        self._client: Any = client
        self._mesh = mesh
        self._scope: dict[str, str] = {"meshName": mesh}
        if owner:
            self._scope["meshOwner"] = owner

    def _list(self, operation: str, token: str | None, **extra: str) -> dict[str, Any]:
        """One page of a list operation (the snapshot answers the same calls)."""
        params: dict[str, Any] = {**self._scope, **extra, "limit": APPMESH_LIST_LIMIT}
        if token:
            params["nextToken"] = token
        answer: dict[str, Any] = getattr(self._client, operation)(**params)
        return answer

    def _pages(self, operation: str, key: str, **extra: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            answer = self._list(operation, token, **extra)
            yield from answer.get(key, [])
            token = answer.get("nextToken")
            if not token:
                return

    def read(self) -> AppMeshInventory:
        """The whole mesh at once (``meshshift plan``, and workflows started before mesh pages)."""
        inventory = self.header()
        self.read_page(MeshCursor(source=MeshSource.API), inventory, max_bytes=None)
        return inventory

    def read_page(self, cursor: MeshCursor, part: AppMeshInventory, max_bytes: int | None) -> MeshCursor | None:
        """Append to ``part`` the mesh's resources from ``cursor`` on, until they reach ``max_bytes``
        (None: every one); returns where the next page starts, or None once the mesh is read."""
        size = 0
        kind, token, skip = cursor.kind, cursor.token, cursor.skip
        while True:
            operation, key, name_key = _MESH_LISTS[kind]
            answer = self._list(operation, token)
            refs = answer.get(key, [])
            following = answer.get("nextToken")
            for index in range(skip, len(refs)):
                added = self._read_one(kind, refs[index][name_key], part)
                if max_bytes is None:
                    continue
                size += sum(len(item.model_dump_json()) for item in added)
                if size < max_bytes:
                    continue
                # A list page's token reads it again: the resources before ``skip`` were read.
                if index + 1 < len(refs):
                    return cursor.model_copy(update={"kind": kind, "token": token, "skip": index + 1})
                if following:
                    return cursor.model_copy(update={"kind": kind, "token": following, "skip": 0})
                return _after(cursor, kind)
            skip = 0
            token = following
            if token:
                continue
            after = _after(cursor, kind)
            if after is None:
                return None
            kind = after.kind

    def _read_one(self, kind: MeshKind, name: str, part: AppMeshInventory) -> list[BaseModel]:
        """Describe one listed resource into ``part``; returns what was added (for its size)."""
        client = self._client
        if kind is MeshKind.VIRTUAL_NODES:
            node = self._node(dict(client.describe_virtual_node(**self._scope, virtualNodeName=name)["virtualNode"]))
            part.virtual_nodes.append(node)
            _beat(f"virtual node {name}")
            return [node]
        if kind is MeshKind.VIRTUAL_SERVICES:
            answer = client.describe_virtual_service(**self._scope, virtualServiceName=name)
            provider = answer["virtualService"]["spec"].get("provider") or {}
            service = AppMeshVirtualService(
                name=name,
                provider_node=(provider.get("virtualNode") or {}).get("virtualNodeName"),
                provider_router=(provider.get("virtualRouter") or {}).get("virtualRouterName"),
            )
            part.virtual_services.append(service)
            return [service]
        if kind is MeshKind.VIRTUAL_ROUTERS:
            router = client.describe_virtual_router(**self._scope, virtualRouterName=name)
            described = AppMeshVirtualRouter(
                name=name,
                listeners=[_listener(dict(item)) for item in router["virtualRouter"]["spec"].get("listeners", [])],
            )
            routes = [
                self._route(
                    name,
                    ref["routeName"],
                    dict(
                        client.describe_route(**self._scope, virtualRouterName=name, routeName=ref["routeName"])[
                            "route"
                        ]["spec"]
                    ),
                )
                for ref in self._pages("list_routes", "routes", virtualRouterName=name)
            ]
            part.virtual_routers.append(described)
            part.routes.extend(routes)
            _beat(f"virtual router {name}")
            return [described, *routes]
        gateway = self._gateway(name)
        part.virtual_gateways.append(gateway)
        _beat(f"virtual gateway {name}")
        return [gateway]

    def header(self) -> AppMeshInventory:
        """The mesh alone, without its resources: what answers whether the API answers."""
        mesh = self._client.describe_mesh(**self._scope)["mesh"]
        metadata = mesh["metadata"]
        return AppMeshInventory(
            mesh_name=self._mesh,
            egress_filter=((mesh.get("spec") or {}).get("egressFilter") or {}).get("type"),
            mesh_owner=metadata.get("meshOwner"),
            shared_from_other_account=bool(
                metadata.get("meshOwner")
                and metadata.get("resourceOwner")
                and metadata["meshOwner"] != metadata["resourceOwner"]
            ),
        )

    def snapshot(self, taken_at: str | None = None) -> AppMeshSnapshot:
        """Every describe output of the mesh, as the API gives them (see migration/appmesh_snapshot.py)."""
        client, scope = self._client, self._scope

        def described(answer: dict[str, Any], key: str) -> dict[str, Any]:
            out: dict[str, Any] = _json_safe(answer[key])
            return out

        nodes = [
            described(client.describe_virtual_node(**scope, virtualNodeName=r["virtualNodeName"]), "virtualNode")
            for r in self._pages("list_virtual_nodes", "virtualNodes")
        ]
        services = [
            described(
                client.describe_virtual_service(**scope, virtualServiceName=r["virtualServiceName"]), "virtualService"
            )
            for r in self._pages("list_virtual_services", "virtualServices")
        ]
        routers, routes = [], []
        for ref in self._pages("list_virtual_routers", "virtualRouters"):
            router = ref["virtualRouterName"]
            routers.append(
                described(client.describe_virtual_router(**scope, virtualRouterName=router), "virtualRouter")
            )
            for route in self._pages("list_routes", "routes", virtualRouterName=router):
                answer = client.describe_route(**scope, virtualRouterName=router, routeName=route["routeName"])
                routes.append(described(answer, "route"))
        gateways, gateway_routes = [], []
        for ref in self._pages("list_virtual_gateways", "virtualGateways"):
            gateway = ref["virtualGatewayName"]
            answer = client.describe_virtual_gateway(**scope, virtualGatewayName=gateway)
            gateways.append(described(answer, "virtualGateway"))
            for route in self._pages("list_gateway_routes", "gatewayRoutes", virtualGatewayName=gateway):
                answer = client.describe_gateway_route(
                    **scope, virtualGatewayName=gateway, gatewayRouteName=route["gatewayRouteName"]
                )
                gateway_routes.append(described(answer, "gatewayRoute"))
        return AppMeshSnapshot(
            format_version=1,
            mesh_name=self._mesh,
            mesh_owner=scope.get("meshOwner"),
            taken_at=taken_at,
            mesh=described(client.describe_mesh(**scope), "mesh"),
            virtual_nodes=nodes,
            virtual_services=services,
            virtual_routers=routers,
            routes=routes,
            virtual_gateways=gateways,
            gateway_routes=gateway_routes,
        )

    @staticmethod
    def _node(node: dict[str, Any]) -> AppMeshVirtualNode:
        spec = node.get("spec") or {}
        discovery = spec.get("serviceDiscovery") or {}
        cloud_map = discovery.get("awsCloudMap") or {}
        backends = [
            item["virtualService"]["virtualServiceName"]
            for item in spec.get("backends", [])
            if "virtualService" in item
        ]
        client_tls = ((spec.get("backendDefaults") or {}).get("clientPolicy") or {}).get("tls") or {}
        access_log = ((spec.get("logging") or {}).get("accessLog") or {}).get("file") or {}
        log_format = access_log.get("format") or {}
        return AppMeshVirtualNode(
            name=node["virtualNodeName"],
            listeners=[_listener(item) for item in spec.get("listeners", [])],
            cloud_map_namespace=cloud_map.get("namespaceName"),
            cloud_map_service=cloud_map.get("serviceName"),
            dns_hostname=(discovery.get("dns") or {}).get("hostname"),
            backends=backends,
            access_log_path=access_log.get("path"),
            client_tls_enforced=bool(client_tls.get("enforce", bool(client_tls))),
            client_policies=_client_policies(spec),
            access_log_format="JSON" if "json" in log_format else ("TEXT" if "text" in log_format else None),
        )

    @staticmethod
    def _route(router: str, name: str, spec: dict[str, Any]) -> AppMeshRoute:
        for protocol, key in (
            ("http", "httpRoute"),
            ("http2", "http2Route"),
            ("grpc", "grpcRoute"),
            ("tcp", "tcpRoute"),
        ):
            body = spec.get(key)
            if body is None:
                continue
            targets = [
                AppMeshRouteTarget(
                    virtual_node=item.get("virtualNode", "?"), weight=int(item.get("weight", 0)), port=item.get("port")
                )
                for item in (body.get("action") or {}).get("weightedTargets", [])
            ]
            timeout = body.get("timeout") or {}
            return AppMeshRoute(
                router=router,
                name=name,
                protocol=protocol,
                targets=targets,
                timeout_seconds=_seconds(timeout.get("perRequest")),
                idle_timeout_seconds=_seconds(timeout.get("idle")),
                has_retry_policy=bool(body.get("retryPolicy")),
                retry_policy=_retry_policy(body.get("retryPolicy")),
                match=_match(body.get("match")),
                priority=spec.get("priority"),
            )
        return AppMeshRoute(router=router, name=name, protocol="unknown")

    def _gateway(self, name: str) -> AppMeshGateway:
        client = self._client
        spec = client.describe_virtual_gateway(**self._scope, virtualGatewayName=name)["virtualGateway"]["spec"]
        routes = []
        for ref in self._pages("list_gateway_routes", "gatewayRoutes", virtualGatewayName=name):
            answer = client.describe_gateway_route(
                **self._scope, virtualGatewayName=name, gatewayRouteName=ref["gatewayRouteName"]
            )
            routes.append(_gateway_route(ref["gatewayRouteName"], dict(answer["gatewayRoute"]["spec"])))
        access_log = ((spec.get("logging") or {}).get("accessLog") or {}).get("file") or {}
        return AppMeshGateway(
            name=name,
            routes=[r.name for r in routes],
            listeners=[_listener(item) for item in spec.get("listeners", [])],
            client_policies=_client_policies(spec),
            gateway_routes=routes,
            access_log_path=access_log.get("path"),
        )


def _gateway_route(name: str, spec: dict[str, Any]) -> AppMeshGatewayRoute:
    for protocol, key in (("http", "httpRoute"), ("http2", "http2Route"), ("grpc", "grpcRoute")):
        body = spec.get(key)
        if body is None:
            continue
        match = _match(body.get("match"))
        action = body.get("action") or {}
        target = action.get("target") or {}
        return AppMeshGatewayRoute(
            name=name,
            protocol=protocol,
            match=match,
            target_virtual_service=(target.get("virtualService") or {}).get("virtualServiceName"),
            target_port=target.get("port"),
            rewrite=_gateway_rewrite(protocol, match, action),
            priority=spec.get("priority"),
        )
    return AppMeshGatewayRoute(name=name, protocol="unknown")


class _CloudMapReader:
    """Cloud Map service and namespace names behind ECS ``serviceRegistries`` ARNs (cached)."""

    def __init__(self, client: ServiceDiscoveryClient) -> None:
        self._client = client
        self._namespaces: dict[str, str | None] = {}

    def resolve(self, registration: CloudMapRegistration) -> CloudMapRegistration:
        service_id = registration.registry_arn.rsplit("/", 1)[-1]
        service = self._client.get_service(Id=service_id)["Service"]
        namespace_id = service.get("NamespaceId")
        if namespace_id and namespace_id not in self._namespaces:
            self._namespaces[namespace_id] = self._client.get_namespace(Id=namespace_id)["Namespace"].get("Name")
        dns_config = service.get("DnsConfig")
        records = [str(r.get("Type")) for r in dns_config.get("DnsRecords", [])] if dns_config else []
        ports: set[int] = set()
        paginator = self._client.get_paginator("list_instances")
        for page in paginator.paginate(ServiceId=service_id):
            for instance in page.get("Instances", []):
                port = (instance.get("Attributes") or {}).get("AWS_INSTANCE_PORT", "")
                if port.isdigit():
                    ports.add(int(port))
        return registration.model_copy(
            update={
                "service": service.get("Name"),
                "namespace": self._namespaces.get(namespace_id or ""),
                "dns_records": records,
                "instance_ports": sorted(ports),
            }
        )
