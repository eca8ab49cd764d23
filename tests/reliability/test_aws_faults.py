"""AWS faults: the injection layer itself (sim/faults.py), then whole migrations run by a
``meshshift worker`` whose AWS calls are throttled or fail with 5xx 30% of the time.

The layer must really stop a faulted call before any endpoint sees it: under ``mock_aws`` a
``before-send`` hook that merely answers would still let moto execute the call (botocore calls
every ``before-send`` handler). The tests create resources through faulted calls and check
that none exists afterwards.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from temporalio.client import Client

from meshshift.activities.aws import AwsClients, is_transient
from meshshift.migration.contracts import AwsContext
from meshshift.sim.faults import (
    FAULT_HOST,
    FaultConfig,
    FaultConfigError,
    FaultInjector,
    from_environment,
    worker_hooks,
)
from meshshift.workers.embedded_server import EmbeddedServer
from tests.reliability import figures, stack
from tests.reliability.stack import Approver, WorkerProcess

CREATES: dict[str, tuple[str, Callable[[Any], Any], Callable[[Any], int]]] = {
    # service: (throttling code, a creating call, how many such resources exist)
    "ecs": (
        "ThrottlingException",
        lambda c: c.create_cluster(clusterName="x"),
        lambda c: len(c.list_clusters()["clusterArns"]),
    ),
    "elbv2": (
        "Throttling",
        lambda c: c.create_target_group(Name="x", Protocol="HTTP", Port=80, VpcId="vpc-1", TargetType="ip"),
        lambda c: len(c.describe_target_groups()["TargetGroups"]),
    ),
    "route53": (
        "Throttling",
        lambda c: c.create_hosted_zone(Name="x.example.com", CallerReference="x"),
        lambda c: len(c.list_hosted_zones()["HostedZones"]),
    ),
    "cloudfront": ("Throttling", lambda c: c.list_distributions(), lambda c: 0),
    "cloudwatch": (
        "Throttling",
        lambda c: c.put_metric_alarm(
            AlarmName="x", MetricName="m", Namespace="n", Statistic="Sum", Period=60, EvaluationPeriods=1,
            Threshold=1, ComparisonOperator="GreaterThanThreshold",
        ),
        lambda c: len(c.describe_alarms()["MetricAlarms"]),
    ),
    "appmesh": (
        "TooManyRequestsException",
        lambda c: c.create_mesh(meshName="x"),
        lambda c: len(c.list_meshes()["meshes"]),
    ),
    "servicediscovery": (
        "RequestLimitExceeded",
        lambda c: c.create_http_namespace(Name="x"),
        lambda c: len(c.list_namespaces()["Namespaces"]),
    ),
}  # fmt: skip


def faulted_client(service: str, injector: FaultInjector, retries: int = 0) -> Any:
    client = boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": retries}))  # type: ignore[call-overload]
    for event, handler in injector.hooks():
        client.meta.events.register(event, handler)
    return client


@pytest.mark.parametrize("service", sorted(CREATES))
@pytest.mark.usefixtures("aws_inprocess")
def test_throttling_has_the_service_shape_and_never_reaches_moto(service: str) -> None:
    code, create, count = CREATES[service]
    injector = FaultInjector(FaultConfig(throttle=1.0))
    with pytest.raises(ClientError) as caught:
        create(faulted_client(service, injector))
    assert caught.value.response["Error"]["Code"] == code
    assert is_transient(caught.value), "the activities must treat it as retryable"
    assert count(boto3.client(service)) == 0, "the faulted call was executed by moto"  # type: ignore[call-overload]
    assert injector.stats["throttle"] == 1 and injector.stats["passed"] == 0


@pytest.mark.parametrize("service", ["ecs", "elbv2", "route53", "appmesh", "servicediscovery", "cloudwatch"])
@pytest.mark.usefixtures("aws_inprocess")
def test_5xx_is_service_unavailable_and_never_reaches_moto(service: str) -> None:
    _, create, count = CREATES[service]
    with pytest.raises(ClientError) as caught:
        create(faulted_client(service, FaultInjector(FaultConfig(error5xx=1.0))))
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert is_transient(caught.value)
    assert count(boto3.client(service)) == 0  # type: ignore[call-overload]


@pytest.mark.usefixtures("aws_inprocess")
def test_botocore_retries_absorb_most_faults_and_the_call_lands_once() -> None:
    injector = FaultInjector(FaultConfig(throttle=0.3, error5xx=0.05, seed=3), sleep=lambda _s: None)
    aws = AwsClients(hooks=injector.hooks(), max_attempts=10)
    ecs = aws.ecs(AwsContext(region="us-east-1"))
    for i in range(40):
        ecs.create_cluster(clusterName=f"c{i}")
    assert len(boto3.client("ecs").list_clusters()["clusterArns"]) == 40
    assert injector.stats["throttle"] + injector.stats["error5xx"] > 5


def test_configuration_from_the_environment() -> None:
    assert from_environment({}) is None
    assert worker_hooks({}) == []
    assert from_environment({"MESHSHIFT_FAULTS": "throttle=0,error5xx=0"}) is None
    injector = from_environment({"MESHSHIFT_FAULTS": "throttle=0.3, error5xx=0.05, delay=0.1:0.2, seed=7"})
    assert injector is not None
    assert injector.config == FaultConfig(throttle=0.3, error5xx=0.05, delay=(0.1, 0.2), seed=7)
    assert [e for e, _ in worker_hooks({"MESHSHIFT_FAULTS": "throttle=0.1"})] == ["request-created", "before-send"]
    for bad in ("throttle=2", "throttle", "delay=3:1", "nonsense=1", "throttle=0.8,error5xx=0.5", "seed=x"):
        with pytest.raises(FaultConfigError, match="MESHSHIFT_FAULTS"):
            FaultConfig.parse(bad)


def test_same_seed_same_faults() -> None:
    def decisions(seed: int) -> list[str]:
        injector = FaultInjector(FaultConfig(throttle=0.3, error5xx=0.1, seed=seed))
        return [injector._draw()[0] for _ in range(200)]

    assert decisions(5) == decisions(5) != decisions(6)
    assert FAULT_HOST.endswith(".invalid")  # RFC 6761: can never resolve


REGIONS = ["us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]


@pytest.mark.integration
async def test_migrations_finish_correctly_with_30_percent_of_aws_calls_failing(
    dev_server: EmbeddedServer, dev_client: Client, moto_server: str, log_dir: Path
) -> None:
    """A clean worker runs the reference; a faulted worker (25% throttled, 5% 5xx, small delays)
    runs one migration to completion and one that is rejected at 50% and must roll back."""
    seed = random.randrange(2**31)
    runs = max(1, figures.chaos_runs(10) // 10)
    clean = WorkerProcess(dev_server.address, f"clean-{seed}", moto_server, log_dir / "clean")
    faulty = WorkerProcess(
        dev_server.address,
        f"faulty-{seed}",
        moto_server,
        log_dir,
        extra_env={"MESHSHIFT_FAULTS": f"throttle=0.25,error5xx=0.05,delay=0:0.02,seed={seed}"},
    )
    (log_dir / "clean").mkdir()
    clean.start()
    faulty.start()

    async def run(world: Any, queue: str, wid: str, reject_at: int | None = None) -> Any:
        spec = stack.fast_spec(world, alarm_poll_interval="PT1M")
        spec["ramp"]["steps"] = [50, 100]
        handle = await stack.start_migration(dev_client, queue, spec, wid)
        approver = Approver(handle, random.Random(seed), reject_at=reject_at)
        approving = asyncio.create_task(approver.run())
        report = await asyncio.wait_for(handle.result(), 240)
        await asyncio.wait_for(approving, 10)
        assert not await approver.finish()
        return report

    try:
        done = 0
        while done < runs:
            # Each simulated region holds one seeded shop: a round uses each region once.
            size = min(len(REGIONS) // 2, runs - done)
            stack.reset_sim(moto_server)
            worlds = [stack.seed(moto_server, region, reset=False) for region in ["us-east-1", *REGIONS[: 2 * size]]]
            jobs = [run(worlds[0], clean.task_queue, f"faults-{seed}-reference-{done}")]
            for i in range(size):
                jobs.append(run(worlds[1 + 2 * i], faulty.task_queue, f"faults-{seed}-complete-{done + i}"))
                jobs.append(
                    run(worlds[2 + 2 * i], faulty.task_queue, f"faults-{seed}-rollback-{done + i}", reject_at=50)
                )
            reports = await asyncio.gather(*jobs)
            expected = stack.snapshot(moto_server, worlds[0])
            assert reports[0].outcome == "completed"
            for i in range(size):
                where = f"(seed {seed}, run {done + i})"
                completed, rolled_back = reports[1 + 2 * i], reports[2 + 2 * i]
                assert completed.outcome == "completed", f"{where}: {completed.events[-5:]}"
                assert stack.snapshot(moto_server, worlds[1 + 2 * i]) == expected, where
                assert rolled_back.outcome == "rolled_back", f"{where}: {rolled_back.events[-5:]}"
                after = stack.snapshot(moto_server, worlds[2 + 2 * i])
                assert after["alb_weights"] == [("blue", 100), ("green", 0)], where
                weights = {r[2]: r[3] for r in after["route53_records"]}
                assert weights == {"blue": 100, "green": 0}, where
                assert not stack.duplicates(after), where
            done += size
        output = faulty.output()
        injected = {kind: output.count(f"injected {kind} on ") for kind in ("throttle", "error5xx")}
        assert injected["throttle"] > 0 and injected["error5xx"] >= 0
        figures.record(
            "aws_faults",
            migrations=2 * runs,
            completed=runs,
            rolled_back=runs,
            fault_rate="25% throttled + 5% 5xx per HTTP attempt, other attempts delayed 0-20 ms",
            faults_injected=sum(injected.values()),
            throttles_injected=injected["throttle"],
            errors_5xx_injected=injected["error5xx"],
            state_mismatches=0,
            seed=seed,
        )
    finally:
        clean.stop()
        faulty.stop()
