"""An application seeded with only what an account holds before a migration completes one.

Not the demo's shop: a ``payments`` cluster with two blue services, ``ledger-web`` behind an ALB
listener that forwards plainly to its blue target group (no weighted forward yet) and
``ledger-sync`` behind nothing; an empty green target group (its only use so far is a test
listener, as ECS requires of a group it registers tasks in); a weighted Route 53 record pair; one
CloudWatch alarm. Nothing is registered anywhere by the test: the simulated ECS runs blue's tasks
and registers them, and later green's.

The migration runs on a real Temporal dev server with the real worker (``meshshift worker`` in
its own process, boto3 pointed at the simulation by ``AWS_ENDPOINT_URL``), on the tests' realistic
profile (every behaviour, sped up). Afterwards the simulation is read back: green's target group
holds green's own tasks, healthy; blue's services are gone and their targets were deregistered
and drained before blue's group was deleted; green's tasks are in the Cloud Map namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from meshshift.migration.loading import validate_spec
from meshshift.workers.embedded_server import EmbeddedServer
from tests.reliability import stack
from tests.reliability.stack import Approver, WorkerProcess

pytestmark = pytest.mark.integration

REGION = "ca-central-1"
CLUSTER = "payments"
WEB, SYNC = "ledger-web", "ledger-sync"
ZONE = "payments.example.org"
RECORD = f"ledger.{ZONE}"
ALARM = "ledger-green-5xx"


@dataclass
class Payments:
    listener_arn: str
    blue_group: str
    green_group: str
    zone_id: str
    subnets: list[str]


def seed(endpoint: str) -> Payments:
    """Only what the account holds before the migration (no target is registered by hand)."""
    ec2 = stack._client("ec2", endpoint, REGION)
    vpc = ec2.create_vpc(CidrBlock="172.31.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=cidr, AvailabilityZone=f"{REGION}{az}")["Subnet"]["SubnetId"]
        for cidr, az in (("172.31.16.0/20", "a"), ("172.31.32.0/20", "b"))
    ]
    sg = ec2.create_security_group(GroupName="ledger", Description="ledger", VpcId=vpc)["GroupId"]
    elbv2 = stack._client("elbv2", endpoint, REGION)
    lb = elbv2.create_load_balancer(Name="ledger", Subnets=subnets, SecurityGroups=[sg])["LoadBalancers"][0]
    groups = {
        color: elbv2.create_target_group(
            Name=f"ledger-{color}",
            Protocol="HTTP",
            Port=7000,
            VpcId=vpc,
            TargetType="ip",
            HealthCheckPath="/ping",
            HealthCheckIntervalSeconds=15,
            HealthyThresholdCount=2,
        )["TargetGroups"][0]["TargetGroupArn"]
        for color in ("blue", "green")
    }
    # Production: a plain forward to blue. Green's group is only behind the test listener.
    listener = elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["blue"]}],
    )["Listeners"][0]["ListenerArn"]
    elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=8080,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["green"]}],
    )

    ecs = stack._client("ecs", endpoint, REGION)
    ecs.create_cluster(clusterName=CLUSTER)
    for name, port in ((WEB, 7000), (SYNC, None)):
        app: dict[str, Any] = {
            "name": "ledger",
            "image": f"111122223333.dkr.ecr.{REGION}.amazonaws.com/{name}:9.1",
            "essential": True,
            "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}],
        }
        if port:
            app["portMappings"] = [{"containerPort": port, "name": "api", "appProtocol": "http"}]
        envoy = {
            "name": "envoy",
            "image": "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29.6.0-prod",
            "essential": True,
            "user": "1337",
            "environment": [
                {
                    "name": "APPMESH_RESOURCE_ARN",
                    "value": f"arn:aws:appmesh:{REGION}:111122223333:mesh/ledger/virtualNode/{name}",
                }
            ],
        }
        arn = ecs.register_task_definition(
            family=name,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="512",
            memory="1024",
            containerDefinitions=[app, envoy],
            proxyConfiguration={
                "type": "APPMESH",
                "containerName": "envoy",
                "properties": [
                    {"name": "AppPorts", "value": str(port or 7001)},
                    {"name": "IgnoredUID", "value": "1337"},
                ],
            },
        )["taskDefinition"]["taskDefinitionArn"]
        request: dict[str, Any] = {
            "cluster": CLUSTER,
            "serviceName": name,
            "taskDefinition": arn,
            "desiredCount": 2,
            "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [sg]}},
        }
        if port:
            request["loadBalancers"] = [
                {"targetGroupArn": groups["blue"], "containerName": "ledger", "containerPort": port}
            ]
        ecs.create_service(**request)

    route53 = stack._client("route53", endpoint, REGION)
    zone_id = route53.create_hosted_zone(Name=ZONE, CallerReference="ledger")["HostedZone"]["Id"].split("/")[-1]
    route53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": RECORD,
                        "Type": "CNAME",
                        "SetIdentifier": color,
                        "Weight": weight,
                        "TTL": 30,
                        "ResourceRecords": [{"Value": f"{color}.{ZONE}"}],
                    },
                }
                for color, weight in (("blue", 10), ("green", 0))
            ]
        },
    )
    stack._client("cloudwatch", endpoint, REGION).put_metric_alarm(
        AlarmName=ALARM,
        Namespace="AWS/ApplicationELB",
        MetricName="HTTPCode_Target_5XX_Count",
        Dimensions=[{"Name": "TargetGroup", "Value": groups["green"].split(":")[-1]}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10.0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    )
    return Payments(listener, groups["blue"], groups["green"], zone_id, subnets)


def spec(world: Payments) -> dict[str, Any]:
    body = {
        "name": "ledger",
        "region": REGION,
        "blue": {"cluster": CLUSTER, "services": [WEB, SYNC]},
        "green": {"cluster": CLUSTER, "namespace": "ledger.internal", "provision": "create", "service_suffix": "-v2"},
        "edge": [
            {
                "type": "alb",
                "listener_arn": world.listener_arn,
                "blue_target_group_arn": world.blue_group,
                "green_target_group_arn": world.green_group,
                "owned_by_meshshift": True,
            },
            {
                "type": "route53",
                "hosted_zone_id": world.zone_id,
                "record_name": RECORD,
                "record_type": "CNAME",
                "ttl": 30,
                "blue": {"set_identifier": "blue", "value": f"blue.{ZONE}"},
                "green": {"set_identifier": "green", "value": f"green.{ZONE}"},
            },
        ],
        "health": {"urls": [], "timeout": "PT2M", "interval": 1},
        "ramp": {"steps": [5, 50, 100], "bake": "PT1S", "approval": "required", "approval_timeout": "PT1H"},
        # No traffic is simulated here: the numbers give no verdict, and that does not hold the ramp.
        "analysis": {"interval": "PT2S", "window": "PT1M", "on_no_data": "pass"},
        "alarms": [ALARM],
        "alarm_poll_interval": "PT2S",
        "drain": {"max_wait": "PT2M", "window": "PT1S", "poll_interval": "PT1S"},
        "decommission": {"after": "PT1S", "approval": "required", "delete": {"target_groups": True}},
        "approvers": ["alice"],
        "requested_by": "carol",
    }
    validate_spec(body)
    return body


def target_states(endpoint: str, group: str) -> dict[str, str] | None:
    elbv2 = stack._client("elbv2", endpoint, REGION)
    try:
        found = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    except elbv2.exceptions.TargetGroupNotFoundException:
        return None
    return {f"{t['Target']['Id']}:{t['Target']['Port']}": t["TargetHealth"]["State"] for t in found}


def task_addresses(endpoint: str, service: str) -> set[str]:
    ecs = stack._client("ecs", endpoint, REGION)
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName=service, desiredStatus="RUNNING")["taskArns"]
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []
    return {
        detail["value"]
        for task in tasks
        for attachment in task["attachments"]
        for detail in attachment["details"]
        if detail["name"] == "privateIPv4Address"
    }


async def test_an_application_with_only_its_pre_migration_state_migrates(
    dev_server: EmbeddedServer, dev_client: Client, moto_server: str, log_dir: Path
) -> None:
    stack.reset_sim(moto_server)
    world = seed(moto_server)
    # Before: blue's web tasks are registered in blue's group by ECS; green's group is empty.
    await eventually(lambda: len(target_states(moto_server, world.blue_group) or {}) == 2)
    assert target_states(moto_server, world.green_group) == {}
    blue_targets = set(target_states(moto_server, world.blue_group) or {})
    assert blue_targets == {f"{ip}:7000" for ip in task_addresses(moto_server, WEB)}

    worker = WorkerProcess(dev_server.address, "pre-migration", moto_server, log_dir)
    worker.start()
    try:
        handle = await stack.start_migration(dev_client, "pre-migration", spec(world), "mesh-migration-ledger")
        approver = Approver(handle, random.Random(17))
        approving = asyncio.create_task(approver.run())
        try:
            report = await asyncio.wait_for(handle.result(), 180)
        finally:
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(approving, 10)
        assert not await approver.finish()
    finally:
        worker.stop()
    assert report.outcome == "completed", (report.events[-8:], worker.output()[-3000:])

    # Green's group holds green's own web tasks, registered by ECS, healthy; blue's are gone from it.
    green = target_states(moto_server, world.green_group)
    assert green == {f"{ip}:7000": "healthy" for ip in task_addresses(moto_server, f"{WEB}-v2")}
    assert green and set(green).isdisjoint(blue_targets)
    # Blue's group was deleted by the decommission, once its deregistered targets had drained.
    assert target_states(moto_server, world.blue_group) is None
    deleted = [d for d in report.decommissioned if world.blue_group in d.deleted]
    assert deleted, report.decommissioned
    ecs = stack._client("ecs", moto_server, REGION)
    statuses = {
        s["serviceName"]: s["status"] for s in ecs.describe_services(cluster=CLUSTER, services=[WEB, SYNC])["services"]
    }
    assert set(statuses.values()) <= {"DRAINING", "INACTIVE"}
    # The web service's green tasks are in the Service Connect namespace under their discovery name; the
    # service behind nothing (no port: a Service Connect client only) runs its green tasks too.
    sd = stack._client("servicediscovery", moto_server, REGION)
    instances = {
        service["Name"]: {
            i["Attributes"]["AWS_INSTANCE_IPV4"] for i in sd.list_instances(ServiceId=service["Id"])["Instances"]
        }
        for service in sd.list_services()["Services"]
    }
    assert task_addresses(moto_server, f"{WEB}-v2") in instances.values(), instances
    assert len(task_addresses(moto_server, f"{SYNC}-v2")) == 2
    # The production listener now forwards by weight, all of it to green.
    listener = stack._client("elbv2", moto_server, REGION).describe_listeners(ListenerArns=[world.listener_arn])
    (forward,) = listener["Listeners"][0]["DefaultActions"]
    assert [(g["TargetGroupArn"], g["Weight"]) for g in forward["ForwardConfig"]["TargetGroups"]] == [
        (world.green_group, 100)
    ]


async def eventually(condition: Any, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the simulated account did not get there in time"
        await asyncio.sleep(0.1)
