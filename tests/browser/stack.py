"""What the Web UI journey runs against: `meshshift server` (the embedded dev server with its Web UI),
the simulated AWS seeded with the demo's blue shop, and the real worker (every real activity),
all on free loopback ports and in this test's own temporary directory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from meshshift.activities.aws import AwsClients
from meshshift.migration.constants import QUERY_STATUS, WORKFLOW_ID_PREFIX
from meshshift.migration.loading import validate_spec
from meshshift.migration.state import MigrationStatus
from meshshift.sim import demo_world
from meshshift.sim.demo_world import DemoWorld, EdgeWeights
from meshshift.sim.green_health import GreenHealth
from meshshift.workers.embedded_server import NAMESPACE, EmbeddedServer
from meshshift.workers.worker import activity_thread_pool, build_worker
from tests.netutil import free_ports

MAX_CONCURRENT_ACTIVITIES = 10


@dataclass
class Stack:
    server: EmbeddedServer
    client: Client
    world: DemoWorld
    spec: dict[str, Any]
    task_queue: str

    @property
    def ui_url(self) -> str:
        assert self.server.ui_url is not None
        return self.server.ui_url

    @property
    def app(self) -> str:
        name: str = self.spec["name"]
        return name

    @property
    def workflow_id(self) -> str:
        return f"{WORKFLOW_ID_PREFIX}{self.app}"

    def handle(self) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle(self.workflow_id)

    async def status(self) -> MigrationStatus:
        """The status query, answered by the worker (the test's own check beside what the UI shows)."""
        answer = await self.handle().query(QUERY_STATUS, result_type=MigrationStatus)
        return MigrationStatus.model_validate(answer)

    async def edge_weights(self) -> EdgeWeights:
        """The ALB forward weights and the Route 53 record weights, read back from the simulated AWS."""
        return await asyncio.to_thread(demo_world.read_edge_weights, self.world)


def journey_spec(world: DemoWorld, health_urls: list[str]) -> dict[str, Any]:
    """The demo's spec: every gate needs an approval; bakes are short so the next gate opens quickly.

    With no traffic simulator, green serves no requests, so the analysis has no numbers: it passes
    rather than holding the ramp (it is not what this test is about).
    """
    spec = demo_world.demo_spec(world, health_urls=health_urls, speed=15.0)
    spec["ramp"]["bake"] = "PT2S"
    spec["analysis"]["on_no_data"] = "pass"
    # Alarms and analysis still run, less often than in the demo: it keeps the history readable in the UI.
    spec["alarm_poll_interval"] = "PT10S"
    spec["analysis"]["interval"] = "PT10S"
    validate_spec(spec)
    return spec


@contextlib.asynccontextmanager
async def running_stack(data_dir: Path) -> AsyncIterator[Stack]:
    """Server (with UI), seeded simulated AWS (the caller has pointed AWS_ENDPOINT_URL at it), health
    servers and a worker on a task queue of its own. Everything is stopped on exit."""
    port, ui_port = free_ports(2)
    server = EmbeddedServer(port=port, ui_port=ui_port, data_dir=data_dir)
    health = GreenHealth(demo_world.HEALTH_DEPENDENCIES)
    executor = activity_thread_pool(MAX_CONCURRENT_ACTIVITIES, "browser-activity")
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(executor.shutdown, wait=False, cancel_futures=True)
        # The server starts (a few seconds) while the shop is seeded.
        starting = asyncio.create_task(asyncio.to_thread(server.start))

        async def stop_server() -> None:
            with contextlib.suppress(BaseException):
                await starting  # stop() must not race a start() still running in its thread
            await asyncio.to_thread(server.stop)

        stack.push_async_callback(stop_server)
        world = await asyncio.to_thread(demo_world.seed_shop)
        health.start()
        stack.callback(health.stop)
        await starting
        client = await Client.connect(server.address, namespace=NAMESPACE, data_converter=pydantic_data_converter)
        # The server is this test's alone, but a queue name of its own costs nothing and proves the
        # form's Task Queue field is what routes the workflow.
        task_queue = f"mesh-migration-ui-{uuid4().hex[:8]}"
        worker = build_worker(client, task_queue, AwsClients(), MAX_CONCURRENT_ACTIVITIES, activity_executor=executor)
        await stack.enter_async_context(worker)
        yield Stack(server, client, world, journey_spec(world, health.urls), task_queue)
