"""What the benchmarks migrate, seeded into the simulated AWS with plain boto3 (quickly).

One shared base (VPC, subnets, an ALB with one HTTP listener, a hosted zone, an ECS cluster) and
any number of small apps on it. Each app has its own blue ECS services (task definitions with the
App Mesh Envoy sidecar and ``proxyConfiguration``, as meshshift discovers them) and its own edge
resources: an ALB listener rule forwarding 100/0 to its blue/green target groups, a Route 53
weighted record pair, and/or a CloudFront primary + staging distribution with a continuous
deployment policy. By default no App Mesh mesh is created (``blue.mesh`` is left out): discovery
then works from the task definitions alone, which is also what happens after App Mesh's end of
support. ``seed_app(..., mesh=True)`` also creates the mesh the sidecars name: a virtual node per
service (one HTTP listener, DNS discovery, the next service as its backend) and a virtual service
per node, named as green's clients call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3

from meshshift.migration.edge.alb import AlbEdge
from meshshift.migration.edge.cloudfront import CloudFrontEdge
from meshshift.migration.edge.route53 import Route53Edge
from meshshift.migration.spec import MigrationSpec

REGION = "us-east-1"
ACCOUNT = "123456789012"
CLUSTER = "bench"
ZONE = "bench.example.com"
ENVOY_IMAGE = "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.6.0-prod"
MESH = "bench-mesh"  # the mesh the sidecars' APPMESH_RESOURCE_ARN names
APPROVER = "alice"
ALARM = "bench-green-5xx"
REQUESTER = "carol"
SEED_THREADS = 8


def aws(service: str) -> Any:
    """A boto3 client from the standard configuration (AWS_ENDPOINT_URL points at the simulation)."""
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


@dataclass
class Base:
    vpc_id: str
    subnet_ids: list[str]
    security_group_id: str
    listener_arn: str
    hosted_zone_id: str


@dataclass
class App:
    name: str
    services: list[str]
    edges: list[dict[str, Any]] = field(default_factory=list)
    mesh: str | None = None

    def edge_models(self) -> list[AlbEdge | Route53Edge | CloudFrontEdge]:
        spec = MigrationSpec.model_validate(spec_for(self, steps=[100]))
        return list(spec.edge)


def seed_base() -> Base:
    ec2 = aws("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=f"{REGION}{zone}")["Subnet"]["SubnetId"]
        # Room for blue's and green's tasks side by side at N = 5,000 (8,187 task addresses each):
        # two /24s filled up at about 125 services per colour.
        for cidr, zone in (("10.30.0.0/19", "a"), ("10.30.32.0/19", "b"))
    ]
    sg = ec2.create_security_group(GroupName="bench", Description="bench services", VpcId=vpc_id)["GroupId"]
    elbv2 = aws("elbv2")
    lb = elbv2.create_load_balancer(Name="bench", Subnets=subnets, SecurityGroups=[sg])["LoadBalancers"][0]
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}],
    )["Listeners"][0]["ListenerArn"]
    zone_id = aws("route53").create_hosted_zone(Name=ZONE, CallerReference="bench-zone")["HostedZone"]["Id"]
    aws("ecs").create_cluster(clusterName=CLUSTER)
    # The alarm the rollback bench signals (the workflow acts only on alarms its spec lists).
    aws("cloudwatch").put_metric_alarm(
        AlarmName=ALARM,
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=50.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    return Base(vpc_id, subnets, sg, listener, zone_id.removeprefix("/hostedzone/"))


def task_definition(family: str, port: int) -> dict[str, Any]:
    """An App Mesh task definition: the app, the Envoy sidecar it depends on, proxyConfiguration."""
    node = f"arn:aws:appmesh:{REGION}:{ACCOUNT}:mesh/{MESH}/virtualNode/{family}-node"
    return {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {
                "name": "app",
                "image": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/bench/{family}:1.0",
                "essential": True,
                "portMappings": [{"containerPort": port, "protocol": "tcp", "name": "http", "appProtocol": "http"}],
                "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}],
            },
            {
                "name": "envoy",
                "image": ENVOY_IMAGE,
                "essential": True,
                "user": "1337",
                "environment": [{"name": "APPMESH_RESOURCE_ARN", "value": node}],
            },
        ],
        "proxyConfiguration": {
            "type": "APPMESH",
            "containerName": "envoy",
            "properties": [
                {"name": "IgnoredUID", "value": "1337"},
                {"name": "ProxyIngressPort", "value": "15000"},
                {"name": "ProxyEgressPort", "value": "15001"},
                {"name": "AppPorts", "value": str(port)},
            ],
        },
    }


def _seed_service(base: Base, name: str, target_group_arn: str | None = None) -> None:
    ecs = aws("ecs")
    arn = ecs.register_task_definition(**task_definition(name, 8080))["taskDefinition"]["taskDefinitionArn"]
    request: dict[str, Any] = {
        "cluster": CLUSTER,
        "serviceName": name,
        "taskDefinition": arn,
        "desiredCount": 1,
        "launchType": "FARGATE",
        "networkConfiguration": {
            "awsvpcConfiguration": {"subnets": base.subnet_ids, "securityGroups": [base.security_group_id]}
        },
    }
    if target_group_arn is not None:
        # ECS (simulated) registers the service's task in the group; green's plan follows this attachment.
        request["loadBalancers"] = [{"targetGroupArn": target_group_arn, "containerName": "app", "containerPort": 8080}]
    ecs.create_service(**request)


def _seed_alb(base: Base, app: str, priority: int) -> dict[str, Any]:
    elbv2 = aws("elbv2")
    groups: dict[str, str] = {}
    for color in ("blue", "green"):
        groups[color] = elbv2.create_target_group(
            Name=f"{app}-{color}"[:32], Protocol="HTTP", Port=8080, VpcId=base.vpc_id, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
    rule = elbv2.create_rule(
        ListenerArn=base.listener_arn,
        Priority=priority,
        Conditions=[{"Field": "path-pattern", "Values": [f"/{app}/*"]}],
        Actions=[
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
    )["Rules"][0]["RuleArn"]
    return {
        "type": "alb",
        "listener_arn": base.listener_arn,
        "rule_arn": rule,
        "blue_target_group_arn": groups["blue"],
        "green_target_group_arn": groups["green"],
    }


def _seed_route53(base: Base, app: str) -> dict[str, Any]:
    name = f"{app}.{ZONE}"
    aws("route53").change_resource_record_sets(
        HostedZoneId=base.hosted_zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": name,
                        "Type": "CNAME",
                        "SetIdentifier": color,
                        "Weight": weight,
                        "TTL": 60,
                        "ResourceRecords": [{"Value": f"{color}.{name}"}],
                    },
                }
                for color, weight in (("blue", 100), ("green", 0))
            ]
        },
    )
    return {
        "type": "route53",
        "hosted_zone_id": base.hosted_zone_id,
        "record_name": name,
        "record_type": "CNAME",
        "ttl": 60,
        "blue": {"set_identifier": "blue", "value": f"blue.{name}"},
        "green": {"set_identifier": "green", "value": f"green.{name}"},
    }


def _distribution_config(ref: str, origin: str) -> dict[str, Any]:
    return {
        "CallerReference": ref,
        "Comment": ref,
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "app",
                    "DomainName": origin,
                    "CustomOriginConfig": {"HTTPPort": 80, "HTTPSPort": 443, "OriginProtocolPolicy": "https-only"},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "app",
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        },
    }


def _seed_cloudfront(app: str) -> dict[str, Any]:
    """A primary serving blue, a staging copy changed to serve green, a policy (weight 0) attached."""
    cf = aws("cloudfront")
    primary = cf.create_distribution(DistributionConfig=_distribution_config(app, f"blue.{app}.{ZONE}"))
    primary_id = primary["Distribution"]["Id"]
    staging = cf.copy_distribution(
        PrimaryDistributionId=primary_id, Staging=True, IfMatch=primary["ETag"], CallerReference=f"{app}-staging"
    )["Distribution"]
    config = cf.get_distribution_config(Id=staging["Id"])
    config["DistributionConfig"]["Origins"]["Items"][0]["DomainName"] = f"green.{app}.{ZONE}"
    cf.update_distribution(Id=staging["Id"], IfMatch=config["ETag"], DistributionConfig=config["DistributionConfig"])
    policy = cf.create_continuous_deployment_policy(
        ContinuousDeploymentPolicyConfig={
            "StagingDistributionDnsNames": {"Quantity": 1, "Items": [staging["DomainName"]]},
            "Enabled": True,
            "TrafficConfig": {"Type": "SingleWeight", "SingleWeightConfig": {"Weight": 0.0}},
        }
    )["ContinuousDeploymentPolicy"]
    config = cf.get_distribution_config(Id=primary_id)
    config["DistributionConfig"]["ContinuousDeploymentPolicyId"] = policy["Id"]
    cf.update_distribution(Id=primary_id, IfMatch=config["ETag"], DistributionConfig=config["DistributionConfig"])
    return {
        "type": "cloudfront",
        "distribution_id": primary_id,
        "staging_distribution_id": staging["Id"],
        "continuous_deployment_policy_id": policy["Id"],
        # CloudFront cannot carry more than 15% before promotion: 25% and 50% hold it at 15%
        # while the other shifters move on, and 100% promotes the staging config.
        "promotion": "hold_at_cap",
    }


def seed_app(base: Base, name: str, index: int, *, services: int, edges: Sequence[str], mesh: bool = False) -> App:
    """One app: ``services`` blue services and one resource per edge mechanism in ``edges``, and
    with ``mesh`` the App Mesh its sidecars name (one app a world: the mesh's name is fixed).

    With an ALB edge, the app's first service runs behind its blue target group (the group and its
    listener rule come first: ECS only registers tasks in a group a load balancer uses).
    """
    app = App(name=name, services=[f"{name}-s{i}" for i in range(services)])
    front: str | None = None
    for kind in edges:
        if kind == "alb":
            app.edges.append(_seed_alb(base, name, priority=index + 1))
            front = app.edges[-1]["blue_target_group_arn"]
    with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
        list(pool.map(lambda svc: _seed_service(base, svc, front if svc == app.services[0] else None), app.services))
    for kind in edges:
        if kind == "alb":
            continue
        if kind == "route53":
            app.edges.append(_seed_route53(base, name))
        else:
            app.edges.append(_seed_cloudfront(name))
    if mesh:
        _seed_mesh(app)
    return app


def _seed_mesh(app: App) -> None:
    appmesh = aws("appmesh")
    appmesh.create_mesh(meshName=MESH)
    domain = f"{app.name}.local"  # green's namespace: the names clients call stay the same

    def seed(position: int) -> None:
        service = app.services[position]
        backend = app.services[(position + 1) % len(app.services)]
        appmesh.create_virtual_node(
            meshName=MESH,
            virtualNodeName=f"{service}-node",
            spec={
                "listeners": [{"portMapping": {"port": 8080, "protocol": "http"}}],
                "serviceDiscovery": {"dns": {"hostname": f"{service}.{domain}"}},
                "backends": [{"virtualService": {"virtualServiceName": f"{backend}.{domain}"}}],
            },
        )
        appmesh.create_virtual_service(
            meshName=MESH,
            virtualServiceName=f"{service}.{domain}",
            spec={"provider": {"virtualNode": {"virtualNodeName": f"{service}-node"}}},
        )

    app.mesh = MESH
    with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
        list(pool.map(seed, range(len(app.services))))


def seed_apps(base: Base, prefix: str, count: int, *, edges_for: Any, start: int = 0) -> list[App]:
    """``count`` one-service apps, seeded in parallel; ``edges_for(i)`` names each app's mechanisms."""
    with ThreadPoolExecutor(max_workers=SEED_THREADS) as pool:
        return list(
            pool.map(
                lambda i: seed_app(base, f"{prefix}{i}", start + i, services=1, edges=edges_for(i)),
                range(count),
            )
        )


