"""Discovery of blue: its ECS services and task definitions, and App Mesh while its API answers.

Everything here only reads. App Mesh reached end of support on 2026-09-30, so its API is optional
input: when it does not answer, discovery still succeeds from the ECS task definitions (the envoy
sidecar, ``APPMESH_RESOURCE_ARN``, ``proxyConfiguration``) and says so in a warning that ends up
in the plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from meshshift.activities.aws import AwsClients, aws_errors, error_code, is_transient
from meshshift.migration.contracts import (
    DISCOVER_BLUE,
    AppMeshGateway,
    AppMeshInventory,
    AppMeshListener,
    AppMeshRoute,
    AppMeshRouteTarget,
    AppMeshStatus,
    AppMeshVirtualNode,
    AppMeshVirtualRouter,
    AppMeshVirtualService,
    AwsContext,
    BlueDiscovery,
    BlueService,
    CapacityProviderItem,
    DiscoverInput,
    LoadBalancerAttachment,
    NetworkConfig,
    TaskDefinition,
)
from meshshift.migration.translate import READ_ONLY_TASK_KEYS

if TYPE_CHECKING:
    from mypy_boto3_appmesh import AppMeshClient
    from mypy_boto3_ecs import ECSClient

# describe_services accepts at most 10 services per call.
DESCRIBE_SERVICES_BATCH = 10

# Environment variables through which the envoy sidecar learns its virtual node.
VIRTUAL_NODE_ENV = ("APPMESH_RESOURCE_ARN", "APPMESH_VIRTUAL_NODE_NAME")

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
                return env.value.rsplit("/", 1)[-1]
    return None


class DiscoveryActivities:
    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients

    @activity.defn(name=DISCOVER_BLUE)
    def discover_blue(self, params: DiscoverInput) -> BlueDiscovery:
        spec = params.spec
        ecs = self._clients.ecs(params.aws)
        warnings: list[str] = []
        task_definitions: dict[str, TaskDefinition] = {}

        services = self._describe(ecs, spec.blue.cluster, spec.blue.services, task_definitions, warnings)

        workers_by_cluster: dict[str, list[str]] = {}
        for worker in spec.async_workers:
            workers_by_cluster.setdefault(worker.cluster or spec.blue.cluster, []).append(worker.blue_service)
        async_workers: list[BlueService] = []
        for cluster, names in workers_by_cluster.items():
            async_workers.extend(self._describe(ecs, cluster, names, task_definitions, warnings))

        status = AppMeshStatus.NOT_CONFIGURED
        inventory: AppMeshInventory | None = None
        if spec.blue.mesh:
            inventory, problem = self._app_mesh(params.aws, spec.blue.mesh, spec.blue.mesh_owner)
            if inventory is not None:
                status = AppMeshStatus.AVAILABLE
            else:
                status = AppMeshStatus.UNAVAILABLE
                warnings.append(
                    f"App Mesh API did not answer for mesh {spec.blue.mesh!r} ({problem}); discovery fell back to "
                    "the ECS task definitions (envoy sidecar, APPMESH_RESOURCE_ARN, proxyConfiguration). "
                    "Route timeouts, retry policies and TLS settings known only to App Mesh are not in the plan: "
                    "review the green Service Connect configuration, or supply them in the spec."
                )
            for service in [*services, *async_workers]:
                if service.virtual_node_name is None:
                    warnings.append(
                        f"Blue service {service.name!r} (cluster {service.cluster!r}) has no envoy sidecar naming an "
                        "App Mesh virtual node (APPMESH_RESOURCE_ARN / APPMESH_VIRTUAL_NODE_NAME); it is migrated "
                        "as a plain ECS service."
                    )

        return BlueDiscovery(
            services=services,
            async_workers=async_workers,
            appmesh_status=status,
            appmesh=inventory,
            warnings=warnings,
        )

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
        )

    # --- App Mesh -------------------------------------------------------------------------------

    def _app_mesh(self, aws: AwsContext, mesh: str, owner: str | None) -> tuple[AppMeshInventory | None, str]:
        """The mesh's inventory, or (None, why) when the App Mesh API does not answer."""
        try:
            return _MeshReader(self._clients.appmesh(aws), mesh, owner).read(), ""
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


def _seconds(duration: dict[str, Any] | None) -> int | None:
    if not duration or "value" not in duration:
        return None
    value = float(duration["value"])
    return int(value / 1000) if duration.get("unit") == "ms" else int(value)


def _listener(listener: dict[str, Any]) -> AppMeshListener:
    mapping = listener.get("portMapping", {})
    protocol = mapping.get("protocol", "http")
    timeout = (listener.get("timeout") or {}).get(protocol) or {}
    return AppMeshListener(
        port=mapping.get("port", 0),
        protocol=protocol,
        timeout_seconds=_seconds(timeout.get("perRequest")),
        idle_timeout_seconds=_seconds(timeout.get("idle")),
        tls_mode=(listener.get("tls") or {}).get("mode"),
        has_outlier_detection=bool(listener.get("outlierDetection")),
        has_connection_pool=bool(listener.get("connectionPool")),
    )


