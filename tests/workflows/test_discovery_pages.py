"""Issue 22: blue discovered in pages, and a plan that carries where green's task definitions come
from instead of the definitions (patch paged-discovery), with fakes under the real activity names."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType

from meshshift.migration import contracts as c
from meshshift.migration import plan as plan_module
from meshshift.migration import plan_translation
from meshshift.migration.constants import QUERY_PLAN_SERVICES
from meshshift.migration.paging import BATCH_SERVICES, PAGE_SIZE
from meshshift.migration.state import PLAN_SERVICES_SHOWN, Phase, PlanServicesPage
from tests.workflows.fakes import MESH_PAGE
from tests.workflows.harness import make_spec, running_worker, start, wait_for, world_for

SERVICES = 2 * PAGE_SIZE + 30
STEP = 100


async def test_many_services_are_discovered_in_pages_and_provisioned_from_their_source(
    env_timeskipping, task_queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Planning pauses every STEP services (patch planning-in-steps); 1,000 in production.
    monkeypatch.setattr(plan_translation, "STEP_SERVICES", STEP)
    monkeypatch.setattr(plan_module, "STEP_SERVICES", STEP)
    body = make_spec()
    body["blue"]["services"] = [f"svc-{i:03d}" for i in range(SERVICES)]
    world = world_for(body)
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        final = await wait_for(handle, lambda s: s.phase is Phase.RAMPING, "the ramp", limit=120.0)
        page = await handle.query(QUERY_PLAN_SERVICES, {"limit": 500}, result_type=PlanServicesPage)
        history = await handle.fetch_history()
        await handle.terminate("test done")

    # The services and the async workers, a page at a time; App Mesh and the edge once.
    pages = -(-(SERVICES + len(body["async_workers"])) // PAGE_SIZE)
    assert world.calls[c.DISCOVER_BLUE_MESH.name] == 1
    assert world.calls[c.DISCOVER_BLUE_SERVICES.name] == pages
    assert world.calls[c.DISCOVER_BLUE.name] == 0
    # The status query shows the first PLAN_SERVICES_SHOWN; the plan_services query pages through all.
    assert final.plan is not None and final.plan_services_total == SERVICES + len(body["async_workers"])
    assert len(final.plan.services) == PLAN_SERVICES_SHOWN
    green = page.services
    assert [p.blue_service for p in green if not p.is_async_worker] == body["blue"]["services"]
    assert all(p.task_definition is None and p.green_task is not None for p in green)
    assert all(p.green_task.blue_task_definition_arn.endswith(f"/{p.blue_service}:7") for p in green if p.green_task)
    assert world.calls[c.PROVISION_GREEN_SERVICE.name] == len(green)
    assert all((p.cluster, p.green_service) in world.services for p in green)
    # Activities that list green services take them a batch at a time (patch service-batches).
    batches = -(-SERVICES // BATCH_SERVICES)
    assert world.calls[c.WAIT_SERVICES_STABLE.name] == batches
    assert world.calls[c.COLLECT_METRICS.name] == batches  # the baseline, at the end of validation
    # Each page's result holds at most PAGE_SIZE services: far below one result for all of them.
    largest = max(e.ByteSize() for e in history.events)
    assert largest < 256 * 1024
    # A pause per STEP blue services translated and per STEP green services planned, and three
    # between the plan-wide passes, each its own workflow task (a timer), so no workflow task plans
    # more than STEP services.
    timers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED]
    planning = [t for t in timers if t.user_metadata.summary.data and b"planning" in t.user_metadata.summary.data]
    assert len(planning) == 2 * (SERVICES // STEP) + 3
    patches = [
        e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert any(b"planning-in-steps" in p for p in patches)


MESH_NODES = PLAN_SERVICES_SHOWN + MESH_PAGE // 2  # over what the status shows


@pytest.mark.parametrize("gone_at_page", [None, 2], ids=["answering", "gone-part-way"])
async def test_app_mesh_is_read_a_page_at_a_time_and_dropped_if_the_api_stops_part_way(
    env_timeskipping, task_queue, gone_at_page: int | None
) -> None:
    """Patch mesh-in-pages: the mesh's resources come a bounded page per call. If the App Mesh API
    stops answering part way (end of support), what it gave is dropped, not planned half-read."""
    body = make_spec()
    body["blue"]["mesh"] = "shop-mesh"
    world = world_for(body)
    world.mesh = c.AppMeshInventory(
        mesh_name="shop-mesh", virtual_nodes=[c.AppMeshVirtualNode(name=f"node-{i:03d}") for i in range(MESH_NODES)]
    )
    world.mesh_gone_at_page = gone_at_page
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        final = await wait_for(handle, lambda s: s.phase is Phase.RAMPING, "the ramp", limit=120.0)
        history = await handle.fetch_history()
        await handle.terminate("test done")

    assert world.calls[c.DISCOVER_BLUE_MESH.name] == 1 and world.calls[c.DISCOVER_BLUE.name] == 0
    assert final.plan is not None
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    # The services are read alongside the mesh, not after its last page.
    mesh_pages = [i for i, name in enumerate(scheduled) if name == c.DISCOVER_BLUE_MESH_PAGE.name]
    assert scheduled.index(c.DISCOVER_BLUE_SERVICES.name) < mesh_pages[1]
    if gone_at_page is None:
        assert world.calls[c.DISCOVER_BLUE_SERVICES.name] == 1
        assert world.calls[c.DISCOVER_BLUE_MESH_PAGE.name] == -(-MESH_NODES // MESH_PAGE)
        nodes = [f"virtualNode node-{i:03d}" for i in range(MESH_NODES)]
        # The status shows the first PLAN_SERVICES_SHOWN resources; decommission has them all.
        assert final.plan.appmesh_resources == nodes[:PLAN_SERVICES_SHOWN]
        assert final.plan_appmesh_resources_total == MESH_NODES + 1  # and the mesh
    else:
        assert world.calls[c.DISCOVER_BLUE_MESH_PAGE.name] == gone_at_page
        assert final.plan.appmesh_resources == [] and final.plan_appmesh_resources_total == 0
        # Read alongside the mesh expecting App Mesh data, the services are read again without it.
        assert world.calls[c.DISCOVER_BLUE_SERVICES.name] == 2
        assert any("App Mesh API did not answer" in w for w in final.warnings)
    patches = [
        e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data
        for e in history.events
        if e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]
    assert any(b"mesh-in-pages" in p for p in patches)
