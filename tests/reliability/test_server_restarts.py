"""Temporal server restarts: the dev server (SQLite data dir) is stopped and started again on the
same database while three migrations are at the worst moments:

- A is in a bake timer (its step-50 bake lasts a few seconds): the timer must survive;
- B waits at an approval gate: the approval sent AFTER the restart must be accepted;
- C has just been rejected at 50%: its rollback runs across the restart and must finish at
  100% blue.

The worker is a separate ``meshshift worker`` process that stays up and reconnects by itself.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from meshshift.migration.constants import SIGNAL_APPROVE, SIGNAL_REJECT
from meshshift.migration.state import ApprovePayload, MigrationReport, MigrationStatus, RejectPayload
from meshshift.workers.embedded_server import EmbeddedServer
from tests.netutil import free_port
from tests.reliability import figures, stack
from tests.reliability.stack import Approver, WorkerProcess

pytestmark = pytest.mark.integration


async def wait_status(
    handle: WorkflowHandle[Any, Any], predicate: Callable[[MigrationStatus], bool], what: str, limit: float = 60
) -> MigrationStatus:
    deadline = time.monotonic() + limit
    last = None
    while time.monotonic() < deadline:
        last = await stack.query_status(handle)
        if last is not None and predicate(last):
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{handle.id}: timed out waiting for {what}; last: {last and last.events[-3:]}")


def gate(step: int) -> Callable[[MigrationStatus], bool]:
    return lambda s: s.awaiting_approval is not None and s.awaiting_approval.step == step


async def test_server_restarts_during_bake_approval_wait_and_rollback(
    tmp_path: Path, moto_server: str, log_dir: Path
) -> None:
    port = free_port()
    data = tmp_path / "temporal"
    server = EmbeddedServer(port=port, ui_port=None, data_dir=data)
    server.start()
    queue = f"restarts-{random.randrange(2**31)}"
    worker = WorkerProcess(server.address, queue, moto_server, log_dir)
    worker.start()
    restarts = 0

    async def restart() -> Client:
        nonlocal server, restarts
        await asyncio.to_thread(server.stop)
        server = EmbeddedServer(port=port, ui_port=None, data_dir=data)
        await asyncio.to_thread(server.start)
        restarts += 1
        return await Client.connect(server.address, data_converter=pydantic_data_converter)

    try:
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        stack.reset_sim(moto_server)
        worlds = [stack.seed(moto_server, region, reset=False) for region in ("us-east-1", "us-west-2", "eu-west-1")]
        spec_a = stack.fast_spec(worlds[0])
        spec_a["ramp"]["steps"] = [1, {"weight": 50, "bake": "PT6S"}, 100]
        a = await stack.start_migration(client, queue, spec_a, f"{queue}-bake")
        b = await stack.start_migration(client, queue, stack.fast_spec(worlds[1]), f"{queue}-approval")
        c = await stack.start_migration(client, queue, stack.fast_spec(worlds[2]), f"{queue}-rollback")

        for handle in (a, c):
            await wait_status(handle, gate(1), "gate 1")
            await handle.signal(SIGNAL_APPROVE, ApprovePayload(approver="alice", step=1))
        await wait_status(a, gate(50), "gate 50")
        await a.signal(SIGNAL_APPROVE, ApprovePayload(approver="alice", step=50))
        await wait_status(b, gate(1), "B's gate 1")
        baking = await wait_status(
            a, lambda s: s.countdown is not None and s.countdown.purpose == "bake", "A's bake at 50%"
        )
        assert baking.green_weight == 50

        # Restart 1: A is in its bake timer, B waits for an approval.
        client = await restart()
        a, b, c = (client.get_workflow_handle(h.id, result_type=MigrationReport) for h in (a, b, c))
        after = await wait_status(b, gate(1), "B's gate still open after the restart")
        assert after.phase.value == "ramping" and after.green_weight == 0
        await b.signal(SIGNAL_APPROVE, ApprovePayload(approver="bob", step=1, comment="after the restart"))

        # Restart 2: C is rejected at 50% and the server goes down while it rolls back.
        await wait_status(c, gate(50), "C's gate 50")
        await c.signal(SIGNAL_REJECT, RejectPayload(approver="bob", reason="reliability: restart during rollback"))
        await wait_status(c, lambda s: s.phase.value in ("rolling_back", "rolled_back"), "C's rollback")
        client = await restart()
        a, b, c = (client.get_workflow_handle(h.id, result_type=MigrationReport) for h in (a, b, c))

        approvers = [Approver(h, random.Random(i)) for i, h in enumerate((a, b))]
        tasks = [asyncio.create_task(x.run()) for x in approvers]
        report_a, report_b, report_c = await asyncio.wait_for(asyncio.gather(a.result(), b.result(), c.result()), 180)
        # The approvers stop once their migration has ended; bounded so a stuck one fails with a reason.
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        assert report_a.outcome == "completed", report_a.events[-5:]
        assert report_b.outcome == "completed", report_b.events[-5:]
        assert report_c.outcome == "rolled_back", report_c.events[-5:]
        assert any(x.approver == "bob" and x.step == 1 for x in report_b.approvals), "approval after restart lost"
        baked = [e for e in report_a.events if e.kind == "baked" and "50%" in e.detail]
        assert len(baked) == 1, "A's bake must end exactly once"
        expected = stack.snapshot(moto_server, worlds[0])
        assert stack.snapshot(moto_server, worlds[1]) == expected
        rolled = stack.snapshot(moto_server, worlds[2])
        assert rolled["alb_weights"] == [("blue", 100), ("green", 0)]
        assert {r[2]: r[3] for r in rolled["route53_records"]} == {"blue": 100, "green": 0}
        assert report_c.rollback is not None and report_c.rollback.finished is not None
        figures.record(
            "server_restarts",
            restarts=restarts,
            migrations=3,
            during=["bake timer", "approval wait (approved after the restart)", "rollback"],
            outcomes={"bake": report_a.outcome, "approval": report_b.outcome, "rollback": report_c.outcome},
            violations=0,
        )
    finally:
        worker.stop()
        await asyncio.to_thread(server.stop)
