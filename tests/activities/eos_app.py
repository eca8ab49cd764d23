"""The "acme" application seeded into the simulated AWS for the end-of-support tests (issue 18).

web -> api -> stock, each an ECS service with an envoy sidecar, registered in Cloud Map namespace
acme.local through its ``serviceRegistries`` (A records), and calling its backend by the name its
container environment gives (``API_URL=http://api.acme.local:9090``). The mesh has one virtual node
per service (Cloud Map discovery) and one virtual service per host, as App Mesh ran it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshshift.migration.spec import MigrationSpec
from tests.activities.conftest_local import ACCOUNT, REGION, client

CLUSTER = "acme"
MESH = "acme-mesh"
NAMESPACE = "acme.local"
ENVOY_IMAGE = "840364872350.dkr.ecr.us-east-1.amazonaws.com/aws-appmesh-envoy:v1.29.6.0-prod"
# service -> (port, environment of its app container)
APPS: dict[str, tuple[int, dict[str, str]]] = {
    "web": (8080, {"API_URL": "http://api.acme.local:9090/v1", "LOG_LEVEL": "info"}),
    "api": (9090, {"STOCK_HOST": "stock.acme.local:7070", "DB_HOST": "db.cluster-x.us-east-1.rds.amazonaws.com"}),
    "stock": (7070, {}),
}
BACKENDS = {"web": ["api"], "api": ["stock"], "stock": []}


@dataclass
class Acme:
    subnet_id: str = ""
    security_group_id: str = ""
    registries: dict[str, str] = field(default_factory=dict)  # service -> Cloud Map service ARN


def task_definition(name: str, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    port, env = APPS[name]
    return {
        "family": name,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "proxyConfiguration": {
            "type": "APPMESH",
            "containerName": "envoy",
            "properties": [{"name": "AppPorts", "value": str(port)}, {"name": "ProxyIngressPort", "value": "15000"}],
        },
        "containerDefinitions": [
            {
                "name": "app",
                "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{name}:3.1.0",
                "essential": True,
                "memory": 256,
                "portMappings": [{"containerPort": port, "protocol": "tcp", "name": "http", "appProtocol": "http"}],
                "environment": [{"name": k, "value": v} for k, v in {**env, **(extra_env or {})}.items()],
                "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}],
            },
            {
                "name": "envoy",
                "image": ENVOY_IMAGE,
                "essential": True,
                "memory": 128,
                "environment": [
                    {
                        "name": "APPMESH_RESOURCE_ARN",
                        "value": f"arn:aws:appmesh:{REGION}:{ACCOUNT}:mesh/{MESH}/virtualNode/{name}-node",
                    }
                ],
            },
        ],
    }


def seed(extra_env: dict[str, dict[str, str]] | None = None) -> Acme:
    """Blue as it runs before the end of support: ECS + Cloud Map + the mesh."""
    acme = Acme()
    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    acme.subnet_id = ec2.create_subnet(VpcId=vpc, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    acme.security_group_id = ec2.create_security_group(GroupName="acme", Description="acme", VpcId=vpc)["GroupId"]
    discovery = client("servicediscovery")
    discovery.create_private_dns_namespace(Name=NAMESPACE, Vpc=vpc)
    namespace_id = next(n["Id"] for n in discovery.list_namespaces()["Namespaces"] if n["Name"] == NAMESPACE)
    ecs = client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    for name in APPS:
        acme.registries[name] = discovery.create_service(
            Name=name,
            NamespaceId=namespace_id,
            DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]},
        )["Service"]["Arn"]
        ecs.register_task_definition(**task_definition(name, (extra_env or {}).get(name)))
        ecs.create_service(
            cluster=CLUSTER,
            serviceName=name,
            taskDefinition=name,
            desiredCount=2,
            launchType="FARGATE",
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": [acme.subnet_id],
                    "securityGroups": [acme.security_group_id],
                    "assignPublicIp": "DISABLED",
                }
            },
            serviceRegistries=[{"registryArn": acme.registries[name]}],
        )
    seed_edge(vpc, acme.subnet_id, acme.security_group_id)
    seed_mesh()
    return acme


def seed_edge(vpc_id: str, subnet_id: str, security_group_id: str) -> None:
    """The edge as it stands before a migration: web behind a plain-forward listener to blue's group,
    and green's group created empty (the plan's edge preflight reads both)."""
    elbv2 = client("elbv2")
    lb = elbv2.create_load_balancer(Name=CLUSTER, Subnets=[subnet_id], SecurityGroups=[security_group_id])
    groups = {
        color: elbv2.create_target_group(
            Name=f"{CLUSTER}-{color}", Protocol="HTTP", Port=APPS["web"][0], VpcId=vpc_id, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        for color in ("blue", "green")
    }
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancers"][0]["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
    )


def edge() -> dict[str, Any]:
    """The spec's ALB edge, with the ARNs of what seed_edge created."""
    elbv2 = client("elbv2")
    lb_arn = elbv2.describe_load_balancers(Names=[CLUSTER])["LoadBalancers"][0]["LoadBalancerArn"]
    groups = elbv2.describe_target_groups(Names=[f"{CLUSTER}-blue", f"{CLUSTER}-green"])["TargetGroups"]
    arns = {g["TargetGroupName"]: g["TargetGroupArn"] for g in groups}
    return {
        "type": "alb",
        "listener_arn": elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"][0]["ListenerArn"],
        "blue_target_group_arn": arns[f"{CLUSTER}-blue"],
        "green_target_group_arn": arns[f"{CLUSTER}-green"],
    }


def seed_mesh() -> None:
    mesh = client("appmesh")
    mesh.create_mesh(meshName=MESH)
    for name, (port, _) in APPS.items():
        mesh.create_virtual_node(
            meshName=MESH,
            virtualNodeName=f"{name}-node",
            spec={
                "listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
                # moto requires attributes (AWS does not).
                "serviceDiscovery": {
                    "awsCloudMap": {"namespaceName": NAMESPACE, "serviceName": name, "attributes": []}
                },
                "backends": [
                    {"virtualService": {"virtualServiceName": f"{other}.{NAMESPACE}"}} for other in BACKENDS[name]
                ],
            },
        )
    for name in APPS:
        mesh.create_virtual_service(
            meshName=MESH,
            virtualServiceName=f"{name}.{NAMESPACE}",
            spec={"provider": {"virtualNode": {"virtualNodeName": f"{name}-node"}}},
        )


def spec(services: list[str] | None = None, **extra: Any) -> MigrationSpec:
    green = extra.pop("green", {})
    blue = extra.pop("blue", {})
    body: dict[str, Any] = {
        "name": "acme",
        "region": REGION,
        "blue": {"cluster": CLUSTER, "services": services or list(APPS), "mesh": MESH, **blue},
        "green": {"cluster": CLUSTER, "namespace": NAMESPACE, **green},
        "edge": [edge()],
        "approvers": ["alice", "bob"],
        "requested_by": "carol",
    }
    body.update(extra)
    return MigrationSpec.model_validate(body)
