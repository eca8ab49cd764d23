"""The pieces the reliability tests put together: the simulated AWS with the demo's seeded shop, a
fast spec, a normalized snapshot of the AWS state, a worker as a separate process (killable with
SIGKILL), and an approver that answers each gate as it opens.

Nothing here changes product code paths: the worker is ``meshshift worker`` with boto3's standard
variables pointing at the simulation, exactly as a user would run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from meshshift.migration.constants import QUERY_STATUS, SIGNAL_APPROVE, SIGNAL_REJECT, UPDATE_APPROVE, WORKFLOW_TYPE
from meshshift.migration.state import (
    ApprovePayload,
    CommandResult,
    MigrationInput,
    MigrationReport,
    MigrationStatus,
    RejectPayload,
    RunOptions,
)
from meshshift.sim import demo_world
from meshshift.sim.demo_world import DemoWorld
from meshshift.workers.progress import status_from_report

ROOT = Path(__file__).resolve().parents[2]
MESHSHIFT = Path(sys.executable).parent / "meshshift"
APPROVER = "alice"


# --- the simulated AWS ------------------------------------------------------------------------


def reset_sim(endpoint: str) -> None:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as response:  # local test server only
        response.read()


def seed(endpoint: str, region: str = demo_world.REGION, reset: bool = True) -> DemoWorld:
    """A blue shop (the demo's) in ``region`` of the simulation at ``endpoint``; by default the
    simulation is emptied first. Shops in different regions do not see each other (Route 53 is
    global, but each seed gets its own hosted zone)."""
    if reset:
        reset_sim(endpoint)
    with demo_world.aws_environment(endpoint, region):
        return demo_world.seed_shop(region)


def fast_spec(world: DemoWorld, name: str = "shop", **overrides: Any) -> dict[str, Any]:
    """The demo's spec with every wait cut to (almost) nothing: zero or one-second bakes, a
    one-second soak, no deep health URLs. Every gate still needs an approval."""
    spec = demo_world.demo_spec(world, health_urls=[])
    spec.update(
        name=name,
        health={"urls": [], "timeout": "PT2M", "interval": 1},
        ramp={
            "steps": [1, {"weight": 50, "bake": "PT1S"}, 100],
            "bake": 0,
            "approval": "required",
            "approval_timeout": "PT1H",
        },
        analysis={"interval": "PT2S", "window": "PT1M", "min_request_count": 50},
        alarm_poll_interval="PT2S",
        drain={"max_wait": "PT2M", "window": "PT1S", "poll_interval": "PT1S"},
        decommission={"after": "PT1S", "approval": "required"},
    )
    spec.update(overrides)
    return spec


def _client(service: str, endpoint: str, region: str = demo_world.REGION) -> Any:
    import boto3

    return boto3.client(  # type: ignore[call-overload]
        service,
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def snapshot(endpoint: str, world: DemoWorld) -> dict[str, Any]:
    """The AWS state that matters, with ids that differ between seeds normalized away.

    Lists (not sets or dicts keyed by name) keep duplicates visible.
    """
    ecs = _client("ecs", endpoint, world.region)
    arns = ecs.list_services(cluster=demo_world.CLUSTER, maxResults=100)["serviceArns"]
    services: list[tuple[str, int]] = []
    for start in range(0, len(arns), 10):
        for s in ecs.describe_services(cluster=demo_world.CLUSTER, services=arns[start : start + 10])["services"]:
            if s["status"] == "ACTIVE":
                services.append((s["serviceName"], s["desiredCount"]))
    task_definitions: Counter[str] = Counter()
    paginator = ecs.get_paginator("list_task_definitions")
    for page in paginator.paginate(status="ACTIVE"):
        for arn in page["taskDefinitionArns"]:
            task_definitions[arn.rsplit("/", 1)[1].rsplit(":", 1)[0]] += 1

    route53 = _client("route53", endpoint, world.region)
    records = sorted(
        (
            r["Name"],
            r["Type"],
            r.get("SetIdentifier", ""),
            r.get("Weight", -1),
            tuple(sorted(v["Value"] for v in r.get("ResourceRecords", []))),
        )
        for r in route53.list_resource_record_sets(HostedZoneId=world.hosted_zone_id)["ResourceRecordSets"]
        if r["Type"] not in ("SOA", "NS")
    )

    elbv2 = _client("elbv2", endpoint, world.region)
    names = {world.blue_target_group_arn: "blue", world.green_target_group_arn: "green"}
    listener = elbv2.describe_listeners(ListenerArns=[world.listener_arn])["Listeners"][0]
    alb = sorted(
        (names.get(g["TargetGroupArn"], g["TargetGroupArn"]), g.get("Weight", 1))
        for action in listener["DefaultActions"]
        if action["Type"] == "forward"
        for g in action.get("ForwardConfig", {}).get("TargetGroups", [])
    )
    groups = sorted(g["TargetGroupName"] for g in elbv2.describe_target_groups()["TargetGroups"])

    appmesh = _client("appmesh", endpoint, world.region)
    mesh: dict[str, list[str]] = {}
    for m in appmesh.list_meshes()["meshes"]:
        n = m["meshName"]
        mesh[n] = sorted(
            [f"node:{x['virtualNodeName']}" for x in appmesh.list_virtual_nodes(meshName=n)["virtualNodes"]]
            + [f"router:{x['virtualRouterName']}" for x in appmesh.list_virtual_routers(meshName=n)["virtualRouters"]]
            + [
                f"service:{x['virtualServiceName']}"
                for x in appmesh.list_virtual_services(meshName=n)["virtualServices"]
            ]
            + [
                f"gateway:{x['virtualGatewayName']}"
                for x in appmesh.list_virtual_gateways(meshName=n)["virtualGateways"]
            ]
        )
    cloudmap = _client("servicediscovery", endpoint, world.region)
    namespaces = sorted(n["Name"] for n in cloudmap.list_namespaces()["Namespaces"])
    return {
        "ecs_services": sorted(services),
        "task_definition_families": dict(sorted(task_definitions.items())),
        "route53_records": records,
        "alb_weights": alb,
        "target_groups": groups,
        "app_mesh": mesh,
        "cloud_map_namespaces": namespaces,
    }


def duplicates(snap: dict[str, Any]) -> list[str]:
    """Resources that exist twice where one is expected."""
    found: list[str] = []
    names = [name for name, _ in snap["ecs_services"]]
    found += [f"ECS service {n} x{c}" for n, c in Counter(names).items() if c > 1]
    keys = [(r[0], r[1], r[2]) for r in snap["route53_records"]]
    found += [f"Route 53 record {k} x{c}" for k, c in Counter(keys).items() if c > 1]
    found += [f"namespace {n} x{c}" for n, c in Counter(snap["cloud_map_namespaces"]).items() if c > 1]
    found += [f"target group {n} x{c}" for n, c in Counter(snap["target_groups"]).items() if c > 1]
    return found


# --- the worker as a separate process ---------------------------------------------------------


@dataclass
class WorkerProcess:
    """``meshshift worker`` in its own process; its output goes to ``log_dir``."""

    address: str
    task_queue: str
    endpoint: str
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    logs: list[Path] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AWS_", "TEMPORAL_", "MESHSHIFT_", "OTEL_")) and not k.startswith("PYTEST")
        }
        env.update(demo_world.sim_environment(self.endpoint))
        env.update(
            TEMPORAL_ADDRESS=self.address,
            TEMPORAL_NAMESPACE="default",
            MESHSHIFT_TASK_QUEUE=self.task_queue,
            MESHSHIFT_MAX_CONCURRENT_ACTIVITIES="8",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.extra_env)
        return env

    @property
    def identity(self) -> str:
        """The SDK's default worker identity (pid@host), as the server records it."""
        assert self.process is not None
        return f"{self.process.pid}@{socket.gethostname()}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        self.starts += 1
        log = self.log_dir / f"worker-{self.starts}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(MESHSHIFT), "worker"],
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )

    def kill(self) -> str:
        """SIGKILL: no graceful shutdown, no goodbye to the server. Returns the dead identity."""
        assert self.process is not None
        identity = self.identity
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        return identity

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())


