"""Worker Versioning: two builds of the worker on one dev server.

Migrations started on build 1 are still baking when build 2 becomes the deployment's current
version. MeshMigration is AUTO_UPGRADE, so they finish on build 2 (every workflow task after the
switch is completed by build 2) and end correctly; a migration started after the switch runs on
build 2 alone; and every history replays with the code of the new build.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

from temporalio.api.workflowservice.v1 import SetWorkerDeploymentCurrentVersionRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, WorkerDeploymentConfig

from meshshift.workers.keepalive import KeepaliveInterceptor
from meshshift.workers.worker import MeshshiftWorker, paired_worker
from meshshift.workflows.migration import VERSIONING_BEHAVIOR, MeshMigration
from meshshift.workflows.sandbox import workflow_runner
from tests.workflows.fakes import FakeActivities, FakeWorld
from tests.workflows.harness import baking, fast_spec, start, wait_for, world_for


@asynccontextmanager
async def versioned_worker(
    client: Client, world: FakeWorld, task_queue: str, deployment: str, build_id: str
) -> AsyncIterator[MeshshiftWorker]:
    worker = paired_worker(
        client,
        task_queue,
        workflows=[MeshMigration],
        activities=FakeActivities(world).all(),
        workflow_runner=workflow_runner(),
        interceptors=[KeepaliveInterceptor()],
        deployment_config=WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment_name=deployment, build_id=build_id),
            use_worker_versioning=True,
            default_versioning_behavior=VERSIONING_BEHAVIOR,
        ),
    )
    async with worker:
        try:
            yield worker
        finally:
            world.release_all()


async def make_current(client: Client, deployment: str, build_id: str) -> None:
    """`temporal worker deployment set-current-version`; the version exists once its worker has
    polled, which the server learns asynchronously, so a refusal is retried for a bounded time."""
    request = SetWorkerDeploymentCurrentVersionRequest(
        namespace=client.namespace, deployment_name=deployment, build_id=build_id, identity="test"
    )
    last: RPCError | None = None
    for _ in range(100):
        try:
            await client.workflow_service.set_worker_deployment_current_version(request)
            return
        except RPCError as err:  # "version not found" until the first poll registers it
            last = err
            await asyncio.sleep(0.1)
    raise AssertionError(f"{deployment}.{build_id} never became current: {last}")


async def task_builds(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The build id that completed each workflow task, in order."""
    builds = []
    async for event in handle.fetch_history_events():
        if event.HasField("workflow_task_completed_event_attributes"):
            attrs = event.workflow_task_completed_event_attributes
            builds.append(attrs.deployment_version.build_id or attrs.worker_deployment_version)
    return builds


async def test_running_migrations_upgrade_to_the_new_build_and_new_ones_start_there(
    env_local: WorkflowEnvironment, task_queue: str
) -> None:
    client = env_local.client
    deployment = f"meshshift-test-{uuid4().hex[:8]}"
    # A long first bake, so both migrations are surely still baking when build 2 takes over.
    body = fast_spec(ramp={"steps": [{"weight": 5, "bake": "PT8S"}, 100], "bake": "PT2S"})
    world = world_for(body)

    async with versioned_worker(client, world, task_queue, deployment, "build-1"):
        await make_current(client, deployment, "build-1")
        started = [await start(env_local, task_queue, body) for _ in range(2)]
        for handle in started:
            await wait_for(handle, baking(0), "the first bake on build 1", limit=60)

        async with versioned_worker(client, world, task_queue, deployment, "build-2"):
            await make_current(client, deployment, "build-2")
            reports = await asyncio.wait_for(asyncio.gather(*(h.result() for h in started)), 120)
            later = await start(env_local, task_queue, body)
            late_report = await asyncio.wait_for(later.result(), 120)

    for report in [*reports, late_report]:
        assert report.outcome == "completed", report.events[-5:]
    assert world.green_percent() == 100
    for handle in started:
        builds = await task_builds(handle)
        assert builds[0] == "build-1", builds
        switched = builds.index("build-2")
        assert set(builds[switched:]) == {"build-2"}, f"{handle.id} went back to build 1 after the switch: {builds}"
        described = await handle.describe()
        assert described.raw_description.workflow_execution_info.versioning_info.behavior == (
            VersioningBehavior.AUTO_UPGRADE.value
        )
    assert set(await task_builds(later)) == {"build-2"}

    replayer = Replayer(
        workflows=[MeshMigration], data_converter=pydantic_data_converter, workflow_runner=workflow_runner()
    )
    for handle in [*started, later]:
        history = await handle.fetch_history()
        await replayer.replay_workflow(history)
