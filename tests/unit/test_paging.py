"""Discovery in pages and the plan without green task definitions (issue 22): the pure side."""

from __future__ import annotations

import pytest

from meshshift.migration import paging, plan_translation
from meshshift.migration import plan as plan_module
from meshshift.migration.contracts import (
    AppMeshStatus,
    BlueMeshDiscovery,
    BlueServicesPage,
    CloudMapRegistration,
    KeyValue,
)
from meshshift.migration.plan import build_plan
from meshshift.migration.spec import MigrationSpec
from tests.unit.test_plan import blue_service, discovery, spec

__all__ = ["spec"]  # a fixture, used by name


def test_pages_cover_the_services_then_the_async_workers_in_order(spec: MigrationSpec) -> None:
    refs = paging.blue_refs(spec)
    assert [r.name for r in refs] == [*spec.blue.services, *(w.blue_service for w in spec.async_workers)]
    assert [r.async_worker for r in refs] == [False] * len(spec.blue.services) + [True] * len(spec.async_workers)
    split = paging.pages(refs, size=2)
    assert [len(p) for p in split] == [2] * (len(refs) // 2) + ([len(refs) % 2] if len(refs) % 2 else [])
    assert [r for p in split for r in p] == refs


@pytest.mark.parametrize("with_mesh", [True, False])
def test_green_task_definition_is_built_again_from_blue_as_planned(spec: MigrationSpec, with_mesh: bool) -> None:
    found = discovery(with_mesh=with_mesh)
    plan = build_plan(spec, found)
    blue = {s.name: s for s in [*found.services, *found.async_workers]}
    for green in [*plan.services, *plan.async_workers]:
        assert green.green_task is not None and green.task_definition is not None
        assert green.green_task.blue_task_definition_arn == blue[green.blue_service].task_definition_arn
        rebuilt = paging.green_task_definition(blue[green.blue_service].task_definition, green.green_task)
        assert rebuilt == green.task_definition
        assert green.green_family == green.task_definition.family


def test_a_translation_that_differs_from_the_plan_is_refused(spec: MigrationSpec) -> None:
    found = discovery()
    plan = build_plan(spec, found)
    green = plan.services[0]
    assert green.green_task is not None
    changed = found.services[0].task_definition.model_copy(update={"cpu": "4096"})
    with pytest.raises(paging.GreenTaskMismatch, match="differs from the plan"):
        paging.green_task_definition(changed, green.green_task)


def test_the_workflows_plan_keeps_the_source_not_the_definition(spec: MigrationSpec) -> None:
    plan = build_plan(spec, discovery())
    slim = paging.without_task_definitions(plan)
    assert all(p.task_definition is None and p.green_task is not None for p in [*slim.services, *slim.async_workers])
    assert [p.green_family for p in slim.services] == [p.green_family for p in plan.services]
    assert len(slim.model_dump_json()) < len(plan.model_dump_json())


def _registered(name: str, namespace: str) -> CloudMapRegistration:
    return CloudMapRegistration(
        registry_arn=f"arn:aws:servicediscovery:us-east-1:123456789012:service/srv-{name}",
        service=name,
        namespace=namespace,
        dns_records=["A"],
    )


def test_assembled_pages_see_calls_and_aliases_across_pages() -> None:
    """A client in one page calls a service registered in another: the call and the alias are
    found, as they are when one call discovers everything."""
    client = blue_service("frontend")
    client.task_definition.containerDefinitions[0].environment.append(
        KeyValue(name="STOCK_URL", value="http://stock-api.shop.local:9090")
    )
    server = blue_service("stock-api", cloud_map=[_registered("stock-api", "shop.local")])
    mesh = BlueMeshDiscovery(appmesh_status=AppMeshStatus.NOT_CONFIGURED)
    one = paging.assemble(mesh, [BlueServicesPage(services=[client, server])])
    two = paging.assemble(
        mesh, [BlueServicesPage(services=[client], warnings=["first"]), BlueServicesPage(services=[server])]
    )
    assert [(c.client, c.host, c.port) for c in two.backend_calls] == [("frontend", "stock-api.shop.local", 9090)]
    assert [(a.blue_service, a.dns_name, a.port) for a in two.inferred_aliases] == [
        ("stock-api", "stock-api.shop.local", 9090)
    ]
    assert two.namespaces == ["shop.local"]
    assert two.model_dump(exclude={"warnings"}) == one.model_dump(exclude={"warnings"})
    assert two.warnings[0] == "first"


def test_ports_renamed_by_an_override_are_built_again_as_planned() -> None:
    """green.services overrides rename a port and set its protocol after the translation: the
    source records the finished mappings, so provisioning registers what the plan shows."""
    from meshshift.migration.loading import validate_spec
    from tests.unit.specdata import shop

    data = shop()
    data["green"]["services"] = {"user-api": {"port_name": "api", "app_protocol": "http2"}}
    overridden = validate_spec(data)
    found = discovery()
    plan = build_plan(overridden, found)
    green = next(p for p in plan.services if p.blue_service == "user-api")
    assert green.task_definition is not None and green.green_task is not None
    names = [(m.name, m.appProtocol) for c in green.task_definition.containerDefinitions for m in c.portMappings]
    assert ("api", "http2") in names
    blue = next(s for s in found.services if s.name == "user-api")
    assert paging.green_task_definition(blue.task_definition, green.green_task) == green.task_definition


@pytest.mark.parametrize("with_mesh", [True, False])
def test_planning_in_steps_pauses_every_step_and_plans_as_in_one_go(
    spec: MigrationSpec, with_mesh: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workflow drives plan_in_steps with a timer at each pause; the plan must not depend on it."""
    found = discovery(with_mesh=with_mesh)
    whole = build_plan(spec, found)
    monkeypatch.setattr(plan_translation, "STEP_SERVICES", 1)
    monkeypatch.setattr(plan_module, "STEP_SERVICES", 1)
    steps = plan_module.plan_in_steps(spec, found)
    pauses = 0
    while True:
        try:
            next(steps)
        except StopIteration as done:
            stepped = done.value
            break
        pauses += 1
    # One pause per blue service translated, one per green service planned, and three between the
    # plan-wide passes of a plan of STEP_SERVICES or more.
    assert pauses == len(spec.blue.services) + len(stepped.services) + len(stepped.async_workers) + 3
    assert stepped == whole


def test_a_warning_many_services_share_is_one_line() -> None:
    same = "no App Mesh listener data: every TCP port mapping (8080) becomes a Service Connect endpoint"
    warnings = [
        "discovery: one",
        *(f"service 's{i}': {same}" for i in range(5000)),
        "service 'odd': its own",
        *(f"service 'b{i}': shared by three" for i in range(3)),
    ]
    grouped = plan_module.grouped_by_service(warnings)
    assert grouped == [
        "discovery: one",
        f"5000 services ('s0', 's1', 's2' and 4,997 more): {same}",
        "service 'odd': its own",
        *(f"service 'b{i}': shared by three" for i in range(3)),
    ]
