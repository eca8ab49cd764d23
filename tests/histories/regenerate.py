"""Regenerate the stored MeshMigration histories that the replay test checks.

    .venv/bin/python -m tests.histories.regenerate            # all of them
    .venv/bin/python -m tests.histories.regenerate large      # one (by file name)

Run it only when a workflow change is MEANT to change the commands the workflow issues (and ship
that change behind ``workflow.patched()``); otherwise a failing replay test is a determinism bug.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from meshshift.migration import paging, plan, plan_translation
from meshshift.migration.constants import UPDATE_APPROVE
from meshshift.migration.contracts import AppMeshInventory, AppMeshVirtualNode
from meshshift.migration.state import CommandResult, MigrationInput, RunOptions
from meshshift.workers.embedded_server import find_binary, find_temporal_binary
from tests.fixtures_temporal import start_dev_server
from tests.workflows.fakes import MESH_PAGE
from tests.workflows.harness import (
    baking,
    fast_spec,
    gate_open,
    make_spec,
    running_worker,
    send,
    start,
    wait_for,
    world_for,
)

HERE = Path(__file__).parent
HAPPY = HERE / "happy_path.json"
ROLLBACK = HERE / "rollback.json"
LARGE = HERE / "large.json"
# A run that continues-as-new with its per-service fields in holder workflows (patch state-in-parts),
# and the run after it, which reads them back.
PARTS = HERE / "large_parts.json"
PARTS_RESUMED = HERE / "large_parts_resumed.json"
# The large history plans in steps, batches its service lists and provisions in chunks (patches
# planning-in-steps, service-batches, provisioning-in-chunks) at these sizes, so that a short history
# crosses all three; its replay uses them too. Its mesh takes several pages (patch mesh-in-pages).
# large_v1.json was recorded before mesh-in-pages.
LARGE_SERVICES = 60
LARGE_STEP = 25
LARGE_MESH_NODES = 2 * MESH_PAGE + 5


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


@contextmanager
def large_sizes() -> Iterator[None]:
    """STEP_SERVICES, BATCH_SERVICES and PROVISION_CHUNK at the large history's sizes (1,000, 100
    and 1,000 in production)."""
    saved = (plan_translation.STEP_SERVICES, plan.STEP_SERVICES, paging.BATCH_SERVICES, paging.PROVISION_CHUNK)
    plan_translation.STEP_SERVICES = plan.STEP_SERVICES = LARGE_STEP
    paging.BATCH_SERVICES = paging.PROVISION_CHUNK = LARGE_STEP
    try:
        yield
    finally:
        plan_translation.STEP_SERVICES, plan.STEP_SERVICES, paging.BATCH_SERVICES, paging.PROVISION_CHUNK = saved


async def large(env: WorkflowEnvironment) -> str:
    body = small_spec(ramp={"steps": [25, 100], "approval": "auto"}, decommission={"after": "PT30M"})
    body["blue"]["services"] = [f"svc-{i:03d}" for i in range(LARGE_SERVICES)]
    world = world_for(body)
    world.mesh = AppMeshInventory(
        mesh_name=body["blue"]["mesh"],
        virtual_nodes=[AppMeshVirtualNode(name=f"node-{i:03d}") for i in range(LARGE_MESH_NODES)],
    )
    with large_sizes():
        async with running_worker(env, world, "replay-large"):
            handle = await start(env, "replay-large", body, workflow_id="mesh-migration-replay-large")
            await handle.result()
            return (await handle.fetch_history()).to_json()


async def large_in_parts(_: WorkflowEnvironment, resumed: bool) -> str:
    """The large migration, continuing-as-new whenever it may, with parts of 1 KiB. On the dev server
    in real time, with second-scale durations: on the time-skipping test server the holders' queries
    never answer."""
    body = fast_spec(ramp={"steps": [25, 100], "approval": "auto"})
    body["blue"]["services"] = [f"svc-{i:03d}" for i in range(LARGE_SERVICES)]
    world = world_for(body)
    options = RunOptions(continue_as_new_at_history_length=60, state_part_bytes=1024)
    env = await start_dev_server(find_temporal_binary())
    try:
        with large_sizes():
            async with running_worker(env, world, "replay-parts"):
                handle = await start(
                    env,
                    "replay-parts",
                    MigrationInput.envelope(body, options=options).model_dump(mode="json"),
                    # The replay test names the workflow after the file.
                    workflow_id=f"mesh-migration-replay-{(PARTS_RESUMED if resumed else PARTS).stem}",
                )
                await handle.result()
                run_id = handle.first_execution_run_id
                while True:
                    history = await env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
                    following = history.events[
                        -1
                    ].workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                    if any(
                        e.HasField("start_child_workflow_execution_initiated_event_attributes") for e in history.events
                    ):
                        break
                    run_id = following
                if resumed:
                    history = await env.client.get_workflow_handle(handle.id, run_id=following).fetch_history()
                return history.to_json()
    finally:
        await env.shutdown()


async def large_parts(env: WorkflowEnvironment) -> str:
    return await large_in_parts(env, resumed=False)


async def large_parts_resumed(env: WorkflowEnvironment) -> str:
    return await large_in_parts(env, resumed=True)


RUNS = {
    HAPPY: happy_path,
    ROLLBACK: rollback,
    LARGE: large,
    PARTS: large_parts,
    PARTS_RESUMED: large_parts_resumed,
}


async def main(names: list[str]) -> None:
    binary = find_binary("temporal-test-server")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(binary) if binary else None, data_converter=pydantic_data_converter
    )
    written = [path for path in RUNS if not names or path.stem in names]
    try:
        for path in written:
            path.write_text(await RUNS[path](env) + "\n")
    finally:
        await env.shutdown()
    for path in written:
        print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
