"""Discovery and planning at scale (issue 22), as pure functions.

One ``discover_blue`` result held every blue task definition: 836 KB at 500 services, and over
Temporal's 2 MB blob limit at about 1,200. So the workflow now discovers in pages (``pages``), puts
the pages and the application-wide part back together in memory (``assemble``: the same
``BlueDiscovery`` ``build_plan`` always took), and keeps the plan without green's task definitions
(``without_task_definitions``): each green service carries a ``GreenTaskSource`` instead, and the
provisioning activity re-reads blue's revision and builds green's definition again
(``green_task_definition``), the same function planning used.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypeVar

from meshshift.migration.appmesh_snapshot import AppMeshSnapshot
from meshshift.migration.contracts import (
    AppMeshInventory,
    AppMeshPage,
    AppMeshStatus,
    AwsContext,
    BlueDiscovery,
    BlueMeshDiscovery,
    BlueService,
    BlueServiceRef,
    BlueServicesPage,
    DiscoverMeshPageInput,
    GreenServicePlan,
    GreenTaskSource,
    InferredAlias,
    MeshCursor,
    MeshSource,
    MigrationPlan,
    PortMappingRef,
    TaskDefinition,
)
from meshshift.migration.inference import env_backend_calls, infer_aliases
from meshshift.migration.spec import MigrationSpec
from meshshift.migration.translate import TranslatedService
from meshshift.migration.translate_taskdef import ServedPort, build_green_task_definition

T = TypeVar("T")

# Services per discover_blue_services call: ten describe_services batches. The activity also stops
# early at its byte budget, so a page of unusually large task definitions stays bounded too.
PAGE_SIZE = 100
# Green services per call of the activities that list them (wait_services_stable, collect_metrics...).
BATCH_SERVICES = 100
# Green services provisioned between two chances to continue-as-new: a run's history stays about
# 6,000 events at most, where a whole 5,000-service provisioning took 30,000 in one run, and
# replaying that (a restarted worker does) took 35 s.
PROVISION_CHUNK = 1000


class GreenTaskMismatch(ValueError):
    """Blue's revision, translated again, is not what the plan recorded (its digest differs)."""


def blue_refs(spec: MigrationSpec) -> list[BlueServiceRef]:
    """Every blue service discovery reads: the spec's services, then the async workers' blue side."""
    refs = [BlueServiceRef(cluster=spec.blue.cluster, name=name) for name in spec.blue.services]
    refs += [
        BlueServiceRef(cluster=w.cluster or spec.blue.cluster, name=w.blue_service, async_worker=True)
        for w in spec.async_workers
    ]
    return refs