# --- driving a migration ----------------------------------------------------------------------


async def query_status(handle: WorkflowHandle[Any, Any], rpc_seconds: float = 5.0) -> MigrationStatus | None:
    """The migration's status, or None while it cannot be read (a dead worker, a restarting server).

    A finished migration is read from its result, which the server answers alone, as `meshshift
    status` does. Querying a closed run instead makes a worker replay its whole history; on a loaded
    machine that took longer than the query's timeout, every retry queued another replay behind the
    last, and no answer ever came back in time: the approvers' wind-down hang after a server restart.
    """
    try:
        description = await handle.describe()
        if description.status is WorkflowExecutionStatus.COMPLETED:
            return status_from_report(MigrationReport.model_validate(await handle.result()))
        return await handle.query(QUERY_STATUS, result_type=MigrationStatus, rpc_timeout=timedelta(seconds=rpc_seconds))
    except Exception:  # a dead worker (or a restarting server) cannot answer: try again later
        return None


@dataclass
class Approver:
    """Approves each gate once, as it opens, as ``alice``; by signal or by update (seeded)."""

    handle: WorkflowHandle[Any, Any]
    rng: random.Random
    reject_at: int | None = None  # reject (by signal) instead of approving this ramp step
    sent: list[tuple[str, int, str]] = field(default_factory=list)  # (gate, step, via)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def run(self) -> None:
        answered: set[tuple[str, int]] = set()
        while True:
            status = await query_status(self.handle)
            if status is not None and status.phase.value in ("completed", "rolled_back", "failed"):
                return
            gate = status.awaiting_approval if status is not None else None
            if gate is not None and not status.paused and (gate.gate.value, gate.step) not in answered:  # type: ignore[union-attr]
                answered.add((gate.gate.value, gate.step))
                if gate.step == self.reject_at:
                    await self.handle.signal(SIGNAL_REJECT, RejectPayload(approver=APPROVER, reason="reliability test"))
                    continue
                via = self.rng.choice(["signal", "update"])
                payload = ApprovePayload(approver=APPROVER, step=gate.step, comment="reliability test")
                self.sent.append((gate.gate.value, gate.step, via))
                if via == "signal":
                    await self.handle.signal(SIGNAL_APPROVE, payload)
                else:
                    # An update waits for a worker; a killed worker must not stall the approver loop.
                    self._tasks.append(
                        asyncio.create_task(
                            self.handle.execute_update(UPDATE_APPROVE, payload, result_type=CommandResult)
                        )
                    )
            await asyncio.sleep(0.2)

    async def finish(self) -> list[BaseException]:
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        return [r for r in results if isinstance(r, BaseException)]


async def start_migration(
    client: Client, task_queue: str, spec: dict[str, Any], workflow_id: str, heartbeat: timedelta | None = None
) -> WorkflowHandle[Any, MigrationReport]:
    """Start a migration; ``heartbeat`` shortens every activity's heartbeat timeout (30 s), which is
    how soon the work of a killed worker is retried."""
    body: Any = spec
    if heartbeat is not None:
        options = RunOptions(activity_heartbeat_timeout=heartbeat)
        body = MigrationInput.envelope(spec, options=options).model_dump(mode="json")
    return await client.start_workflow(
        WORKFLOW_TYPE,
        body,
        id=workflow_id,
        task_queue=task_queue,
        result_type=MigrationReport,
        # A workflow task started by a killed worker is retried after this (default 10 s).
        task_timeout=timedelta(seconds=3),
    )


def approvals_in(report: MigrationReport) -> list[tuple[str, int, str]]:
    return sorted((a.gate.value, a.step, a.approver) for a in report.approvals)
