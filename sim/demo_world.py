"""The demo's blue shop, seeded into the simulated AWS, and the spec that migrates it.

What is seeded is what a real App Mesh shop looks like from the AWS APIs (the three services of the
seeds, frontend -> user-api, stock-api, plus an order worker on an SQS queue):

- ECS cluster ``shop``: task definitions with an Envoy sidecar (the public App Mesh Envoy image),
  ``proxyConfiguration`` of type APPMESH, ``APPMESH_RESOURCE_ARN`` on the sidecar, the app
  container ``dependsOn`` Envoy being healthy; port mappings named on some services and unnamed on
  another (the translation names those);
- App Mesh ``shop-mesh``: a virtual node per service, virtual services ``<svc>.shop.local``, a
  virtual router with a route for user-api, an ingress virtual gateway with a gateway route;
- an ALB ``shop`` whose listener forwards 100/0 to the blue/green target groups of the frontend
  (IaC usually creates green's target group ahead, at weight 0). Nothing is registered in them:
  the simulated ECS registers blue's frontend tasks in blue's group as they start, and green's in
  green's once the migration creates green, and the groups' health checks (10 s x 3) take their
  time, as on AWS;
- a weighted Route 53 record pair ``api.shop.example.com`` (blue 100, green 0);
- CloudWatch alarms on green's target group (5xx count, p99 latency); moto never evaluates them,
  the traffic simulator (sim/traffic.py) does;
- an SQS queue ``shop-orders`` consumed by the ``order-worker`` service.

Only what an account holds before a migration is seeded; what AWS does by itself (tasks, their
registration, deployments completing) the simulation does (sim/aws/ecs_tasks.py), in its own time.
``wait_until_running`` waits for blue to be up, as it has been for months in a real account.

Every call goes through boto3's standard configuration: the caller points ``AWS_ENDPOINT_URL`` at
the simulation (``aws_environment``), exactly as a user would point meshshift at it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3

from meshshift.migration.edge.alb import parse_elb_arn

REGION = "us-east-1"
ACCOUNT = "123456789012"
APP = "shop"
CLUSTER = "shop"
MESH = "shop-mesh"
NAMESPACE = "shop.local"
ENVOY_IMAGE = "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.6.0-prod"
ZONE_NAME = "shop.example.com"
RECORD_NAME = "api.shop.example.com"
BLUE_RECORD_VALUE = "blue.shop.example.com"
GREEN_RECORD_VALUE = "green.shop.example.com"
ALARM_5XX = "shop-green-5xx"
ALARM_P99 = "shop-green-p99"
QUEUE_NAME = "shop-orders"
WORKER = "order-worker"
GREEN_WORKER = "order-worker-sc"
# The target groups' health checks and draining, as an API's IaC would set them (ELB's defaults are
# 30 s x 5 and 300 s).
HEALTH_CHECK_INTERVAL_SECONDS = 10
HEALTHY_THRESHOLD = 3
DEREGISTRATION_DELAY_SECONDS = 60
# Green's 5xx responses per minute that count as an incident, and its p99 latency limit in seconds.
ALARM_5XX_THRESHOLD = 50.0
ALARM_P99_THRESHOLD_SECONDS = 1.0


@dataclass(frozen=True)
class ShopService:
    """One blue service of the shop, as its task definition describes it."""

    name: str
    port: int | None
    port_name: str | None  # None: an unnamed port mapping, as older task definitions have
    desired_count: int
    backends: tuple[str, ...]  # virtual services it calls
    image_tag: str = "2.7.1"


SERVICES: tuple[ShopService, ...] = (
    ShopService("frontend", 8080, "http", 3, ("user-api", "stock-api")),
    ShopService("user-api", 8081, "http", 2, ()),
    ShopService("stock-api", 8082, None, 2, ()),
)
WORKER_SERVICE = ShopService(WORKER, None, None, 2, ("stock-api",))
FRONT_SERVICE = "frontend"  # the one behind the ALB and Route 53

# What each green service's deep /health checks (its own dependencies, not just liveness).
HEALTH_DEPENDENCIES: dict[str, tuple[str, ...]] = {
    "frontend": ("user-api", "stock-api", "session-cache"),
    "user-api": ("users-db",),
    "stock-api": ("stock-db", "stock-cache"),
}


@dataclass
class DemoWorld:
    """Identifiers of what was seeded: the spec is built from these, the summary reads them back."""

    region: str
    vpc_id: str
    subnet_ids: list[str]
    security_group_id: str
    load_balancer_arn: str
    listener_arn: str
    blue_target_group_arn: str
    green_target_group_arn: str
    hosted_zone_id: str
    queue_url: str
    created: list[str] = field(default_factory=list)

    @property
    def load_balancer_dimension(self) -> str:
        parsed = parse_elb_arn(self.listener_arn, "listener")
        assert parsed is not None, self.listener_arn
        return parsed.load_balancer_dimension

    def target_group_dimension(self, arn: str) -> str:
        parsed = parse_elb_arn(arn, "targetgroup")
        assert parsed is not None, arn
        return parsed.target_group_dimension


# --- the process's AWS configuration ------------------------------------------------------------


def sim_environment(endpoint: str, region: str = REGION) -> dict[str, str]:
    """boto3's standard variables for the simulation: fake credentials, region, endpoint.

    The shared config files are hidden so a developer's real profiles can never be used.
    """
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_CONFIG_FILE": os.devnull,
    }


_HIDDEN = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


@contextlib.contextmanager
def aws_environment(endpoint: str, region: str = REGION) -> Iterator[None]:
    """Point this process's boto3 at the simulation; the previous environment comes back on exit."""
    names = [*sim_environment(endpoint, region), *_HIDDEN]
    saved = {name: os.environ.get(name) for name in names}
    try:
        for name in _HIDDEN:
            os.environ.pop(name, None)
        os.environ.update(sim_environment(endpoint, region))
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def client(service: str, region: str = REGION) -> Any:
    """A boto3 client from the standard configuration (the endpoint comes from AWS_ENDPOINT_URL)."""
    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


