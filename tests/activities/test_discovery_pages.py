"""Discovery in pages and provisioning from the plan's task definition source (issue 22), on moto."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.discovery import DiscoveryActivities
from meshshift.activities.provisioning import SPEC_HASH_TAG, ProvisioningActivities
from meshshift.migration import paging
from meshshift.migration.contracts import (
    BlueDiscovery,
    BlueServicesPage,
    DiscoverInput,
    DiscoverServicesInput,
    EnsureNamespaceInput,
    GreenServicePlan,
    ProvisionServiceInput,
)
from meshshift.migration.plan import build_plan
from meshshift.migration.spec import MigrationSpec, ProvisionMode
from tests.activities import conftest_local as blue


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