def spec_for(
    app: App,
    *,
    steps: list[Any],
    approval: str = "required",
    bake: str = "PT0S",
    ecs_rate: float | None = None,
    edge_rate: float | None = None,
) -> dict[str, Any]:
    """The migration spec for ``app``: no deep health URLs, no alarms, analysis too rare to run."""
    rate_limits: dict[str, float] = {}
    if ecs_rate is not None:
        rate_limits["ecs"] = ecs_rate
    if edge_rate is not None:
        rate_limits |= {"elbv2": edge_rate, "route53": edge_rate, "cloudfront": edge_rate}
    return {
        "name": app.name,
        "region": REGION,
        "blue": {"cluster": CLUSTER, "services": app.services, **({"mesh": app.mesh} if app.mesh else {})},
        "green": {"cluster": CLUSTER, "namespace": f"{app.name}.local", "provision": "create", "service_suffix": "-sc"},
        "edge": app.edges,
        "health": {"urls": [], "check_target_health": True, "interval": "PT1S", "timeout": "PT5M"},
        "ramp": {"steps": steps, "bake": bake, "approval": approval, "approval_timeout": "PT2H"},
        # The benches measure the ramp machinery, not metric verdicts: analysis would run hourly.
        "analysis": {"interval": "PT1H", "window": "PT5M"},
        # Listed so the rollback bench's `alarm` signal is acted on; polled hourly (the signal is the path measured).
        "alarms": [ALARM],
        "alarm_poll_interval": "PT1H",
        "decommission": {"after": "PT1H", "approval": "required"},
        "rate_limits": rate_limits,
        "approvers": [APPROVER],
        "requested_by": REQUESTER,
    }
