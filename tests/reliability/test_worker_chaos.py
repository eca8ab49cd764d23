"""Worker chaos: full migrations (ALB + Route 53, async worker flip, decommission) against the
simulated AWS in server mode and a Temporal dev server, with the worker, a separate
``meshshift worker`` process, killed by SIGKILL at random moments and restarted.

Every run must end exactly as an undisturbed reference run: the same normalized AWS state (ECS
services and desired counts, task-definition families and ACTIVE revisions, Route 53 records,
ALB weights, App Mesh resources, Cloud Map namespaces), no duplicates, and every approval the
test sent in the final report.

Runs go in batches of up to five concurrent migrations, each in its own simulated region, so a
kill lands on migrations in different phases at once. ``MESHSHIFT_CHAOS_RUNS`` sets the number of
runs (5 in make test, one batch; make chaos runs 100); ``MESHSHIFT_CHAOS_SEED`` replays a failing
seed (every failure names it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client

from meshshift.migration.state import MigrationReport
from meshshift.workers.embedded_server import EmbeddedServer
from tests.reliability import figures, stack
from tests.reliability.stack import Approver, WorkerProcess

pytestmark = pytest.mark.integration

REGIONS = ["us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
RUN_TIMEOUT = 180.0
# Temporal learns that a worker died from its activities' heartbeat timeouts (30 s by default);
# the runs shorten it so that a kill costs seconds. The keepalive in the worker beats 3 x faster.
HEARTBEAT = timedelta(seconds=5)


async def history_json(client: Client, workflow_id: str) -> str:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return json.dumps(history.to_json_dict(), indent=1)


async def drive(
    client: Client,
    task_queue: str,
    spec: dict[str, Any],
    workflow_id: str,
    rng: random.Random,
    counter: Counter[str],
) -> tuple[MigrationReport, Approver]:
    handle = await stack.start_migration(client, task_queue, spec, workflow_id, heartbeat=HEARTBEAT)
    approver = Approver(handle, random.Random(rng.random()))
    approving = asyncio.create_task(approver.run())
    try:
        report = await asyncio.wait_for(handle.result(), RUN_TIMEOUT)
    finally:
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
            await asyncio.wait_for(approving, 10)
    history = await handle.fetch_history()
    # A retried attempt is recorded on the started event of the attempt that finally ran.
    counter["heartbeat_timeouts"] += sum(
        e.activity_task_started_event_attributes.last_failure.timeout_failure_info.timeout_type
        == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    )
    errors = await approver.finish()
    assert not errors, f"{workflow_id}: approvals by update failed: {errors}"
    return report, approver


async def test_worker_killed_at_random_moments_changes_nothing(
    dev_server: EmbeddedServer, dev_client: Client, moto_server: str, log_dir: Path
) -> None:
    runs = figures.chaos_runs(5)
    seed = int(os.environ.get("MESHSHIFT_CHAOS_SEED") or random.randrange(2**31))
    rng = random.Random(seed)
    task_queue = f"chaos-{seed}"
    worker = WorkerProcess(dev_server.address, task_queue, moto_server, log_dir)
    counter: Counter[str] = Counter()
    worker.start()
    try:
        # The undisturbed reference: the state every disturbed run must reach.
        world = stack.seed(moto_server, "us-east-1")
        started = time.monotonic()
        reference, _ = await drive(
            dev_client, task_queue, stack.fast_spec(world), f"chaos-{seed}-reference", rng, counter
        )
        reference_seconds = time.monotonic() - started
        assert reference.outcome == "completed", reference.events[-5:]
        expected = stack.snapshot(moto_server, world)
        assert not stack.duplicates(expected)

        done = 0
        kills = 0
        sent_by: Counter[str] = Counter()
        batch = 0
        while done < runs:
            size = min(len(REGIONS), runs - done)
            stack.reset_sim(moto_server)
            worlds = [stack.seed(moto_server, region, reset=False) for region in REGIONS[:size]]
            ids = [f"chaos-{seed}-b{batch}-r{i}" for i in range(size)]
            tasks = [
                asyncio.create_task(drive(dev_client, task_queue, stack.fast_spec(w), wid, rng, counter))
                for w, wid in zip(worlds, ids, strict=True)
            ]
            # One or two kills per batch, anywhere within the reference run's length.
            moments = sorted(rng.uniform(0.2, reference_seconds) for _ in range(rng.choice([1, 2])))
            batch_start = time.monotonic()
            for moment in moments:
                await asyncio.sleep(max(0.0, batch_start + moment - time.monotonic()))
                if all(t.done() for t in tasks):
                    break
                worker.kill()
                kills += 1
                await asyncio.sleep(rng.uniform(0.0, 1.0))
                worker.start()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for wid, w, result in zip(ids, worlds, results, strict=True):
                where = f"run {wid} (MESHSHIFT_CHAOS_SEED={seed}, kills at {[round(m, 2) for m in moments]} s)"
                if isinstance(result, BaseException):
                    path = figures.artifact(f"{wid}.history.json")
                    with contextlib.suppress(Exception):
                        path.write_text(await history_json(dev_client, wid))
                    raise AssertionError(f"{where} did not finish: {result!r}; history in {path}") from result
                report, approver = result
                assert report.outcome == "completed", f"{where}: {report.outcome}: {report.events[-5:]}"
                snap = stack.snapshot(moto_server, w)
                assert not stack.duplicates(snap), f"{where}: duplicates {stack.duplicates(snap)}"
                assert snap == expected, f"{where}: final AWS state differs from the reference run"
                sent = sorted((gate, step, stack.APPROVER) for gate, step, _ in approver.sent)
                assert stack.approvals_in(report) == sent, f"{where}: approvals sent {sent}, report has " + str(
                    stack.approvals_in(report)
                )
                sent_by.update(via for _, _, via in approver.sent)
            done += size
            batch += 1
        figures.record(
            "worker_chaos",
            runs=done,
            batches=batch,
            kills=kills,
            worker_starts=worker.starts,
            heartbeat_timeout_seconds=HEARTBEAT.total_seconds(),
            activity_attempts_retried_after_heartbeat_timeout=counter["heartbeat_timeouts"],
            approvals_sent=dict(sent_by),
            approvals_lost=0,
            duplicates=0,
            state_mismatches=0,
            reference_seconds=round(reference_seconds, 1),
            seed=seed,
        )
    finally:
        worker.stop()
