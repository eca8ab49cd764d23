"""`meshshift demo` end to end, with shortened timings: the embedded Temporal server, the seeded
simulated AWS, the in-process worker running the real activities, the traffic simulator and the
auto-approver, exactly as the command runs them (``DemoStack``), on free ports.

Each run asserts on the final status AND on the simulated AWS as boto3 reads it back afterwards.

Timing: the completed run cannot be much shorter than about a minute and a half, whatever the
speed. The drain verifies on data that blue receives nothing, and ALB metrics have one-minute
resolution (``meshshift.activities.metrics.period_for``), so blue reads idle only a full minute after its
last request.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from rich.console import Console

from meshshift.migration.state import Phase, RollbackTrigger
from meshshift.sim import demo_world
from meshshift.sim.demo import DemoOptions, DemoStack, print_summary
from tests.netutil import free_port

SPEED = 20.0
# The simulated AWS on its realistic profile, this many times faster: every behaviour happens
# (tasks start and register, health checks, Route 53 PENDING, draining), in a few hundred ms each.
SIM_SPEED = 100.0


def options(tmp_path: Path, **overrides: Any) -> DemoOptions:
    return DemoOptions(
        port=free_port(),
        ui_port=None,  # headless: the Web UI is not under test and costs a port and memory
        data_dir=tmp_path / "temporal",
        auto_approve=True,
        speed=SPEED,
        sim_speed=SIM_SPEED,
        poll_interval=0.5,
        **overrides,
    )


class Aws:
    """boto3 against the demo's simulated AWS, by explicit endpoint (not the demo's environment)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def client(self, service: str) -> Any:
        return boto3.client(  # type: ignore[call-overload]
            service,
            region_name=demo_world.REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def alb_weights(self, listener_arn: str) -> dict[str, int]:
        listener = self.client("elbv2").describe_listeners(ListenerArns=[listener_arn])["Listeners"][0]
        (forward,) = [a for a in listener["DefaultActions"] if a["Type"] == "forward"]
        return {g["TargetGroupArn"]: g["Weight"] for g in forward["ForwardConfig"]["TargetGroups"]}

    def route53_weights(self, zone_id: str) -> dict[str, int]:
        records = self.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        return {
            r["SetIdentifier"]: r["Weight"]
            for r in records
            if r["Name"].rstrip(".") == demo_world.RECORD_NAME and "SetIdentifier" in r
        }

    def services(self) -> dict[str, int]:
        ecs = self.client("ecs")
        arns = ecs.list_services(cluster=demo_world.CLUSTER)["serviceArns"]
        described = ecs.describe_services(cluster=demo_world.CLUSTER, services=arns)["services"] if arns else []
        return {s["serviceName"]: s["desiredCount"] for s in described if s["status"] == "ACTIVE"}

    def targets(self, target_group_arn: str) -> dict[str, str]:
        """Target IP -> state, as the simulated ELB describes them (empty once the group is deleted)."""
        elbv2 = self.client("elbv2")
        try:
            found = elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
        except elbv2.exceptions.TargetGroupNotFoundException:
            return {}
        return {t["Target"]["Id"]: t["TargetHealth"]["State"] for t in found}

    def task_ips(self, service: str) -> set[str]:
        ecs = self.client("ecs")
        arns = ecs.list_tasks(cluster=demo_world.CLUSTER, serviceName=service, desiredStatus="RUNNING")["taskArns"]
        tasks = ecs.describe_tasks(cluster=demo_world.CLUSTER, tasks=arns)["tasks"] if arns else []
        return {
            detail["value"]
            for task in tasks
            for attachment in task.get("attachments", [])
            for detail in attachment["details"]
            if detail["name"] == "privateIPv4Address"
        }

    def meshes(self) -> list[str]:
        return [m["meshName"] for m in self.client("appmesh").list_meshes()["meshes"]]


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    """The simulated account moves on its own clock: wait (bounded) for what it will do by itself."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the simulated AWS did not get there in time"
        await asyncio.sleep(0.1)


@pytest.fixture
async def output() -> AsyncIterator[io.StringIO]:
    yield io.StringIO()


@pytest.mark.timeout(240)
async def test_auto_approve_completes_and_blue_is_gone(tmp_path: Path, output: io.StringIO) -> None:
    console = Console(file=output, width=160)
    async with DemoStack(options(tmp_path), console) as stack:
        result = await stack.run_migration()
        print_summary(stack, result)
        assert stack.world is not None and stack.sim is not None
        world, aws = stack.world, Aws(stack.sim.endpoint)

        assert result.phase is Phase.COMPLETED, output.getvalue()[-4000:]
        assert result.status.green_weight == 100
        assert len(result.approvals) == 6  # five ramp steps and the decommission
        assert result.status.drain is not None and result.status.drain.verified_zero is True
        assert aws.alb_weights(world.listener_arn) == {
            world.blue_target_group_arn: 0,
            world.green_target_group_arn: 100,
        }
        assert aws.route53_weights(world.hosted_zone_id) == {"blue": 0, "green": 100}
        # Blue's services are deleted; green runs, with the async worker flipped to green.
        assert aws.services() == {"frontend-sc": 3, "user-api-sc": 2, "stock-api-sc": 2, "order-worker-sc": 2}
        assert demo_world.MESH not in aws.meshes()
        # Green's target group holds green's own tasks, registered by ECS and healthy; blue's are gone.
        green_targets = aws.targets(world.green_target_group_arn)
        assert set(green_targets) == aws.task_ips("frontend-sc") and len(green_targets) == 3
        assert set(green_targets.values()) == {"healthy"}
        # Blue's tasks were deregistered when blue was deleted, and drain away (60 s, at SIM_SPEED).
        await eventually(lambda: aws.targets(world.blue_target_group_arn) == {})
        # Blue's traffic really went to zero in the metrics the drain read.
        assert stack.traffic.samples[-1].blue_requests == 0

    text = output.getvalue()
    assert "outcome: completed" in text
    assert "AWS here is SIMULATED" in text
    assert "meshshift history shop --address" in text


@pytest.mark.timeout(120)
async def test_fail_at_25_rolls_back_to_full_blue(tmp_path: Path, output: io.StringIO) -> None:
    console = Console(file=output, width=160)
    async with DemoStack(options(tmp_path, fail_at=25), console) as stack:
        result = await stack.run_migration()
        print_summary(stack, result)
        assert stack.world is not None and stack.sim is not None
        world, aws = stack.world, Aws(stack.sim.endpoint)

        assert result.phase is Phase.ROLLED_BACK, output.getvalue()[-4000:]
        rollback = result.status.rollback.record
        assert rollback is not None
        assert rollback.trigger in (RollbackTrigger.ALARM, RollbackTrigger.ANALYSIS)
        assert result.status.green_weight == 0
        assert aws.alb_weights(world.listener_arn) == {
            world.blue_target_group_arn: 100,
            world.green_target_group_arn: 0,
        }
        assert aws.route53_weights(world.hosted_zone_id) == {"blue": 100, "green": 0}
        services = aws.services()
        # Blue is untouched and still serving; green is left running for forensics (the default).
        assert {name: services[name] for name in ("frontend", "user-api", "stock-api", "order-worker")} == {
            "frontend": 3,
            "user-api": 2,
            "stock-api": 2,
            "order-worker": 2,
        }
        assert "frontend-sc" in services
        assert demo_world.MESH in aws.meshes()
        # The bad build fails its load balancer health checks too (2 x 10 s, at SIM_SPEED).
        await eventually(lambda: set(aws.targets(world.green_target_group_arn).values()) == {"unhealthy"})
        assert set(aws.targets(world.blue_target_group_arn).values()) == {"healthy"}
        # It failed on data: green was failing, and whichever read the metrics first rolled it back:
        # the 5xx alarm set from them, or the bake's own analysis (on a loaded machine the analysis
        # can judge a window before the alarm's period has closed).
        assert stack.traffic.failing
        if rollback.trigger is RollbackTrigger.ALARM:
            # The 5xx or the p99 alarm: both fire on green's data, whichever period closes first.
            alarms = (demo_world.ALARM_5XX, demo_world.ALARM_P99)
            fired = [c for c in stack.traffic.alarm_changes if c.alarm in alarms and c.state == "ALARM"]
            assert fired, (rollback.reason, stack.traffic.alarm_changes)
        else:
            assert "metric analysis failed" in rollback.reason and " is above " in rollback.reason, rollback.reason
        assert max(s.weights.alb_green for s in stack.traffic.samples) < 50

    assert "outcome: rolled_back" in output.getvalue()