# --- seeding ------------------------------------------------------------------------------------


def _logs(prefix: str, region: str) -> dict[str, Any]:
    return {
        "logDriver": "awslogs",
        "options": {"awslogs-group": f"/ecs/{APP}", "awslogs-region": region, "awslogs-stream-prefix": prefix},
    }


def task_definition(service: ShopService, region: str = REGION) -> dict[str, Any]:
    """The blue task definition: the app plus its Envoy sidecar, wired the way App Mesh requires."""
    node_arn = f"arn:aws:appmesh:{region}:{ACCOUNT}:mesh/{MESH}/virtualNode/{service.name}-node"
    app: dict[str, Any] = {
        "name": "app",
        "image": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/shop/{service.name}:{service.image_tag}",
        "essential": True,
        "memory": 384,
        "environment": [
            {"name": "LOG_LEVEL", "value": "info"},
            *(
                {"name": "BACKEND_URL_" + b.upper().replace("-", "_"), "value": f"http://{b}.{NAMESPACE}"}
                for b in service.backends
            ),
        ],
        "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}],
        "logConfiguration": _logs(service.name, region),
    }
    if service.port is not None:
        mapping: dict[str, Any] = {"containerPort": service.port, "protocol": "tcp"}
        if service.port_name is not None:
            mapping |= {"name": service.port_name, "appProtocol": "http"}
        app["portMappings"] = [mapping]
    envoy = {
        "name": "envoy",
        "image": ENVOY_IMAGE,
        "essential": True,
        "memory": 128,
        "user": "1337",
        "logConfiguration": _logs(f"{service.name}-envoy", region),
        "environment": [
            {"name": "APPMESH_RESOURCE_ARN", "value": node_arn},
            {"name": "ENVOY_LOG_LEVEL", "value": "info"},
        ],
        "healthCheck": {
            "command": ["CMD-SHELL", "curl -s http://localhost:9901/server_info | grep state | grep -q LIVE"],
            "interval": 5,
            "timeout": 2,
            "retries": 3,
            "startPeriod": 10,
        },
    }
    properties = [
        {"name": "IgnoredUID", "value": "1337"},
        {"name": "ProxyIngressPort", "value": "15000"},
        {"name": "ProxyEgressPort", "value": "15001"},
        {"name": "EgressIgnoredIPs", "value": "169.254.170.2,169.254.169.254"},
    ]
    if service.port is not None:
        properties.append({"name": "AppPorts", "value": str(service.port)})
    return {
        "family": f"{APP}-{service.name}",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "executionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{APP}-task-execution",
        "taskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/{APP}-{service.name}",
        "containerDefinitions": [app, envoy],
        "proxyConfiguration": {"type": "APPMESH", "containerName": "envoy", "properties": properties},
    }


