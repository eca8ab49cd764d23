"""Builders shared by the discovery, provisioning and health tests: a blue application seeded into
the simulated AWS (ECS services with envoy sidecars behind target groups, an App Mesh mesh), a spec
naming it, and green service plans.

Plain functions, not fixtures: each test calls them inside ``aws_inprocess`` or ``aws_server_env``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3

from meshshift.migration.contracts import (
    AwsContext,
    ContainerDefinition,
    GreenServicePlan,
    KeyValue,
    LoadBalancerAttachment,
    NetworkConfig,
    PortMapping,
    ServiceConnectClientAlias,
    ServiceConnectConfiguration,
    ServiceConnectService,
    TaskDefinition,
)
from meshshift.migration.spec import MigrationSpec

REGION = "us-east-1"
ACCOUNT = "123456789012"
CLUSTER = "shop"
MESH = "shop-mesh"
SERVICES = ["frontend", "user-api", "stock-api"]
WORKER = "order-worker"
AWS = AwsContext(region=REGION)
LISTENER_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/shop/{'0' * 16}/{'1' * 16}"


@dataclass
class BlueApp:
    vpc_id: str
    subnet_id: str
    security_group_id: str
    target_groups: dict[str, str] = field(default_factory=dict)  # service -> blue target group ARN
    green_target_groups: dict[str, str] = field(default_factory=dict)
    listener_arn: str = ""  # forwards /<service>/* to its blue (100) and green (0) groups


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


def blue_task_definition(name: str, port: int = 8080, with_envoy: bool = True) -> dict[str, Any]:
    containers: list[dict[str, Any]] = [
        {
            "name": "app",
            "image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}:1.4.2",
            "essential": True,
            "memory": 256,
            "portMappings": [{"containerPort": port, "protocol": "tcp", "name": "http", "appProtocol": "http"}],
            "environment": [{"name": "LOG_LEVEL", "value": "info"}],
        }
    ]
    body: dict[str, Any] = {
        "family": name,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": containers,
    }
    if with_envoy:
        containers[0]["dependsOn"] = [{"containerName": "envoy", "condition": "HEALTHY"}]
        containers.append(
            {
                "name": "envoy",
                "image": "840364872350.dkr.ecr.us-east-1.amazonaws.com/aws-appmesh-envoy:v1.29.6.0-prod",
                "essential": True,
                "memory": 128,
                "environment": [
                    {
                        "name": "APPMESH_RESOURCE_ARN",
                        "value": f"arn:aws:appmesh:{REGION}:{ACCOUNT}:mesh/{MESH}/virtualNode/{name}-node",
                    }
                ],
            }
        )
        body["proxyConfiguration"] = {
            "type": "APPMESH",
            "containerName": "envoy",
            "properties": [{"name": "AppPorts", "value": str(port)}, {"name": "ProxyIngressPort", "value": "15000"}],
        }
    return body


def seed_blue(with_mesh: bool = True, services: list[str] | None = None) -> BlueApp:
    """Blue as it runs today: ECS services with envoy sidecars behind ALB target groups, and the mesh.

    Only what the account holds before a migration: ECS (simulated) starts blue's tasks and registers
    them itself. Each service's groups are forwarded to by a listener rule (blue 100, green 0), as
    ECS requires of a target group it registers tasks in.
    """
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    sg_id = ec2.create_security_group(GroupName="shop", Description="shop", VpcId=vpc_id)["GroupId"]
    app = BlueApp(vpc_id=vpc_id, subnet_id=subnet_id, security_group_id=sg_id)

    elbv2 = client("elbv2")
    lb_arn = elbv2.create_load_balancer(Name="shop", Subnets=[subnet_id], SecurityGroups=[sg_id])["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    app.listener_arn = elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]["ListenerArn"]
    ecs = client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    for priority, name in enumerate([*(services or SERVICES), WORKER], start=1):
        ecs.register_task_definition(**blue_task_definition(name))
        request: dict[str, Any] = {
            "cluster": CLUSTER,
            "serviceName": name,
            "taskDefinition": name,
            "desiredCount": 2,
            "launchType": "FARGATE",
            "networkConfiguration": {
                "awsvpcConfiguration": {"subnets": [subnet_id], "securityGroups": [sg_id], "assignPublicIp": "DISABLED"}
            },
        }
        if name != WORKER:
            for color, store in (("blue", app.target_groups), ("green", app.green_target_groups)):
                store[name] = elbv2.create_target_group(
                    Name=f"{name}-{color}", Protocol="HTTP", Port=8080, VpcId=vpc_id, TargetType="ip"
                )["TargetGroups"][0]["TargetGroupArn"]
            elbv2.create_rule(
                ListenerArn=app.listener_arn,
                Priority=priority,
                Conditions=[{"Field": "path-pattern", "Values": [f"/{name}/*"]}],
                Actions=[
                    {
                        "Type": "forward",
                        "ForwardConfig": {
                            "TargetGroups": [
                                {"TargetGroupArn": app.target_groups[name], "Weight": 100},
                                {"TargetGroupArn": app.green_target_groups[name], "Weight": 0},
                            ]
                        },
                    }
                ],
            )
            request["loadBalancers"] = [
                {"targetGroupArn": app.target_groups[name], "containerName": "app", "containerPort": 8080}
            ]
        ecs.create_service(**request)
    if with_mesh:
        seed_mesh(services or SERVICES)
    return app


def seed_mesh(services: list[str]) -> None:
    mesh = client("appmesh")
    mesh.create_mesh(meshName=MESH)
    for name in services:
        mesh.create_virtual_node(
            meshName=MESH,
            virtualNodeName=f"{name}-node",
            spec={
                "listeners": [
                    {
                        "portMapping": {"port": 8080, "protocol": "http"},
                        "timeout": {"http": {"perRequest": {"unit": "s", "value": 15}}},
                    }
                ],
                # moto requires attributes (AWS does not).
                "serviceDiscovery": {
                    "awsCloudMap": {"namespaceName": "shop.local", "serviceName": name, "attributes": []}
                },
                "backends": [
                    {"virtualService": {"virtualServiceName": f"{other}.shop.local"}}
                    for other in services
                    if other != name
                ],
                "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
            },
        )
    mesh.create_virtual_router(
        meshName=MESH,
        virtualRouterName="user-api-router",
        spec={"listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}]},
    )
    mesh.create_route(
        meshName=MESH,
        virtualRouterName="user-api-router",
        routeName="user-api-route",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [{"virtualNode": "user-api-node", "weight": 100}]},
                "timeout": {"perRequest": {"unit": "ms", "value": 30000}},
                "retryPolicy": {
                    "maxRetries": 2,
                    "perRetryTimeout": {"unit": "s", "value": 5},
                    "httpRetryEvents": ["server-error"],
                },
            }
        },
    )
    for name in services:
        provider = (
            {"virtualRouter": {"virtualRouterName": "user-api-router"}}
            if name == "user-api"
            else {"virtualNode": {"virtualNodeName": f"{name}-node"}}
        )
        mesh.create_virtual_service(meshName=MESH, virtualServiceName=f"{name}.shop.local", spec={"provider": provider})
    mesh.create_virtual_gateway(
        meshName=MESH,
        virtualGatewayName="ingress",
        spec={"listeners": [{"portMapping": {"port": 8443, "protocol": "http"}}]},
    )
    mesh.create_gateway_route(
        meshName=MESH,
        virtualGatewayName="ingress",
        gatewayRouteName="to-frontend",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"target": {"virtualService": {"virtualServiceName": "frontend.shop.local"}}},
            }
        },
    )


def spec(
    app: BlueApp | None = None, *, mesh: str | None = MESH, services: list[str] | None = None, **extra: Any
) -> MigrationSpec:
    names = services or SERVICES
    first = names[0]
    blue_tg = (app.target_groups.get(first) if app else None) or (
        f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{first}-blue/0123456789abcdef"
    )
    green_tg = (app.green_target_groups.get(first) if app else None) or (
        f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/{first}-green/fedcba9876543210"
    )
    body: dict[str, Any] = {
        "name": "shop",
        "region": REGION,
        "blue": {"cluster": CLUSTER, "services": names, "mesh": mesh},
        "green": {"cluster": CLUSTER, "namespace": "shop.local"},
        "edge": [
            {
                "type": "alb",
                "listener_arn": LISTENER_ARN,
                "blue_target_group_arn": blue_tg,
                "green_target_group_arn": green_tg,
            }
        ],
        "async_workers": [{"blue_service": WORKER, "green_service": f"{WORKER}-sc", "desired_count": 2}],
        "approvers": ["alice", "bob"],
        "requested_by": "carol",
    }
    body.update(extra)
    return MigrationSpec.model_validate(body)


def green_plan(
    app: BlueApp,
    blue: str = "frontend",
    *,
    namespace_name: str = "shop.local",
    async_worker: bool = False,
    image_tag: str = "1.4.2",
) -> GreenServicePlan:
    """What the plan module would compute for one service: envoy removed, Service Connect added."""
    green = f"{blue}-sc"
    task_definition = TaskDefinition(
        family=green,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[
            ContainerDefinition(
                name="app",
                image=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{blue}:{image_tag}",
                essential=True,
                memory=256,  # type: ignore[call-arg]  # extra key kept by the AWS-shaped model
                portMappings=[PortMapping(containerPort=8080, protocol="tcp", name="http", appProtocol="http")],
                environment=[KeyValue(name="LOG_LEVEL", value="info")],
            )
        ],
    )
    services = (
        []
        if async_worker
        else [
            ServiceConnectService(
                portName="http",
                discoveryName=blue,
                clientAliases=[ServiceConnectClientAlias(port=8080, dnsName=f"{blue}.{namespace_name}")],
            )
        ]
    )
    return GreenServicePlan(
        blue_service=blue,
        green_service=green,
        cluster=CLUSTER,
        desired_count=2,
        task_definition=task_definition,
        service_connect=ServiceConnectConfiguration(enabled=True, services=services),
        load_balancers=[]
        if async_worker
        else [
            LoadBalancerAttachment(
                target_group_arn=app.green_target_groups[blue], container_name="app", container_port=8080
            )
        ],
        network=NetworkConfig(subnets=[app.subnet_id], security_groups=[app.security_group_id]),
        launch_type="FARGATE",
        is_async_worker=async_worker,
    )


def service_count(cluster: str = CLUSTER) -> int:
    ecs = client("ecs")
    arns = ecs.list_services(cluster=cluster)["serviceArns"]
    if not arns:
        return 0
    described = ecs.describe_services(cluster=cluster, services=arns)["services"]
    return sum(1 for s in described if s["status"] == "ACTIVE")


def revision_count(family: str) -> int:
    return len(client("ecs").list_task_definitions(familyPrefix=family)["taskDefinitionArns"])
