"""Blue task definitions and App Mesh inventories for the translation and plan tests."""

from __future__ import annotations

from typing import Any

from meshshift.migration.contracts import (
    AppMeshGateway,
    AppMeshGatewayRoute,
    AppMeshInventory,
    AppMeshListener,
    AppMeshMatch,
    AppMeshRoute,
    AppMeshRouteTarget,
    AppMeshVirtualNode,
    AppMeshVirtualRouter,
    AppMeshVirtualService,
    TaskDefinition,
)

MESH_ARN = "arn:aws:appmesh:us-east-1:123456789012:mesh/shop-mesh"
NODE_ARN = f"{MESH_ARN}/virtualNode/user-api-vn"
ENVOY_IMAGE = "840364872350.dkr.ecr.us-east-1.amazonaws.com/aws-appmesh-envoy:v1.29.6.0-prod"
ENVOY_LOGS = {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/user-api", "awslogs-region": "us-east-1"}}


def blue_task_definition(**overrides: Any) -> TaskDefinition:
    """user-api as App Mesh runs it: app + envoy + an X-Ray daemon, ports without names."""
    data: dict[str, Any] = {
        "family": "user-api",
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/user-api:7",
        "revision": 7,
        "status": "ACTIVE",
        "networkMode": "awsvpc",
        "cpu": "512",
        "memory": "1024",
        "requiresCompatibilities": ["FARGATE"],
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "volumes": [{"name": "scratch"}],
        "proxyConfiguration": {
            "type": "APPMESH",
            "containerName": "envoy",
            "properties": [
                {"name": "AppPorts", "value": "8080"},
                {"name": "ProxyIngressPort", "value": "15000"},
                {"name": "ProxyEgressPort", "value": "15001"},
                {"name": "IgnoredUID", "value": "1337"},
            ],
        },
        "containerDefinitions": [
            {
                "name": "app",
                "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/user-api:2.4.1",
                "essential": True,
                "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
                "environment": [
                    {"name": "DB_HOST", "value": "users.cluster-abc.us-east-1.rds.amazonaws.com"},
                    {"name": "APPMESH_XRAY_TRACING", "value": "1"},
                    {"name": "ENVOY_ADMIN_PORT", "value": "9901"},
                ],
                "dependsOn": [
                    {"containerName": "envoy", "condition": "HEALTHY"},
                    {"containerName": "xray", "condition": "START"},
                ],
                "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/tmp/scratch"}],
            },
            {
                "name": "envoy",
                "image": ENVOY_IMAGE,
                "essential": True,
                "user": "1337",
                "environment": [{"name": "APPMESH_RESOURCE_ARN", "value": NODE_ARN}],
                "logConfiguration": ENVOY_LOGS,
                "healthCheck": {"command": ["CMD-SHELL", "curl -s http://localhost:9901/server_info"]},
            },
            {
                "name": "xray",
                "image": "public.ecr.aws/xray/aws-xray-daemon:3.3.7",
                "essential": False,
                "portMappings": [{"containerPort": 2000, "protocol": "udp"}],
            },
        ],
    }
    data.update(overrides)
    return TaskDefinition.model_validate(data)


def inventory(**node_overrides: Any) -> AppMeshInventory:
    node = AppMeshVirtualNode(
        name="user-api-vn",
        listeners=[AppMeshListener(port=8080, protocol="http", timeout_seconds=15, idle_timeout_seconds=300)],
        cloud_map_namespace="shop-mesh.local",
        cloud_map_service="user-api",
        access_log_path="/dev/stdout",
    ).model_copy(update=node_overrides)
    return AppMeshInventory(
        mesh_name="shop-mesh",
        virtual_nodes=[
            node,
            AppMeshVirtualNode(name="stock-api-vn", listeners=[AppMeshListener(port=9090, protocol="grpc")]),
        ],
        virtual_services=[
            AppMeshVirtualService(name="user-api.shop.local", provider_router="user-api-router"),
            AppMeshVirtualService(name="stock-api.shop.local", provider_node="stock-api-vn"),
        ],
        virtual_routers=[
            AppMeshVirtualRouter(name="user-api-router", listeners=[AppMeshListener(port=80, protocol="http")])
        ],
        routes=[
            AppMeshRoute(
                router="user-api-router",
                name="default",
                protocol="http",
                targets=[AppMeshRouteTarget(virtual_node="user-api-vn", weight=1)],
                timeout_seconds=30,
                has_retry_policy=True,
            )
        ],
    )