def seed_shop(region: str = REGION) -> DemoWorld:
    """Create the blue shop in the simulated AWS (the endpoint comes from the environment)."""
    created: list[str] = []
    ec2 = client("ec2", region)
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet_ids = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=f"{region}{zone}")["Subnet"]["SubnetId"]
        for cidr, zone in (("10.20.1.0/24", "a"), ("10.20.2.0/24", "b"))
    ]
    sg_id = ec2.create_security_group(GroupName=APP, Description="shop services", VpcId=vpc_id)["GroupId"]
    created.append(f"VPC {vpc_id} with subnets {', '.join(subnet_ids)} and security group {sg_id}")

    elbv2 = client("elbv2", region)
    lb_arn = elbv2.create_load_balancer(Name=APP, Subnets=subnet_ids, SecurityGroups=[sg_id], Scheme="internet-facing")[
        "LoadBalancers"
    ][0]["LoadBalancerArn"]
    groups: dict[str, str] = {}
    for color in ("blue", "green"):
        groups[color] = elbv2.create_target_group(
            Name=f"{APP}-{color}",
            Protocol="HTTP",
            Port=8080,
            VpcId=vpc_id,
            TargetType="ip",
            HealthCheckPath="/health",
            HealthCheckIntervalSeconds=HEALTH_CHECK_INTERVAL_SECONDS,
            HealthyThresholdCount=HEALTHY_THRESHOLD,
        )["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(
            TargetGroupArn=groups[color],
            Attributes=[{"Key": "deregistration_delay.timeout_seconds", "Value": str(DEREGISTRATION_DELAY_SECONDS)}],
        )
    listener_arn = elbv2.create_listener(
        LoadBalancerArn=lb_arn,
        Protocol="HTTP",
        Port=80,
        DefaultActions=[
            {
                "Type": "forward",
                "ForwardConfig": {
                    "TargetGroups": [
                        {"TargetGroupArn": groups["blue"], "Weight": 100},
                        {"TargetGroupArn": groups["green"], "Weight": 0},
                    ]
                },
            }
        ],
    )["Listeners"][0]["ListenerArn"]
    created.append(f"ALB {APP}: listener HTTP:80 forwarding 100/0 to target groups {APP}-blue / {APP}-green")

    ecs = client("ecs", region)
    ecs.create_cluster(clusterName=CLUSTER)
    network = {"awsvpcConfiguration": {"subnets": subnet_ids, "securityGroups": [sg_id], "assignPublicIp": "DISABLED"}}
    for service in (*SERVICES, WORKER_SERVICE):
        arn = ecs.register_task_definition(**task_definition(service, region))["taskDefinition"]["taskDefinitionArn"]
        request: dict[str, Any] = {
            "cluster": CLUSTER,
            "serviceName": service.name,
            "taskDefinition": arn,
            "desiredCount": service.desired_count,
            "launchType": "FARGATE",
            "networkConfiguration": network,
        }
        if service.name == FRONT_SERVICE:
            request["loadBalancers"] = [
                {"targetGroupArn": groups["blue"], "containerName": "app", "containerPort": service.port}
            ]
        ecs.create_service(**request)
    names = ", ".join(s.name for s in (*SERVICES, WORKER_SERVICE))
    created.append(f"ECS cluster {CLUSTER}: services {names} (each with an Envoy sidecar, proxyConfiguration APPMESH)")

    _seed_mesh(region)
    created.append(
        f"App Mesh {MESH}: virtual nodes, virtual services *.{NAMESPACE}, router user-api-router, gateway ingress"
    )

    route53 = client("route53", region)
    zone_id = route53.create_hosted_zone(Name=ZONE_NAME, CallerReference=f"{APP}-demo-zone")["HostedZone"]["Id"]
    zone_id = zone_id.removeprefix("/hostedzone/")
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": RECORD_NAME,
                        "Type": "CNAME",
                        "SetIdentifier": identifier,
                        "Weight": weight,
                        "TTL": 60,
                        "ResourceRecords": [{"Value": value}],
                    },
                }
                for identifier, weight, value in (("blue", 100, BLUE_RECORD_VALUE), ("green", 0, GREEN_RECORD_VALUE))
            ]
        },
    )
    created.append(f"Route 53 zone {ZONE_NAME} ({zone_id}): weighted CNAME pair {RECORD_NAME} blue 100 / green 0")

    queue_url = client("sqs", region).create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
    created.append(f"SQS queue {QUEUE_NAME}, consumed by {WORKER}")

    world = DemoWorld(
        region=region,
        vpc_id=vpc_id,
        subnet_ids=subnet_ids,
        security_group_id=sg_id,
        load_balancer_arn=lb_arn,
        listener_arn=listener_arn,
        blue_target_group_arn=groups["blue"],
        green_target_group_arn=groups["green"],
        hosted_zone_id=zone_id,
        queue_url=queue_url,
        created=created,
    )
    _seed_alarms(world)
    created.append(f"CloudWatch alarms {ALARM_5XX} and {ALARM_P99} on green's target group")
    return world


