"""Regenerate the stored MeshMigration histories that the replay test checks.

    .venv/bin/python -m tests.histories.regenerate

Run it only when a workflow change is MEANT to change the commands the workflow issues (and ship
that change behind ``workflow.patched()``); otherwise a failing replay test is a determinism bug.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from meshshift.migration.constants import UPDATE_APPROVE
from meshshift.migration.state import CommandResult
from meshshift.workers.embedded_server import find_binary
from tests.workflows.harness import baking, gate_open, make_spec, running_worker, send, start, wait_for, world_for

HERE = Path(__file__).parent
HAPPY = HERE / "happy_path.json"
ROLLBACK = HERE / "rollback.json"


def small_spec(**overrides: Any) -> dict[str, Any]:
    """Few steps and sparse polling: a short history that still crosses every phase and message."""
    settings: dict[str, Any] = {
        "ramp": {"steps": [25, 100], "approval": "required"},
        "alarm_poll_interval": "PT5M",
        "analysis": {"interval": "PT5M"},
        "drain": {"poll_interval": "PT5M"},
        "decommission": {"after": "PT30M", "approval": "required"},
    }
    spec = make_spec(**{**settings, **overrides})
    spec["blue"]["mesh"] = "shop-mesh"
    return spec


async def happy_path(env: WorkflowEnvironment) -> str:
    body = small_spec()
    world = world_for(body)
    async with running_worker(env, world, "replay-happy"):
        handle = await start(env, "replay-happy", body, workflow_id="mesh-migration-replay-happy")
        await wait_for(handle, gate_open(25), "gate 25")
        await send(handle, "approve", {"approver": "mallory", "step": 25})
        await send(handle, "approve", {"approver": "alice", "step": 25})
        await wait_for(handle, baking(0), "bake of 25%")
        await send(handle, "pause", {"requested_by": "dave"})
        await env.sleep(timedelta(minutes=30))
        await send(handle, "resume", {"requested_by": "bob"})
        await env.sleep(timedelta(minutes=11))
        await wait_for(handle, gate_open(100), "gate 100")
        await handle.execute_update(UPDATE_APPROVE, {"approver": "bob"}, result_type=CommandResult)
        await env.sleep(timedelta(hours=2))
        await wait_for(handle, lambda s: s.awaiting_approval is not None, "decommission gate")
        await send(handle, "approve", {"approver": "alice"})
        await handle.result()
        return (await handle.fetch_history()).to_json()


async def rollback(env: WorkflowEnvironment) -> str:
    body = small_spec(ramp={"steps": [25, 100], "approval": "auto"})
    world = world_for(body)
    async with running_worker(env, world, "replay-rollback"):
        handle = await start(env, "replay-rollback", body, workflow_id="mesh-migration-replay-rollback")
        await wait_for(handle, baking(0), "bake of 25%")
        await send(handle, "alarm", {"alarm_name": "shop-green-5xx", "state": "ALARM", "source": "alarm-bridge"})
        await handle.result()
        return (await handle.fetch_history()).to_json()


async def main() -> None:
    binary = find_binary("temporal-test-server")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(binary) if binary else None, data_converter=pydantic_data_converter
    )
    try:
        HAPPY.write_text(await happy_path(env) + "\n")
        ROLLBACK.write_text(await rollback(env) + "\n")
    finally:
        await env.shutdown()
    for path in (HAPPY, ROLLBACK):
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    asyncio.run(main())
