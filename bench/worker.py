"""The benchmark's worker process: the real meshshift worker (``meshshift.workers.worker.build_worker``)
with two extra botocore hooks on its ``AwsClients``:

- a call counter per AWS service and operation (every HTTP attempt, like the rate limiter);
- an optional artificial latency per call (``--aws-latency-ms``), to show what AWS's own API
  latency would add, since the simulated AWS answers in about a millisecond.

The counts are written as JSON to ``--stats`` several times a second and at exit, so the bench
process can read them without talking to the worker.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.temporal_floor import TemporalFloorWorkflow, entered, probe_task_queue
from meshshift.activities.aws import AwsClients, RateLimiter
from meshshift.migration.edge.alb import AlbEdge
from meshshift.migration.edge.cloudfront import CloudFrontEdge
from meshshift.migration.edge.route53 import Route53Edge
from meshshift.workers.worker import (
    DEFAULT_MAX_CONCURRENT_COMPENSATIONS,
    WorkerRole,
    activity_thread_pool,
    build_worker,
    warm_for_rollbacks,
)
from meshshift.workflows.sandbox import workflow_runner

STATS_INTERVAL = 0.1


class CallCounter:
    """Counts botocore HTTP attempts per ``service.Operation`` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def hook(self, event_name: str = "", **_: Any) -> None:
        # event_name is "before-send.<service>.<Operation>"; returning None lets the request go.
        key = event_name.removeprefix("before-send.")
        with self._lock:
            self.counts[key] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


# The calls that change what an edge serves, and the parameter that names the edge's resource.
WRITES = {
    "elastic-load-balancing-v2.ModifyRule": "RuleArn",
    "elastic-load-balancing-v2.ModifyListener": "ListenerArn",
    "route-53.ChangeResourceRecordSets": "HostedZoneId",
    "cloudfront.UpdateContinuousDeploymentPolicy": "Id",
    "cloudfront.UpdateDistributionWithStagingConfig": "Id",
}


def write_key(operation: str, params: dict[str, Any]) -> str:
    """The edge resource a write changes: a rule or listener ARN, a CloudFront id, or a Route 53
    zone and record name (``write_key_of`` gives the same key for an edge of the spec)."""
    resource = str(params.get(WRITES[operation], ""))
    if operation == "route-53.ChangeResourceRecordSets":
        names = {c["ResourceRecordSet"]["Name"].rstrip(".") for c in params.get("ChangeBatch", {}).get("Changes", [])}
        return f"{resource.removeprefix('/hostedzone/')}/{','.join(sorted(names))}"
    return resource


def write_key_of(edge: AlbEdge | Route53Edge | CloudFrontEdge) -> str:
    """``write_key`` for an edge model of the spec."""
    if isinstance(edge, AlbEdge):
        return edge.rule_arn or edge.listener_arn
    if isinstance(edge, Route53Edge):
        return f"{edge.hosted_zone_id.removeprefix('/hostedzone/')}/{edge.record_name.rstrip('.')}"
    return edge.continuous_deployment_policy_id


# Answers kept per resource: a rollback writes each at most twice (its first and its verified write).
ANSWERS_KEPT = 8