def wait_until_running(region: str = REGION, timeout: float = 120.0, poll: float = 0.2) -> None:
    """Wait until blue's services have started their tasks and completed their deployments, the
    way they have long been running in a real account before anyone migrates them."""
    ecs = client("ecs", region)
    names = [s.name for s in (*SERVICES, WORKER_SERVICE)]
    deadline = time.monotonic() + timeout
    while True:
        services = ecs.describe_services(cluster=CLUSTER, services=names)["services"]
        if all(
            s["runningCount"] == s["desiredCount"]
            and len(s["deployments"]) == 1
            and s["deployments"][0].get("rolloutState") == "COMPLETED"
            for s in services
        ):
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"blue's services did not reach steady state within {timeout:.0f}s")
        time.sleep(poll)


def _seed_mesh(region: str) -> None:
    mesh = client("appmesh", region)
    mesh.create_mesh(meshName=MESH, spec={"egressFilter": {"type": "DROP_ALL"}})
    for service in (*SERVICES, WORKER_SERVICE):
        spec: dict[str, Any] = {
            "backends": [{"virtualService": {"virtualServiceName": f"{b}.{NAMESPACE}"}} for b in service.backends],
            "logging": {"accessLog": {"file": {"path": "/dev/stdout"}}},
        }
        if service.port is not None:
            # moto requires attributes (AWS does not).
            spec["serviceDiscovery"] = {
                "awsCloudMap": {"namespaceName": NAMESPACE, "serviceName": service.name, "attributes": []}
            }
            spec["listeners"] = [
                {
                    "portMapping": {"port": service.port, "protocol": "http"},
                    "healthCheck": {
                        "protocol": "http",
                        "path": "/health",
                        "healthyThreshold": 2,
                        "unhealthyThreshold": 3,
                        "timeoutMillis": 2000,
                        "intervalMillis": 5000,
                    },
                    "timeout": {"http": {"perRequest": {"unit": "s", "value": 15}}},
                }
            ]
        mesh.create_virtual_node(meshName=MESH, virtualNodeName=f"{service.name}-node", spec=spec)
    mesh.create_virtual_router(
        meshName=MESH,
        virtualRouterName="user-api-router",
        spec={"listeners": [{"portMapping": {"port": 8081, "protocol": "http"}}]},
    )
    mesh.create_route(
        meshName=MESH,
        virtualRouterName="user-api-router",
        routeName="user-api-route",
        spec={
            "httpRoute": {
                "match": {"prefix": "/"},
                "action": {"weightedTargets": [{"virtualNode": "user-api-node", "weight": 100}]},
                "timeout": {"perRequest": {"unit": "s", "value": 10}},
                "retryPolicy": {
                    "maxRetries": 2,
                    "perRetryTimeout": {"unit": "s", "value": 3},
                    "httpRetryEvents": ["server-error", "gateway-error"],
                },
            }
        },
    )
    for service in SERVICES:
        provider = (
            {"virtualRouter": {"virtualRouterName": "user-api-router"}}
            if service.name == "user-api"
            else {"virtualNode": {"virtualNodeName": f"{service.name}-node"}}
        )
        mesh.create_virtual_service(
            meshName=MESH, virtualServiceName=f"{service.name}.{NAMESPACE}", spec={"provider": provider}
        )
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
                "action": {"target": {"virtualService": {"virtualServiceName": f"{FRONT_SERVICE}.{NAMESPACE}"}}},
            }
        },
    )