class _MeshReader:
    """Reads one mesh's resources. App Mesh errors propagate to the caller, which decides."""

    def __init__(self, client: AppMeshClient, mesh: str, owner: str | None) -> None:
        # Any: the scope kwargs (meshName, optional meshOwner) are built at run time.
        self._client: Any = client
        self._mesh = mesh
        self._scope: dict[str, str] = {"meshName": mesh}
        if owner:
            self._scope["meshOwner"] = owner

    def _pages(self, operation: str, key: str, **extra: str) -> Iterator[dict[str, Any]]:
        paginator = self._client.get_paginator(operation)
        for page in paginator.paginate(**self._scope, **extra):
            yield from page.get(key, [])

    def read(self) -> AppMeshInventory:
        client = self._client
        mesh = client.describe_mesh(**self._scope)["mesh"]
        metadata = mesh["metadata"]
        inventory = AppMeshInventory(
            mesh_name=self._mesh,
            mesh_owner=metadata.get("meshOwner"),
            shared_from_other_account=bool(
                metadata.get("meshOwner")
                and metadata.get("resourceOwner")
                and metadata["meshOwner"] != metadata["resourceOwner"]
            ),
        )
        for ref in self._pages("list_virtual_nodes", "virtualNodes"):
            node = client.describe_virtual_node(**self._scope, virtualNodeName=ref["virtualNodeName"])
            inventory.virtual_nodes.append(self._node(dict(node["virtualNode"])))
            activity.heartbeat(f"virtual node {ref['virtualNodeName']}")
        for ref in self._pages("list_virtual_services", "virtualServices"):
            answer = client.describe_virtual_service(**self._scope, virtualServiceName=ref["virtualServiceName"])
            provider = answer["virtualService"]["spec"].get("provider") or {}
            inventory.virtual_services.append(
                AppMeshVirtualService(
                    name=ref["virtualServiceName"],
                    provider_node=(provider.get("virtualNode") or {}).get("virtualNodeName"),
                    provider_router=(provider.get("virtualRouter") or {}).get("virtualRouterName"),
                )
            )
        for ref in self._pages("list_virtual_routers", "virtualRouters"):
            router_name = ref["virtualRouterName"]
            router = client.describe_virtual_router(**self._scope, virtualRouterName=router_name)
            inventory.virtual_routers.append(
                AppMeshVirtualRouter(
                    name=router_name,
                    listeners=[_listener(dict(item)) for item in router["virtualRouter"]["spec"].get("listeners", [])],
                )
            )
            for route_ref in self._pages("list_routes", "routes", virtualRouterName=router_name):
                route = client.describe_route(
                    **self._scope,
                    virtualRouterName=router_name,
                    routeName=route_ref["routeName"],
                )
                inventory.routes.append(self._route(router_name, route_ref["routeName"], dict(route["route"]["spec"])))
            activity.heartbeat(f"virtual router {router_name}")
        for ref in self._pages("list_virtual_gateways", "virtualGateways"):
            gateway = ref["virtualGatewayName"]
            routes = [
                item["gatewayRouteName"]
                for item in self._pages("list_gateway_routes", "gatewayRoutes", virtualGatewayName=gateway)
            ]
            inventory.virtual_gateways.append(AppMeshGateway(name=gateway, routes=routes))
        return inventory

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
        return AppMeshVirtualNode(
            name=node["virtualNodeName"],
            listeners=[_listener(item) for item in spec.get("listeners", [])],
            cloud_map_namespace=cloud_map.get("namespaceName"),
            cloud_map_service=cloud_map.get("serviceName"),
            dns_hostname=(discovery.get("dns") or {}).get("hostname"),
            backends=backends,
            access_log_path=(((spec.get("logging") or {}).get("accessLog") or {}).get("file") or {}).get("path"),
            client_tls_enforced=bool(client_tls.get("enforce", bool(client_tls))),
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
                AppMeshRouteTarget(virtual_node=item["virtualNode"], weight=item["weight"], port=item.get("port"))
                for item in (body.get("action") or {}).get("weightedTargets", [])
            ]
            timeout = (body.get("timeout") or {}).get("perRequest") or (body.get("timeout") or {}).get("idle")
            return AppMeshRoute(
                router=router,
                name=name,
                protocol=protocol,
                targets=targets,
                timeout_seconds=_seconds(timeout),
                has_retry_policy=bool(body.get("retryPolicy")),
            )
        return AppMeshRoute(router=router, name=name, protocol="unknown")