class WriteClock:
    """When AWS answered the latest writes to each edge resource (time.monotonic, which on Linux is
    one clock for every process of the machine: the bench compares the worker's times with its own).

    The first answer after an alarm is when the change became what every later read returns,
    without the polling observer's rounds (20-60 ms each on the realistic profile) in between."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answered: dict[str, list[float]] = {}

    def before(self, event_name: str = "", params: dict[str, Any] | None = None, context: Any = None, **_: Any) -> None:
        operation = event_name.removeprefix("before-parameter-build.")
        if operation in WRITES and params is not None and context is not None:
            context["bench_write_key"] = write_key(operation, params)

    def after(self, context: Any = None, http_response: Any = None, **_: Any) -> None:
        key = (context or {}).get("bench_write_key")
        if key is not None and http_response is not None and http_response.status_code < 300:
            with self._lock:
                self.answered[key] = [*self.answered.get(key, [])[1 - ANSWERS_KEPT :], time.monotonic()]

    def snapshot(self) -> dict[str, list[float]]:
        with self._lock:
            return {key: list(times) for key, times in self.answered.items()}


def first_answers(answered: dict[str, list[float]], keys: list[str], after: float) -> list[float] | None:
    """For each of ``keys``, when its first write after ``after`` was answered; None until every one
    of them has been written."""
    firsts = [min((t for t in answered.get(key, []) if t > after), default=None) for key in keys]
    return None if any(t is None for t in firsts) else [t for t in firsts if t is not None]


def latency_hook(milliseconds: float) -> Callable[..., None]:
    seconds = milliseconds / 1000.0

    def hook(**_: Any) -> None:
        time.sleep(seconds)

    return hook


def bench_hooks(
    counter: CallCounter | None, aws_latency_ms: float, writes: WriteClock | None = None
) -> list[tuple[str, Callable[..., Any]]]:
    hooks: list[tuple[str, Callable[..., Any]]] = []
    if counter is not None:
        hooks.append(("before-send", counter.hook))
    if writes is not None:
        hooks += [("before-parameter-build", writes.before), ("after-call", writes.after)]
    if aws_latency_ms > 0:
        hooks.append(("before-send", latency_hook(aws_latency_ms)))
    return hooks


def _write_stats(path: Path, counter: CallCounter, writes: WriteClock) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"time": time.time(), "calls": counter.snapshot(), "writes": writes.snapshot()}))
    os.replace(tmp, path)


async def _main(args: argparse.Namespace) -> None:
    counter = CallCounter()
    writes = WriteClock()
    stats = Path(args.stats)
    client = await Client.connect(args.address, namespace="default", data_converter=pydantic_data_converter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def publish() -> None:
        while not stop.is_set():
            _write_stats(stats, counter, writes)
            await asyncio.sleep(STATS_INTERVAL)

    aws = AwsClients(
        # Without the lane: one lane for every call, to measure what the lane is worth.
        limiter=RateLimiter(reserve=0.0) if args.no_priority_lane else None,
        hooks=bench_hooks(counter, args.aws_latency_ms, writes),
        max_pool_connections=args.max_concurrent_activities + DEFAULT_MAX_CONCURRENT_COMPENSATIONS,
    )
    await warm_for_rollbacks(aws, WorkerRole(args.serve))
    with activity_thread_pool(args.max_concurrent_activities) as executor:
        worker = build_worker(
            client,
            args.task_queue,
            aws,
            args.max_concurrent_activities,
            activity_executor=executor,
            serve=WorkerRole(args.serve),
        )
        publisher = asyncio.create_task(publish())
        async with worker, contextlib.AsyncExitStack() as probe:
            if WorkerRole(args.serve) is not WorkerRole.COMPENSATION:
                # Temporal's own floor (bench.temporal_floor), measured where the migrations' workflows run.
                await probe.enter_async_context(
                    Worker(
                        client,
                        task_queue=probe_task_queue(args.task_queue),
                        workflows=[TemporalFloorWorkflow],
                        activities=[entered],
                        activity_executor=executor,
                        workflow_runner=workflow_runner(),
                    )
                )
            await asyncio.to_thread(Path(args.ready).write_text, "ready")
            await stop.wait()
        await publisher
    _write_stats(stats, counter, writes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--aws-latency-ms", type=float, default=0.0)
    parser.add_argument("--max-concurrent-activities", type=int, default=50)
    parser.add_argument("--serve", choices=[r.value for r in WorkerRole], default=WorkerRole.ALL.value)
    parser.add_argument("--no-priority-lane", action="store_true", help="the rate limiter without its priority lane")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
