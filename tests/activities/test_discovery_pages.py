"""Discovery in pages and provisioning from the plan's task definition source (issue 22), on moto."""

from __future__ import annotations

from collections.abc import Callable

import boto3
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities import discovery
from meshshift.activities.aws import AwsClients
from meshshift.activities.discovery import DiscoveryActivities, snapshot_mesh
from meshshift.activities.provisioning import SPEC_HASH_TAG, ProvisioningActivities
from meshshift.migration import paging
from meshshift.migration.contracts import (
    AppMeshInventory,
    AppMeshStatus,
    BlueDiscovery,
    BlueMeshDiscovery,
    BlueServicesPage,
    DiscoverInput,
    DiscoverServicesInput,
    EnsureNamespaceInput,
    GreenServicePlan,
    ProvisionServiceInput,
)
from meshshift.migration.plan import build_plan
from meshshift.migration.spec import MigrationSpec, ProvisionMode
from meshshift.sim.aws.appmesh import UNAVAILABLE_ENV
from tests.activities import conftest_local as blue
from tests.activities import mesh_apps


def in_pages(clients: AwsClients, spec: MigrationSpec, size: int, max_bytes: int) -> tuple[BlueDiscovery, int]:
    """What the workflow does: the mesh once, then pages until nothing is left unread."""
    activities = DiscoveryActivities(clients)
    mesh = ActivityEnvironment().run(activities.discover_blue_mesh, DiscoverInput(aws=blue.AWS, spec=spec))
    read: list[BlueServicesPage] = []
    for refs in paging.pages(paging.blue_refs(spec), size):
        while refs:
            page = ActivityEnvironment().run(
                activities.discover_blue_services,
                DiscoverServicesInput(
                    aws=blue.AWS,
                    services=refs,
                    mesh=spec.blue.mesh,
                    every_registration=paging.without_mesh_data(mesh.appmesh_status),
                    max_bytes=max_bytes,
                ),
            )
            assert len(page.unread) < len(refs), "every call reads at least one service"
            read.append(page)
            refs = page.unread
    return paging.assemble(mesh, read), len(read)


@pytest.mark.parametrize("with_mesh", [True, False])
def test_pages_put_together_are_what_one_discovery_finds(
    aws_inprocess: None, aws_clients: AwsClients, with_mesh: bool
) -> None:
    names = [f"svc-{i:02d}" for i in range(12)]
    app = blue.seed_blue(with_mesh=with_mesh, services=names)
    spec = blue.spec(app, services=names, mesh=blue.MESH if with_mesh else None)
    whole = ActivityEnvironment().run(
        DiscoveryActivities(aws_clients).discover_blue, DiscoverInput(aws=blue.AWS, spec=spec)
    )
    paged, calls = in_pages(aws_clients, spec, size=5, max_bytes=192 * 1024)
    assert calls == 3  # 12 services and the async worker, 5 a page
    assert paged.model_dump(exclude={"warnings"}) == whole.model_dump(exclude={"warnings"})
    assert sorted(paged.warnings) == sorted(whole.warnings)


def test_a_page_stops_at_its_byte_budget_and_hands_back_the_rest(aws_inprocess: None, aws_clients: AwsClients) -> None:
    names = [f"svc-{i:02d}" for i in range(25)]
    app = blue.seed_blue(with_mesh=False, services=names)
    spec = blue.spec(app, services=names, mesh=None)
    refs = paging.blue_refs(spec)
    page = ActivityEnvironment().run(
        DiscoveryActivities(aws_clients).discover_blue_services,
        DiscoverServicesInput(aws=blue.AWS, services=refs, max_bytes=1),
    )
    # One describe_services batch (10 services) is read, the rest is left for the next call.
    assert [s.name for s in page.services] == names[:10]
    assert page.unread == refs[10:]
    paged, calls = in_pages(aws_clients, spec, size=100, max_bytes=1)
    assert calls == 3
    assert [s.name for s in paged.services] == names and [w.name for w in paged.async_workers] == [blue.WORKER]


def discovered(clients: AwsClients, spec: MigrationSpec) -> BlueDiscovery:
    found = ActivityEnvironment().run(
        DiscoveryActivities(clients).discover_blue, DiscoverInput(aws=blue.AWS, spec=spec)
    )
    # The test spec's ALB listener is not seeded: plan without the edge preflight.
    return found.model_copy(update={"edge_facts": []})


def planned(clients: AwsClients) -> tuple[GreenServicePlan, GreenServicePlan]:
    """The first green service of the seeded app, as the CLI's plan has it and as the workflow keeps it."""
    spec = blue.spec(blue.seed_blue(with_mesh=True))
    found = discovered(clients, spec)
    full = build_plan(spec, found).services[0]
    slim = paging.without_task_definitions(build_plan(spec, found)).services[0]
    assert full.task_definition is not None and slim.task_definition is None and slim.green_task is not None
    return full, slim


