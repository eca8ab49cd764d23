"""An application seeded with only what an account holds before a migration completes one.

Not the demo's shop: a ``payments`` cluster in ca-central-1 with two blue services, ``ledger-web``
behind an ALB listener that forwards plainly to its blue target group (no weighted forward yet) and
``ledger-sync`` behind nothing; an empty green target group (its only use so far is a test
listener, as ECS requires of a group it registers tasks in); a weighted Route 53 record pair; one
CloudWatch alarm. Nothing is registered anywhere by the test: the simulated ECS runs blue's tasks
and registers them, and later green's.

The migration runs on a real Temporal dev server with the real worker (``meshshift worker`` in
its own process, boto3 pointed at the simulation by ``AWS_ENDPOINT_URL``), on the realistic
profile sped up ``SPEED`` times (every behaviour happens, in fractions of a second). The test
watches the account while it runs and reads it back afterwards:

- validation waits for green's registration: green's group is seeded with ELB's slowest health
  check (10 checks 300 s apart), so green's tasks, once ECS has registered them, stay ``initial``
  while the test looks; validation is seen waiting on them, and only once the test shortens the
  checks (ModifyTargetGroup) do they turn healthy and the migration move on;
- green's target group ends up holding green's own tasks, healthy;
- blue's targets are deregistered by ECS when decommission deletes blue's services, seen
  ``draining`` (ELB's default 300 s delay) while the workflow waits them out, and blue's group is
  deleted only then; green's tasks are in the Cloud Map namespace.

Every wait is on a condition, bounded; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from meshshift.migration import contracts
from meshshift.migration.loading import validate_spec
from meshshift.migration.state import Phase
from meshshift.sim.aws import settings as sim_settings
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
# AWS's realistic timings this many times faster: a task RUNNING in 0.4 s, Route 53 INSYNC in 0.45 s,
# blue's targets healthy in 0.3 s and draining for 3 s (ELB's default 300 s delay), green's held.
SPEED = 100.0
# The whole migration, on a quiet machine about 20 s.
WITHIN = 80.0
# Green's health checks while validation is watched: ELB's slowest (10 checks, 300 s apart), 30 s
# at SPEED, far longer than the test looks; then a usual setting, under which they pass at once.
HELD_CHECKS = {"HealthCheckIntervalSeconds": 300, "HealthyThresholdCount": 10}
RELEASED_CHECKS = {"HealthCheckIntervalSeconds": 10, "HealthyThresholdCount": 2}


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
    checks = {"blue": {"HealthCheckIntervalSeconds": 15, "HealthyThresholdCount": 2}, "green": HELD_CHECKS}
    groups = {
        color: elbv2.create_target_group(
            Name=f"ledger-{color}",
            Protocol="HTTP",
            Port=7000,
            VpcId=vpc,
            TargetType="ip",
            HealthCheckPath="/ping",
            **checks[color],
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


@dataclass
class BlueWatch:
    """Blue's target group as seen while the migration runs: each target's states, in order."""

    states: dict[str, list[str]] = field(default_factory=dict)
    phase_when_all_draining: Phase | None = None

    def seen(self, now: dict[str, str]) -> None:
        for target, state in now.items():
            history = self.states.setdefault(target, [])
            if not history or history[-1] != state:
                history.append(state)


async def watch_blue(endpoint: str, world: Payments, handle: WorkflowHandle[Any, Any], watch: BlueWatch) -> None:
    """Record blue's target states until the group is gone (the caller cancels it otherwise)."""
    while (now := target_states(endpoint, world.blue_group)) is not None:
        watch.seen(now)
        if now and set(now.values()) == {"draining"} and watch.phase_when_all_draining is None:
            status = await stack.query_status(handle)
            watch.phase_when_all_draining = status.phase if status is not None else None
        await asyncio.sleep(0.05)


async def pending_activities(handle: WorkflowHandle[Any, Any]) -> set[str]:
    description = await handle.describe()
    return {a.activity_type.name for a in description.raw_description.pending_activities}


async def test_an_application_with_only_its_pre_migration_state_migrates(
    dev_server: EmbeddedServer, dev_client: Client, moto_server: str, log_dir: Path
) -> None:
    with sim_settings.configured(sim_settings.profile("realistic", speed=SPEED)):
        await asyncio.wait_for(migrate(dev_server, dev_client, moto_server, log_dir), WITHIN)


async def migrate(dev_server: EmbeddedServer, dev_client: Client, moto_server: str, log_dir: Path) -> None:
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
        blue = BlueWatch()
        watching = asyncio.create_task(watch_blue(moto_server, world, handle, blue))
        try:
            released_at = await validation_waits_for_green(moto_server, world, handle)
            report = await handle.result()
        finally:
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(approving, 10)
            with contextlib.suppress(asyncio.CancelledError):
                await watching
        assert not await approver.finish()
    finally:
        worker.stop()
    assert report.outcome == "completed", (report.events[-8:], worker.output()[-3000:])

    # Validation concluded only after green's targets could turn healthy.
    (validated,) = [e for e in report.events if e.kind == "validated"]
    assert validated.time >= released_at, (validated, released_at)

    # Green's group holds green's own web tasks, registered by ECS, healthy; blue's are not in it.
    green = target_states(moto_server, world.green_group)
    assert green == {f"{ip}:7000": "healthy" for ip in task_addresses(moto_server, f"{WEB}-v2")}
    assert green and set(green).isdisjoint(blue_targets)

    # Blue's targets were deregistered (by ECS, as decommission deleted blue's services) and drained
    # while the workflow was still decommissioning; then blue's group was deleted.
    assert set(blue.states) == blue_targets, blue.states
    assert all(states[-1] == "draining" and "healthy" in states for states in blue.states.values()), blue.states
    assert blue.phase_when_all_draining is Phase.DECOMMISSIONING, blue.phase_when_all_draining
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


async def validation_waits_for_green(endpoint: str, world: Payments, handle: WorkflowHandle[Any, Any]) -> datetime:
    """Wait until ECS has registered green's web tasks in green's group and validation is waiting on
    them (still ``initial``), then let their health checks pass; returns when they were let."""
    phase: list[Phase | None] = [None]

    async def registered_while_validating() -> bool:
        green = target_states(endpoint, world.green_group) or {}
        addresses = {f"{ip}:7000" for ip in task_addresses(endpoint, f"{WEB}-v2")}
        if not green or set(green) != addresses or set(green.values()) != {"initial"}:
            return False
        status = await stack.query_status(handle)
        phase[0] = status.phase if status is not None else None
        return phase[0] is Phase.VALIDATING

    await eventually_async(registered_while_validating, within=40.0)
    # Validation's own activities are the ones waiting: ECS's deployment is not COMPLETED, nor the
    # group healthy, until the targets have passed their checks.
    waiting = await pending_activities(handle)
    assert waiting & {contracts.WAIT_SERVICES_STABLE.name, contracts.CHECK_TARGET_HEALTH.name}, waiting
    released_at = datetime.now(UTC)
    stack._client("elbv2", endpoint, REGION).modify_target_group(TargetGroupArn=world.green_group, **RELEASED_CHECKS)
    return released_at


async def eventually(condition: Callable[[], bool], within: float = 30.0) -> None:
    async def check() -> bool:
        return condition()

    await eventually_async(check, within)


async def eventually_async(condition: Callable[[], Any], within: float = 30.0) -> None:
    """Poll ``condition`` (a coroutine function) until it is true; fail after ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "the simulated account did not get there in time"
        await asyncio.sleep(0.05)
