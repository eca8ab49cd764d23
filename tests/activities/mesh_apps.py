"""Two App Mesh applications built the way AWS's published App Mesh material builds them, seeded into
the simulated AWS for the translation tests. Neither is the shop app the other tests use.

- **colorteller** (DNS discovery): a virtual gateway whose routes rewrite the path, a router that
  chooses the colorteller by path and by header with a retry policy on its catch-all route, health
  checks, and a mesh that drops undeclared egress.
- **bank** (Cloud Map discovery): a virtual gateway with TLS and a client certificate in front of
  ``web``, mutual TLS between ``web`` and its backends, ``accounts`` split 90/10 between two
  versions with a retry policy, connection pools and outlier detection, a ``ledger`` that App Mesh
  knows as a backend but that runs without Envoy, and an ``audit`` backend nobody migrates.

Plain functions: call them inside ``aws_inprocess`` or ``aws_server_env``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from meshshift.migration.spec import MigrationSpec
from tests.activities.conftest_local import ACCOUNT, REGION, client

ENVOY_IMAGE = "840364872350.dkr.ecr.us-east-1.amazonaws.com/aws-appmesh-envoy:v1.29.6.0-prod"


@dataclass
class App:
    name: str
    cluster: str
    mesh: str
    services: list[str]
    namespace: str
    blue_target_group: str = ""
    green_target_group: str = ""
    retire: list[str] = field(default_factory=list)
    vpc_id: str = ""
    listener_arn: str = ""


def _task_definition(family: str, port: int | None, resource: str | None) -> dict[str, Any]:
    """An app container (if ``port``) and, if ``resource`` names a mesh resource, its Envoy sidecar."""
    containers: list[dict[str, Any]] = []
    if port is not None:
        containers.append(
            {
                "name": "app",
                "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{family}:3.1",
                "essential": True,
                "memory": 256,
                "portMappings": [{"containerPort": port, "protocol": "tcp"}],
                **({"dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}]} if resource else {}),
            }
        )
    body: dict[str, Any] = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": containers,
    }
    if resource is not None:
        containers.append(
            {
                "name": "envoy",
                "image": ENVOY_IMAGE,
                "essential": True,
                "memory": 128,
                "portMappings": [] if port is not None else [{"containerPort": 8443, "protocol": "tcp"}],
                "environment": [
                    {"name": "APPMESH_RESOURCE_ARN", "value": f"arn:aws:appmesh:{REGION}:{ACCOUNT}:{resource}"}
                ],
            }
        )
        if port is not None:
            body["proxyConfiguration"] = {
                "type": "APPMESH",
                "containerName": "envoy",
                "properties": [
                    {"name": "AppPorts", "value": str(port)},
                    {"name": "ProxyIngressPort", "value": "15000"},
                ],
            }
    return body


def _network(app: App) -> tuple[str, str]:
    """A VPC, and the edge: an ALB whose listener forwards to blue's target group (100) and green's (0)."""
    ec2 = client("ec2")
    app.vpc_id = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=app.vpc_id, CidrBlock=f"10.1.{n}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for n, zone in ((1, "a"), (2, "b"))
    ]
    group = ec2.create_security_group(GroupName=app.name, Description=app.name, VpcId=app.vpc_id)["GroupId"]
    elbv2 = client("elbv2")
    for color in ("blue", "green"):
        arn = elbv2.create_target_group(
            Name=f"{app.name}-{color}", Protocol="HTTP", Port=8080, VpcId=app.vpc_id, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        setattr(app, f"{color}_target_group", arn)
    balancer = elbv2.create_load_balancer(Name=app.name, Subnets=subnets, SecurityGroups=[group])
    weights = [
        {"TargetGroupArn": app.blue_target_group, "Weight": 100},
        {"TargetGroupArn": app.green_target_group, "Weight": 0},
    ]
    app.listener_arn = elbv2.create_listener(
        LoadBalancerArn=balancer["LoadBalancers"][0]["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "ForwardConfig": {"TargetGroups": weights}}],
    )["Listeners"][0]["ListenerArn"]
    return subnets[0], group


def _service(app: App, name: str, body: dict[str, Any], network: tuple[str, str], **extra: Any) -> None:
    ecs = client("ecs")
    ecs.register_task_definition(**body)
    ecs.create_service(
        cluster=app.cluster,
        serviceName=name,
        taskDefinition=body["family"],
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": [network[0]],
                "securityGroups": [network[1]],
                "assignPublicIp": "DISABLED",
            }
        },
        **extra,
    )


def _entry(app: App, container: str, port: int) -> dict[str, Any]:
    return {
        "loadBalancers": [{"targetGroupArn": app.blue_target_group, "containerName": container, "containerPort": port}]
    }


def _http_listener(port: int, **extra: Any) -> dict[str, Any]:
    return {"portMapping": {"port": port, "protocol": "http"}, **extra}


# --- colorteller ---------------------------------------------------------------------------------

COLORS = ["white", "black", "blue"]


def seed_colorteller() -> App:
    app = App(
        name="colorteller",
        cluster="color",
        mesh="color-mesh",
        services=["color-gateway", *(f"colorteller-{c}" for c in COLORS)],
        namespace="color-sc.local",
    )
    network = _network(app)
    client("ecs").create_cluster(clusterName=app.cluster)
    mesh = client("appmesh")
    mesh.create_mesh(meshName=app.mesh, spec={"egressFilter": {"type": "DROP_ALL"}})
    for color in COLORS:
        mesh.create_virtual_node(
            meshName=app.mesh,
            virtualNodeName=f"colorteller-{color}-vn",
            spec={
                "listeners": [
                    _http_listener(
                        9080,
                        healthCheck={
                            "protocol": "http",
                            "path": "/ping",
                            "healthyThreshold": 2,
                            "unhealthyThreshold": 2,
                            "timeoutMillis": 2000,
                            "intervalMillis": 5000,
                        },
                    )
                ],
                "serviceDiscovery": {"dns": {"hostname": f"colorteller-{color}.color.local"}},
            },
        )
        _service(
            app,
            f"colorteller-{color}",
            _task_definition(f"colorteller-{color}", 9080, f"mesh/{app.mesh}/virtualNode/colorteller-{color}-vn"),
            network,
        )
    mesh.create_virtual_router(
        meshName=app.mesh, virtualRouterName="colorteller-router", spec={"listeners": [_http_listener(9080)]}
    )
    routes: dict[str, dict[str, Any]] = {
        "white": {
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [{"virtualNode": "colorteller-white-vn", "weight": 1}]},
                "retryPolicy": {
                    "maxRetries": 2,
                    "perRetryTimeout": {"unit": "ms", "value": 1000},
                    "httpRetryEvents": ["server-error"],
                },
                "timeout": {"perRequest": {"unit": "s", "value": 30}},
            }
        },
        "black": {
            "httpRoute": {
                "match": {"prefix": "/black"},
                "action": {"weightedTargets": [{"virtualNode": "colorteller-black-vn", "weight": 1}]},
            }
        },
        "blue": {
            "priority": 1,
            "httpRoute": {
                "match": {"prefix": "/", "headers": [{"name": "x-color", "match": {"exact": "blue"}}]},
                "action": {"weightedTargets": [{"virtualNode": "colorteller-blue-vn", "weight": 1}]},
            },
        },
    }
    for name, spec in routes.items():
        mesh.create_route(meshName=app.mesh, virtualRouterName="colorteller-router", routeName=name, spec=spec)
    mesh.create_virtual_service(
        meshName=app.mesh,
        virtualServiceName="colorteller.color.local",
        spec={"provider": {"virtualRouter": {"virtualRouterName": "colorteller-router"}}},
    )
    mesh.create_virtual_gateway(
        meshName=app.mesh, virtualGatewayName="color-gw", spec={"listeners": [_http_listener(8443)]}
    )
    for name, prefix in (("gr-color", "/color"), ("gr-root", "/")):
        mesh.create_gateway_route(
            meshName=app.mesh,
            virtualGatewayName="color-gw",
            gatewayRouteName=name,
            spec={
                "httpRoute": {
                    "match": {"prefix": prefix},
                    "action": {"target": {"virtualService": {"virtualServiceName": "colorteller.color.local"}}},
                }
            },
        )
    gateway = _task_definition("color-gateway", None, f"mesh/{app.mesh}/virtualGateway/color-gw")
    _service(app, "color-gateway", gateway, network, **_entry(app, "envoy", 8443))
    return app


# --- bank ----------------------------------------------------------------------------------------


def _cloud_map(namespace: str, name: str) -> dict[str, Any]:
    # moto requires attributes (AWS does not).
    return {"awsCloudMap": {"namespaceName": namespace, "serviceName": name, "attributes": []}}


def seed_bank() -> App:
    app = App(
        name="bank",
        cluster="bank",
        mesh="bank-mesh",
        services=["bank-gateway", "web", "accounts-v1", "accounts-v2", "ledger"],
        namespace="bank.local",
        retire=["bank-gateway"],
    )
    network = _network(app)
    client("ecs").create_cluster(clusterName=app.cluster)
    discovery = client("servicediscovery")
    discovery.create_private_dns_namespace(Name="bank.local", Vpc=app.vpc_id)
    namespace_id = next(n["Id"] for n in discovery.list_namespaces()["Namespaces"] if n["Name"] == "bank.local")
    mesh = client("appmesh")
    mesh.create_mesh(meshName=app.mesh)
    sds = {"sds": {"secretName": "spiffe://bank.local/ca"}}
    mesh.create_virtual_node(
        meshName=app.mesh,
        virtualNodeName="web-vn",
        spec={
            "listeners": [
                _http_listener(
                    8080,
                    tls={
                        "mode": "STRICT",
                        "certificate": {"file": {"certificateChain": "/certs/web.pem", "privateKey": "/certs/web.key"}},
                        "validation": {"trust": sds},
                    },
                )
            ],
            "serviceDiscovery": _cloud_map("bank.local", "web"),
            "backends": [
                {"virtualService": {"virtualServiceName": f"{name}.bank.local"}}
                for name in ("accounts", "ledger", "audit")
            ],
            "backendDefaults": {
                "clientPolicy": {
                    "tls": {
                        "certificate": {"sds": {"secretName": "spiffe://bank.local/web"}},
                        "validation": {"trust": sds},
                    }
                }
            },
        },
    )
    for version in ("v1", "v2"):
        mesh.create_virtual_node(
            meshName=app.mesh,
            virtualNodeName=f"accounts-{version}-vn",
            spec={
                "listeners": [
                    _http_listener(
                        8080,
                        timeout={"http": {"perRequest": {"unit": "s", "value": 10}}},
                        connectionPool={"http": {"maxConnections": 50, "maxPendingRequests": 10}},
                        outlierDetection={
                            "maxServerErrors": 5,
                            "maxEjectionPercent": 50,
                            "interval": {"unit": "s", "value": 10},
                            "baseEjectionDuration": {"unit": "s", "value": 30},
                        },
                    )
                ],
                "serviceDiscovery": _cloud_map("bank.local", f"accounts-{version}"),
            },
        )
    mesh.create_virtual_node(
        meshName=app.mesh,
        virtualNodeName="ledger-vn",
        spec={
            "listeners": [{"portMapping": {"port": 7070, "protocol": "grpc"}}],
            "serviceDiscovery": _cloud_map("bank.local", "ledger"),
        },
    )
    mesh.create_virtual_node(
        meshName=app.mesh,
        virtualNodeName="audit-vn",
        spec={
            "listeners": [_http_listener(8080)],
            "serviceDiscovery": {"dns": {"hostname": "audit.bank.internal"}},
        },
    )
    mesh.create_virtual_router(
        meshName=app.mesh, virtualRouterName="accounts-router", spec={"listeners": [_http_listener(8080)]}
    )
    mesh.create_route(
        meshName=app.mesh,
        virtualRouterName="accounts-router",
        routeName="canary",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {
                    "weightedTargets": [
                        {"virtualNode": "accounts-v1-vn", "weight": 90},
                        {"virtualNode": "accounts-v2-vn", "weight": 10},
                    ]
                },
                "retryPolicy": {
                    "maxRetries": 3,
                    "perRetryTimeout": {"unit": "s", "value": 2},
                    "httpRetryEvents": ["server-error", "gateway-error"],
                    "tcpRetryEvents": ["connection-error"],
                },
                "timeout": {"perRequest": {"unit": "s", "value": 20}},
            }
        },
    )
    for name, provider in (
        ("web", {"virtualNode": {"virtualNodeName": "web-vn"}}),
        ("accounts", {"virtualRouter": {"virtualRouterName": "accounts-router"}}),
        ("ledger", {"virtualNode": {"virtualNodeName": "ledger-vn"}}),
        ("audit", {"virtualNode": {"virtualNodeName": "audit-vn"}}),
    ):
        mesh.create_virtual_service(
            meshName=app.mesh, virtualServiceName=f"{name}.bank.local", spec={"provider": provider}
        )
    mesh.create_virtual_gateway(
        meshName=app.mesh,
        virtualGatewayName="bank-gw",
        spec={
            "listeners": [
                _http_listener(
                    8443,
                    tls={
                        "mode": "STRICT",
                        "certificate": {"acm": {"certificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/bank"}},
                    },
                )
            ],
            "backendDefaults": {
                "clientPolicy": {
                    "tls": {
                        "certificate": {"sds": {"secretName": "spiffe://bank.local/gw"}},
                        "validation": {"trust": sds},
                    }
                }
            },
        },
    )
    mesh.create_gateway_route(
        meshName=app.mesh,
        virtualGatewayName="bank-gw",
        gatewayRouteName="all",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"target": {"virtualService": {"virtualServiceName": "web.bank.local"}}},
            }
        },
    )
    gateway = _task_definition("bank-gateway", None, f"mesh/{app.mesh}/virtualGateway/bank-gw")
    _service(app, "bank-gateway", gateway, network, **_entry(app, "envoy", 8443))
    for name, node in (("web", "web-vn"), ("accounts-v1", "accounts-v1-vn"), ("accounts-v2", "accounts-v2-vn")):
        _service(app, name, _task_definition(name, 8080, f"mesh/{app.mesh}/virtualNode/{node}"), network)
    ledger = discovery.create_service(
        Name="ledger", NamespaceId=namespace_id, DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}]}
    )["Service"]
    _service(
        app,
        "ledger",
        _task_definition("ledger", 7070, None),
        network,
        serviceRegistries=[{"registryArn": ledger["Arn"]}],
    )
    return app


def spec(app: App) -> MigrationSpec:
    return MigrationSpec.model_validate(
        {
            "name": app.name,
            "region": REGION,
            "blue": {"cluster": app.cluster, "services": app.services, "mesh": app.mesh, "retire": app.retire},
            "green": {"cluster": app.cluster, "namespace": app.namespace},
            "edge": [
                {
                    "type": "alb",
                    "listener_arn": app.listener_arn,
                    "blue_target_group_arn": app.blue_target_group,
                    "green_target_group_arn": app.green_target_group,
                }
            ],
            "approvers": ["alice", "bob"],
            "requested_by": "carol",
        }
    )