# --- routers, gateways and TLS for the per-construct tests --------------------------------------


def node(name: str, port: int = 8080, protocol: str = "http", **extra: Any) -> AppMeshVirtualNode:
    return AppMeshVirtualNode(name=name, listeners=[AppMeshListener(port=port, protocol=protocol)], **extra)


def route(
    name: str,
    *targets: tuple[str, int],
    router: str = "color-router",
    match: AppMeshMatch | None = None,
    **extra: Any,
) -> AppMeshRoute:
    return AppMeshRoute(
        router=router,
        name=name,
        protocol="http",
        targets=[AppMeshRouteTarget(virtual_node=n, weight=w) for n, w in targets],
        match=match if match is not None else AppMeshMatch(prefix="/"),
        **extra,
    )


def color_mesh(*routes: AppMeshRoute) -> AppMeshInventory:
    """color.shop.local behind color-router, served by blue-vn and red-vn (AWS's colorteller shape)."""
    return AppMeshInventory(
        mesh_name="color-mesh",
        virtual_nodes=[node("blue-vn"), node("red-vn")],
        virtual_services=[AppMeshVirtualService(name="color.shop.local", provider_router="color-router")],
        virtual_routers=[
            AppMeshVirtualRouter(name="color-router", listeners=[AppMeshListener(port=80, protocol="http")])
        ],
        routes=list(routes),
    )


PATH_ROUTES = (
    route("color1", ("blue-vn", 1), match=AppMeshMatch(prefix="/color1")),
    route("color2", ("red-vn", 1), match=AppMeshMatch(prefix="/color2")),
)


def gateway(*routes: AppMeshGatewayRoute, **extra: Any) -> AppMeshGateway:
    settings: dict[str, Any] = {"listeners": [AppMeshListener(port=8443, protocol="http")], **extra}
    return AppMeshGateway(name="ingress-gw", routes=[r.name for r in routes], gateway_routes=list(routes), **settings)


def gateway_route(name: str, virtual_service: str, prefix: str = "/", **extra: Any) -> AppMeshGatewayRoute:
    return AppMeshGatewayRoute(
        name=name, protocol="http", match=AppMeshMatch(prefix=prefix), target_virtual_service=virtual_service, **extra
    )


def gateway_task_definition(gateway_name: str = "ingress-gw") -> TaskDefinition:
    """A virtual gateway as ECS runs it: Envoy alone, naming the gateway."""
    return TaskDefinition.model_validate(
        {
            "family": "ingress",
            "networkMode": "awsvpc",
            "containerDefinitions": [
                {
                    "name": "envoy",
                    "image": ENVOY_IMAGE,
                    "essential": True,
                    "portMappings": [{"containerPort": 8443, "protocol": "tcp"}],
                    "environment": [
                        {
                            "name": "APPMESH_RESOURCE_ARN",
                            "value": f"{MESH_ARN}/virtualGateway/{gateway_name}",
                        }
                    ],
                }
            ],
        }
    )


def plain_task_definition(family: str, port: int = 8080) -> TaskDefinition:
    """A service without Envoy."""
    return TaskDefinition.model_validate(
        {
            "family": family,
            "networkMode": "awsvpc",
            "containerDefinitions": [
                {"name": "app", "image": f"{family}:1", "essential": True, "portMappings": [{"containerPort": port}]}
            ],
        }
    )
