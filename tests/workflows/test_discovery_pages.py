"""Issue 22: blue discovered in pages, and a plan that carries where green's task definitions come
from instead of the definitions (patch paged-discovery), with fakes under the real activity names."""

from __future__ import annotations

from meshshift.migration import contracts as c
from meshshift.migration.paging import PAGE_SIZE
from meshshift.migration.state import Phase
from tests.workflows.harness import make_spec, running_worker, start, wait_for, world_for

SERVICES = 2 * PAGE_SIZE + 30


async def test_many_services_are_discovered_in_pages_and_provisioned_from_their_source(
    env_timeskipping, task_queue
) -> None:
    body = make_spec()
    body["blue"]["services"] = [f"svc-{i:03d}" for i in range(SERVICES)]
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        final = await wait_for(handle, lambda s: s.phase is Phase.RAMPING, "the ramp", limit=120.0)
        history = await handle.fetch_history()
        await handle.terminate("test done")

    # The services and the async workers, a page at a time; App Mesh and the edge once.
    pages = -(-(SERVICES + len(body["async_workers"])) // PAGE_SIZE)
    assert world.calls[c.DISCOVER_BLUE_MESH.name] == 1
    assert world.calls[c.DISCOVER_BLUE_SERVICES.name] == pages
    assert world.calls[c.DISCOVER_BLUE.name] == 0
    assert final.plan is not None and len(final.plan.services) == SERVICES
    green = [*final.plan.services, *final.plan.async_workers]
    assert all(p.task_definition is None and p.green_task is not None for p in green)
    assert all(p.green_task.blue_task_definition_arn.endswith(f"/{p.blue_service}:7") for p in green if p.green_task)
    assert world.calls[c.PROVISION_GREEN_SERVICE.name] == len(green)
    assert all((p.cluster, p.green_service) in world.services for p in green)
    # Each page's result holds at most PAGE_SIZE services: far below one result for all of them.
    largest = max(e.ByteSize() for e in history.events)
    assert largest < 256 * 1024