def test_provisioning_from_the_source_registers_the_planned_task_definition(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    full, slim = planned(aws_clients)
    assert full.task_definition is not None and slim.green_task is not None
    activities = ProvisioningActivities(aws_clients)
    namespace = ActivityEnvironment().run(
        activities.ensure_namespace, EnsureNamespaceInput(aws=blue.AWS, name="shop.local")
    )

    def provision(plan_item):  # type: ignore[no-untyped-def]
        return ActivityEnvironment().run(
            activities.provision_green_service,
            ProvisionServiceInput(aws=blue.AWS, plan=plan_item, namespace_arn=namespace.arn, mode=ProvisionMode.CREATE),
        )

    made = provision(slim)
    ecs = blue.client("ecs")
    registered = ecs.describe_task_definition(taskDefinition=made.task_definition_arn, include=["TAGS"])
    tags = {t["key"]: t["value"] for t in registered["tags"]}
    assert tags[SPEC_HASH_TAG] == slim.green_task.digest
    assert [c["name"] for c in registered["taskDefinition"]["containerDefinitions"]] == [
        c.name for c in full.task_definition.containerDefinitions
    ]
    # The full plan (the old path) recognises the same revision: nothing new is registered.
    again = provision(full)
    assert again.task_definition_arn == made.task_definition_arn
    assert blue.revision_count(full.task_definition.family) == 1


def test_a_source_that_no_longer_translates_as_planned_is_a_permanent_error(
    aws_inprocess: None, aws_clients: AwsClients
) -> None:
    _, slim = planned(aws_clients)
    assert slim.green_task is not None
    tampered = slim.model_copy(update={"green_task": slim.green_task.model_copy(update={"digest": "0" * 32})})
    activities = ProvisioningActivities(aws_clients)
    with pytest.raises(ApplicationError) as caught:
        ActivityEnvironment().run(
            activities.provision_green_service,
            ProvisionServiceInput(aws=blue.AWS, plan=tampered, namespace_arn="arn:ns", mode=ProvisionMode.CREATE),
        )
    assert caught.value.non_retryable and caught.value.type == "GreenTaskMismatch"
    assert blue.revision_count(slim.green_family) == 0


# --- App Mesh in pages (patch mesh-in-pages) -------------------------------------------------------


def mesh_in_pages(clients: AwsClients, spec: MigrationSpec, max_bytes: int) -> tuple[BlueMeshDiscovery, int]:
    """What the workflow does: the mesh alone, then a page at a time from the cursor it answers."""
    mesh = ActivityEnvironment().run(
        DiscoveryActivities(clients).discover_blue_mesh, DiscoverInput(aws=blue.AWS, spec=spec, mesh_in_pages=True)
    )
    return read_on(clients, spec, mesh, max_bytes)


def read_on(
    clients: AwsClients, spec: MigrationSpec, mesh: BlueMeshDiscovery, max_bytes: int, pages: int | None = None
) -> tuple[BlueMeshDiscovery, int]:
    """``pages`` more pages (None: until the mesh is read); returns the mesh and the pages read."""
    read = 0
    while mesh.appmesh_next is not None and (pages is None or read < pages):
        page = ActivityEnvironment().run(
            DiscoveryActivities(clients).discover_blue_mesh_page,
            paging.mesh_page_input(blue.AWS, spec, mesh.appmesh_next).model_copy(update={"max_bytes": max_bytes}),
        )
        read += 1
        mesh = paging.with_mesh_page(mesh, page)
    return mesh, read


def at_once(clients: AwsClients, spec: MigrationSpec) -> BlueMeshDiscovery:
    return ActivityEnvironment().run(
        DiscoveryActivities(clients).discover_blue_mesh, DiscoverInput(aws=blue.AWS, spec=spec)
    )


def resources(mesh: AppMeshInventory) -> int:
    return len(mesh.virtual_nodes) + len(mesh.virtual_services) + len(mesh.virtual_routers) + len(mesh.virtual_gateways)


@pytest.mark.parametrize("seed", [mesh_apps.seed_colorteller, mesh_apps.seed_bank], ids=["colorteller", "bank"])
@pytest.mark.parametrize("max_bytes", [1, 1500], ids=["a-resource-a-page", "1500-bytes-a-page"])
def test_the_mesh_read_in_pages_is_the_mesh_read_at_once(
    aws_inprocess: None,
    aws_clients: AwsClients,
    monkeypatch: pytest.MonkeyPatch,
    seed: Callable[[], mesh_apps.App],
    max_bytes: int,
) -> None:
    # Two resources a list call: pages end inside a list page and go on from its token.
    monkeypatch.setattr(discovery, "APPMESH_LIST_LIMIT", 2)
    spec = mesh_apps.spec(seed())
    whole = at_once(aws_clients, spec)
    paged, pages = mesh_in_pages(aws_clients, spec, max_bytes)
    assert whole.appmesh is not None and paged.appmesh_status is AppMeshStatus.AVAILABLE
    assert paged.appmesh == whole.appmesh
    assert paged.warnings == whole.warnings
    # Both go through the same list calls: botocore's own paginator is the independent answer.
    appmesh = boto3.client("appmesh", region_name=blue.REGION)

    def listed(operation: str, key: str, name: str) -> list[str]:
        pages = appmesh.get_paginator(operation).paginate(meshName=spec.blue.mesh)
        return sorted(item[name] for page in pages for item in page[key])

    assert sorted(n.name for n in paged.appmesh.virtual_nodes) == listed(
        "list_virtual_nodes", "virtualNodes", "virtualNodeName"
    )
    assert sorted(v.name for v in paged.appmesh.virtual_services) == listed(
        "list_virtual_services", "virtualServices", "virtualServiceName"
    )
    assert sorted(r.name for r in paged.appmesh.virtual_routers) == listed(
        "list_virtual_routers", "virtualRouters", "virtualRouterName"
    )
    assert sorted(g.name for g in paged.appmesh.virtual_gateways) == listed(
        "list_virtual_gateways", "virtualGateways", "virtualGatewayName"
    )
    count = resources(whole.appmesh)
    if max_bytes == 1:
        assert pages == count  # a page ends after the resource that reaches its budget
    else:
        assert 1 < pages < count


def test_the_snapshot_is_read_in_pages_when_the_api_refuses(
    aws_inprocess: None, aws_clients: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = mesh_apps.spec(mesh_apps.seed_bank())
    live = at_once(aws_clients, spec)
    snapshot = snapshot_mesh(boto3.client("appmesh", region_name=blue.REGION), spec.blue.mesh or "", None)
    spec = spec.model_copy(update={"blue": spec.blue.model_copy(update={"appmesh_snapshot": snapshot})})
    monkeypatch.setenv(UNAVAILABLE_ENV, "denied")
    paged, pages = mesh_in_pages(aws_clients, spec, max_bytes=1)
    assert paged.appmesh_status is AppMeshStatus.SNAPSHOT and paged.appmesh == live.appmesh
    assert live.appmesh is not None and pages == resources(live.appmesh)
    assert any("used blue.appmesh_snapshot" in w for w in paged.warnings)


@pytest.mark.parametrize("with_snapshot", [True, False], ids=["snapshot", "no-snapshot"])
def test_an_api_that_stops_answering_part_way_drops_what_it_gave(
    aws_inprocess: None, aws_clients: AwsClients, monkeypatch: pytest.MonkeyPatch, with_snapshot: bool
) -> None:
    """App Mesh's end of support may land between two pages: a half-read mesh is never planned."""
    spec = mesh_apps.spec(mesh_apps.seed_colorteller())
    live = at_once(aws_clients, spec)
    if with_snapshot:
        snapshot = snapshot_mesh(boto3.client("appmesh", region_name=blue.REGION), spec.blue.mesh or "", None)
        spec = spec.model_copy(update={"blue": spec.blue.model_copy(update={"appmesh_snapshot": snapshot})})
    mesh = ActivityEnvironment().run(
        DiscoveryActivities(aws_clients).discover_blue_mesh,
        DiscoverInput(aws=blue.AWS, spec=spec, mesh_in_pages=True),
    )
    mesh, _ = read_on(aws_clients, spec, mesh, max_bytes=1, pages=1)
    assert mesh.appmesh is not None and len(mesh.appmesh.virtual_nodes) == 1
    monkeypatch.setenv(UNAVAILABLE_ENV, "gone")
    mesh, _ = read_on(aws_clients, spec, mesh, max_bytes=1, pages=1)
    assert mesh.appmesh is None, "what the API gave before is dropped"
    assert any("404" in w for w in mesh.warnings)
    if with_snapshot:
        assert mesh.appmesh_status is AppMeshStatus.SNAPSHOT and mesh.appmesh_next is not None
        mesh, pages = read_on(aws_clients, spec, mesh, max_bytes=1)
        assert mesh.appmesh == live.appmesh and live.appmesh is not None and pages == resources(live.appmesh)
        assert any("reads blue.appmesh_snapshot from its start" in w for w in mesh.warnings)
    else:
        assert mesh.appmesh_status is AppMeshStatus.UNAVAILABLE and mesh.appmesh_next is None
        assert any("App Mesh API did not answer" in w for w in mesh.warnings)


def test_a_snapshot_that_cannot_be_read_part_way_leaves_no_app_mesh_data(
    aws_inprocess: None, aws_clients: AwsClients, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = mesh_apps.spec(mesh_apps.seed_bank())
    snapshot = snapshot_mesh(boto3.client("appmesh", region_name=blue.REGION), spec.blue.mesh or "", None)
    broken = snapshot.model_copy(update={"virtual_services": [{"spec": {}}]})  # no virtualServiceName
    spec = spec.model_copy(update={"blue": spec.blue.model_copy(update={"appmesh_snapshot": broken})})
    monkeypatch.setenv(UNAVAILABLE_ENV, "denied")
    mesh, _ = mesh_in_pages(aws_clients, spec, max_bytes=1)
    assert mesh.appmesh_status is AppMeshStatus.UNAVAILABLE and mesh.appmesh is None
    assert any("blue.appmesh_snapshot could not be read" in w and "virtualServiceName" in w for w in mesh.warnings)