def pages(items: list[T], size: int = PAGE_SIZE) -> list[list[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def without_mesh_data(status: AppMeshStatus) -> bool:
    """Without App Mesh data every service's Cloud Map registration matters: it is the name clients use."""
    return status in (AppMeshStatus.UNAVAILABLE, AppMeshStatus.NOT_CONFIGURED)


def namespaces(services: list[BlueService], inventory: AppMeshInventory | None) -> list[str]:
    """Cloud Map namespaces blue lives in: its registrations, and App Mesh's service discovery."""
    found = {r.namespace for s in services for r in s.cloud_map if r.namespace}
    if inventory is not None:
        found |= {n.cloud_map_namespace for n in inventory.virtual_nodes if n.cloud_map_namespace}
        found |= {v.name.split(".", 1)[1] for v in inventory.virtual_services if "." in v.name}
    return sorted(found)


def mesh_page_input(aws: AwsContext, spec: MigrationSpec, cursor: MeshCursor) -> DiscoverMeshPageInput:
    """The next page's input: the mesh's names, and the snapshot only for pages read from it."""
    snapshot = spec.blue.appmesh_snapshot if isinstance(spec.blue.appmesh_snapshot, AppMeshSnapshot) else None
    return DiscoverMeshPageInput(
        aws=aws,
        mesh=spec.blue.mesh or "",
        mesh_owner=spec.blue.mesh_owner,
        snapshot=snapshot if cursor.source is MeshSource.SNAPSHOT else None,
        snapshot_given=snapshot is not None,
        cursor=cursor,
    )


def with_mesh_page(mesh: BlueMeshDiscovery, page: AppMeshPage) -> BlueMeshDiscovery:
    """``mesh`` with one more page of its resources. A page that says the App Mesh API stopped
    answering (or the snapshot could not be read) drops what was read before: the snapshot is read
    from its start instead, or, without one, blue is discovered as without App Mesh data."""
    warnings = [*mesh.warnings, *page.warnings]
    if page.problem is not None:
        return mesh.model_copy(
            update={
                "appmesh_status": AppMeshStatus.UNAVAILABLE if page.next is None else AppMeshStatus.SNAPSHOT,
                "appmesh": None,
                "appmesh_next": page.next,
                "warnings": warnings,
            }
        )
    read, added = mesh.appmesh, page.resources
    if read is None:
        # A snapshot read after the API stopped answering starts afresh: its first page brings the mesh.
        inventory = added
    else:
        inventory = read.model_copy(
            update={
                "virtual_nodes": [*read.virtual_nodes, *added.virtual_nodes],
                "virtual_services": [*read.virtual_services, *added.virtual_services],
                "virtual_routers": [*read.virtual_routers, *added.virtual_routers],
                "routes": [*read.routes, *added.routes],
                "virtual_gateways": [*read.virtual_gateways, *added.virtual_gateways],
            }
        )
    return mesh.model_copy(update={"appmesh": inventory, "appmesh_next": page.next, "warnings": warnings})


def assemble(mesh: BlueMeshDiscovery, read: list[BlueServicesPage]) -> BlueDiscovery:
    """The pages and the application-wide part as one ``BlueDiscovery``, with what spans services
    (namespaces, the backends blue's clients call, aliases inferred without App Mesh) computed over
    all of them, as ``discover_blue`` does."""
    services = [s for page in read for s in page.services]
    workers = [s for page in read for s in page.async_workers]
    every = [*services, *workers]
    found = namespaces(every, mesh.appmesh)
    calls = [call for s in every for call in env_backend_calls(s, set(found))]
    warnings = [*mesh.warnings, *(w for page in read for w in page.warnings)]
    inferred: list[InferredAlias] = []
    if without_mesh_data(mesh.appmesh_status):
        inferred, notes = infer_aliases(every, calls, set(found))
        warnings.extend(notes)
    return BlueDiscovery(
        services=services,
        async_workers=workers,
        appmesh_status=mesh.appmesh_status,
        appmesh=mesh.appmesh,
        warnings=warnings,
        edge_facts=mesh.edge_facts,
        backend_calls=calls,
        inferred_aliases=inferred,
        namespaces=found,
    )


def task_definition_body(task_definition: TaskDefinition) -> dict[str, Any]:
    """The ``register_task_definition`` arguments for ``task_definition``, without tags."""
    body = task_definition.model_dump(mode="json", exclude_none=True, by_alias=True)
    body.pop("tags", None)
    return body


def task_definition_hash(task_definition: TaskDefinition) -> str:
    return hashlib.sha256(json.dumps(task_definition_body(task_definition), sort_keys=True).encode()).hexdigest()[:32]


def green_task_source(blue: BlueService, translated: TranslatedService, family_suffix: str) -> GreenTaskSource:
    """Without its digest: overrides and the plan-wide passes still change the definition, and
    ``sealed`` records the digest of the final one (hashing twice per service cost planning time)."""
    return GreenTaskSource(
        blue_task_definition_arn=blue.task_definition_arn,
        family=translated.task_definition.family,
        family_suffix=family_suffix,
        served_ports=list(translated.served_ports),
        digest="",
    )


def sealed(source: GreenTaskSource, planned: TaskDefinition) -> GreenTaskSource:
    """``source`` with the port mappings as the finished plan has them (green.services overrides
    rename ports and set protocols after the translation) and the digest of the planned definition."""
    return source.model_copy(
        update={
            "port_mappings": [
                PortMappingRef(container=c.name, index=i, name=m.name, app_protocol=m.appProtocol)
                for c in planned.containerDefinitions
                for i, m in enumerate(c.portMappings)
            ],
            "digest": task_definition_hash(planned),
        }
    )


def green_task_definition(blue: TaskDefinition, source: GreenTaskSource) -> TaskDefinition:
    """Green's task definition, built again from blue's revision as planning built it.

    Raises ``GreenTaskMismatch`` when the result is not what the plan recorded: registering it
    would run something nobody reviewed."""
    ports = [
        ServedPort(port=p.port, app_protocol=p.app_protocol, from_listener=p.from_listener) for p in source.served_ports
    ]
    green, _, _ = build_green_task_definition(blue, ports, source.family_suffix)
    planned = {(p.container, p.index): p for p in source.port_mappings}
    for container in green.containerDefinitions:
        for index, mapping in enumerate(container.portMappings):
            ref = planned.get((container.name, index))
            if ref is not None:
                mapping.name, mapping.appProtocol = ref.name, ref.app_protocol
    digest = task_definition_hash(green)
    if digest != source.digest:
        raise GreenTaskMismatch(
            f"blue task definition {source.blue_task_definition_arn} translates to a green task definition "
            f"(hash {digest}) that differs from the plan's (hash {source.digest})"
        )
    return green


def without_task_definitions(plan: MigrationPlan) -> MigrationPlan:
    """The plan as the workflow keeps it: green's task definitions dropped where their source is known."""

    def slim(items: list[GreenServicePlan]) -> list[GreenServicePlan]:
        return [p.model_copy(update={"task_definition": None}) if p.green_task is not None else p for p in items]

    return plan.model_copy(update={"services": slim(plan.services), "async_workers": slim(plan.async_workers)})