def _seed_alarms(world: DemoWorld) -> None:
    cloudwatch = client("cloudwatch", world.region)
    dimensions = [
        {"Name": "LoadBalancer", "Value": world.load_balancer_dimension},
        {"Name": "TargetGroup", "Value": world.target_group_dimension(world.green_target_group_arn)},
    ]
    common: dict[str, Any] = {
        "Namespace": "AWS/ApplicationELB",
        "Dimensions": dimensions,
        "Period": 60,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanThreshold",
        # No requests means no errors: an idle green is not an incident.
        "TreatMissingData": "notBreaching",
    }
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM_5XX,
        AlarmDescription="green (Service Connect) target group returns 5xx",
        MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum",
        Threshold=ALARM_5XX_THRESHOLD,
        **common,
    )
    cloudwatch.put_metric_alarm(
        AlarmName=ALARM_P99,
        AlarmDescription="green (Service Connect) target group p99 latency",
        MetricName="TargetResponseTime",
        ExtendedStatistic="p99",
        Threshold=ALARM_P99_THRESHOLD_SECONDS,
        **common,
    )


# --- the demo spec ------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    """An ISO 8601 duration of at least one second (the spec's durations are whole seconds here)."""
    return f"PT{max(1, round(value))}S"


def demo_spec(
    world: DemoWorld,
    *,
    health_urls: list[str],
    speed: float = 1.0,
    auto_approve: bool = False,
    approval_timeout_seconds: float = 3600.0,
) -> dict[str, Any]:
    """examples/shop.yaml with the seeded ARNs and ids, and timings short enough for a demo.

    ``speed`` divides every bake, soak and poll interval. Every gate (ramp steps and the
    decommission) asks for an approval; ``auto_approve`` only changes who gives it (the demo
    itself, as alice), so the gates are shown either way.
    """
    del auto_approve  # the gates stay required; see the docstring

    def scaled(seconds: float) -> str:
        return _seconds(seconds / speed)

    ttl = max(1, round(5 / speed))
    return {
        "name": APP,
        "region": world.region,
        "blue": {"cluster": CLUSTER, "services": [s.name for s in SERVICES], "mesh": MESH},
        "green": {"cluster": CLUSTER, "namespace": NAMESPACE, "provision": "create", "service_suffix": "-sc"},
        "edge": [
            {
                "type": "alb",
                "listener_arn": world.listener_arn,
                "rule_arn": None,
                "blue_target_group_arn": world.blue_target_group_arn,
                "green_target_group_arn": world.green_target_group_arn,
            },
            {
                "type": "route53",
                "hosted_zone_id": world.hosted_zone_id,
                "record_name": RECORD_NAME,
                "record_type": "CNAME",
                "ttl": ttl,
                "blue": {"set_identifier": "blue", "value": BLUE_RECORD_VALUE},
                "green": {"set_identifier": "green", "value": GREEN_RECORD_VALUE},
            },
        ],
        "health": {
            "urls": health_urls,
            "consecutive_successes": 2,
            "interval": scaled(2),
            "timeout": "PT2M",
        },
        "ramp": {
            "steps": [1, 5, 25, 50, 100],
            "bake": scaled(15),
            "approval": "required",
            "approval_timeout": _seconds(approval_timeout_seconds),
        },
        "analysis": {
            "interval": scaled(10),
            "window": "PT1M",
            "min_request_count": 50,
            "max_5xx_rate": 0.01,
            "max_p99_latency_ms": 1000,
        },
        "alarms": [ALARM_5XX, ALARM_P99],
        "alarm_poll_interval": scaled(4),
        # ALB metrics have one-minute resolution, so blue reads idle one minute after its last request
        # whatever the window; the window only sets how long the final verification waits.
        "drain": {"max_wait": "PT5M", "window": scaled(30), "poll_interval": scaled(5)},
        "async_workers": [{"blue_service": WORKER, "green_service": GREEN_WORKER, "desired_count": 2}],
        "decommission": {"after": scaled(15), "approval": "required"},
        "approvers": ["alice", "bob"],
        "requested_by": "carol",
        "dry_run": False,
    }


