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
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from meshshift.activities.aws import AwsClients, RateLimiter
from meshshift.workers.worker import (
    DEFAULT_MAX_CONCURRENT_COMPENSATIONS,
    WorkerRole,
    build_worker,
    warm_for_rollbacks,
)

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


def latency_hook(milliseconds: float) -> Callable[..., None]:
    seconds = milliseconds / 1000.0

    def hook(**_: Any) -> None:
        time.sleep(seconds)

    return hook


def bench_hooks(counter: CallCounter | None, aws_latency_ms: float) -> list[tuple[str, Callable[..., Any]]]:
    hooks: list[tuple[str, Callable[..., Any]]] = []
    if counter is not None:
        hooks.append(("before-send", counter.hook))
    if aws_latency_ms > 0:
        hooks.append(("before-send", latency_hook(aws_latency_ms)))
    return hooks


def _write_stats(path: Path, counter: CallCounter) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"time": time.time(), "calls": counter.snapshot()}))
    os.replace(tmp, path)


async def _main(args: argparse.Namespace) -> None:
    counter = CallCounter()
    stats = Path(args.stats)
    client = await Client.connect(args.address, namespace="default", data_converter=pydantic_data_converter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def publish() -> None:
        while not stop.is_set():
            _write_stats(stats, counter)
            await asyncio.sleep(STATS_INTERVAL)

    aws = AwsClients(
        # Without the lane: one lane for every call, to measure what the lane is worth.
        limiter=RateLimiter(reserve=0.0) if args.no_priority_lane else None,
        hooks=bench_hooks(counter, args.aws_latency_ms),
        max_pool_connections=args.max_concurrent_activities + DEFAULT_MAX_CONCURRENT_COMPENSATIONS,
    )
    await warm_for_rollbacks(aws, WorkerRole(args.serve))
    with ThreadPoolExecutor(max_workers=args.max_concurrent_activities) as executor:
        worker = build_worker(
            client,
            args.task_queue,
            aws,
            args.max_concurrent_activities,
            activity_executor=executor,
            serve=WorkerRole(args.serve),
        )
        publisher = asyncio.create_task(publish())
        async with worker:
            await asyncio.to_thread(Path(args.ready).write_text, "ready")
            await stop.wait()
        await publisher
    _write_stats(stats, counter)


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