# --- reading the simulated AWS back -------------------------------------------------------------


@dataclass(frozen=True)
class EdgeWeights:
    """Weights as the simulated ALB and Route 53 hold them right now."""

    alb_blue: int
    alb_green: int
    route53_blue: int
    route53_green: int

    @staticmethod
    def share(blue: int, green: int) -> float:
        total = blue + green
        # Route 53 splits equally when every weight is 0; an ALB forward with all 0 sends nothing.
        return green / total if total else 0.5

    @property
    def alb_green_share(self) -> float:
        return self.share(self.alb_blue, self.alb_green) if self.alb_blue + self.alb_green else 0.0

    @property
    def route53_green_share(self) -> float:
        return self.share(self.route53_blue, self.route53_green)


def read_edge_weights(world: DemoWorld) -> EdgeWeights:
    """The ALB listener's forward weights and the Route 53 record pair's weights."""
    listener = client("elbv2", world.region).describe_listeners(ListenerArns=[world.listener_arn])["Listeners"][0]
    alb: dict[str, int] = {}
    for action in listener.get("DefaultActions", []):
        if action.get("Type") != "forward":
            continue
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        for group in groups:
            alb[group["TargetGroupArn"]] = int(group.get("Weight", 1))
        if not groups and action.get("TargetGroupArn"):
            alb[action["TargetGroupArn"]] = 1
    records: dict[str, int] = {}
    pages = client("route53", world.region).get_paginator("list_resource_record_sets")
    for page in pages.paginate(HostedZoneId=world.hosted_zone_id):
        for record in page["ResourceRecordSets"]:
            if record["Name"].rstrip(".") == RECORD_NAME and "SetIdentifier" in record:
                records[record["SetIdentifier"]] = int(record.get("Weight", 0))
    return EdgeWeights(
        alb_blue=alb.get(world.blue_target_group_arn, 0),
        alb_green=alb.get(world.green_target_group_arn, 0),
        route53_blue=records.get("blue", 0),
        route53_green=records.get("green", 0),
    )


def active_services(world: DemoWorld) -> dict[str, int]:
    """ACTIVE ECS services in the shop cluster and their desired counts."""
    ecs = client("ecs", world.region)
    arns: list[str] = []
    for page in ecs.get_paginator("list_services").paginate(cluster=CLUSTER):
        arns.extend(page["serviceArns"])
    found: dict[str, int] = {}
    for start in range(0, len(arns), 10):
        for service in ecs.describe_services(cluster=CLUSTER, services=arns[start : start + 10])["services"]:
            if service.get("status") == "ACTIVE":
                found[service["serviceName"]] = int(service.get("desiredCount", 0))
    return dict(sorted(found.items()))


def mesh_exists(world: DemoWorld) -> bool:
    mesh = client("appmesh", world.region)
    return any(m["meshName"] == MESH for m in mesh.list_meshes().get("meshes", []))
