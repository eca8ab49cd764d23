"""Planning's translation step: every blue service of the spec is translated, or gets no green copy
and is reported; then what spans services (ingress through gateways, backends, the mesh itself).

Pure: ``plan.build_plan`` turns the result into green service plans. The edge is only seen as a
map of blue -> green target groups, which the caller derives from the spec.
"""

from __future__ import annotations

from collections.abc import Generator

from pydantic import BaseModel, Field

from meshshift.migration.contracts import (
    AppMeshInventory,
    BlueDiscovery,
    BlueService,
    InferredAlias,
    LoadBalancerAttachment,
    UntranslatableItem,
)
from meshshift.migration.inference import aliases_by_service
from meshshift.migration.spec import AsyncWorkerSpec, MigrationSpec
from meshshift.migration.translate import (
    EnvoyOnlyTaskDefinition,
    TranslatedService,
    backend_items,
    translate_service,
)
from meshshift.migration.translate_gateways import (
    AliasOwner,
    IngressDecision,
    gateway_items,
    gateway_service_item,
    ingress_for,
)
from meshshift.migration.translate_mesh import mesh_items
from meshshift.migration.translate_taskdef import (
    application_containers,
    container_port_for,
    virtual_gateway_from_task_definition,
)


class Translated(BaseModel):
    """A blue service that gets a green copy."""

    blue: BlueService
    result: TranslatedService
    green_name: str
    worker: AsyncWorkerSpec | None = None

    def blue_with_ingress(self, extra: list[LoadBalancerAttachment]) -> BlueService:
        """Blue as seen by the green plan: plus the gateway attachments green takes over."""
        known = {(lb.target_group_arn, lb.container_name, lb.container_port) for lb in self.blue.load_balancers}
        added = [lb for lb in extra if (lb.target_group_arn, lb.container_name, lb.container_port) not in known]
        return self.blue.model_copy(update={"load_balancers": [*self.blue.load_balancers, *added]})


class BlueTranslation(BaseModel):
    services: list[Translated] = Field(default_factory=list)
    workers: list[Translated] = Field(default_factory=list)
    retired: list[str] = Field(default_factory=list, description="blue services with no green copy")
    ingress: dict[str, list[LoadBalancerAttachment]] = Field(
        default_factory=dict, description="blue service -> blue target groups it serves in green instead of a gateway"
    )
    items: list[UntranslatableItem] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class _NoCopy(BaseModel):
    blue: BlueService
    gateway: str | None


# Services planned between two pauses of ``plan.plan_in_steps``: about 0.1 s on a 2-core machine,
# far from the SDK's 2 s limit for one workflow task, even on a loaded worker.
STEP_SERVICES = 1000


def translate_blue(
    spec: MigrationSpec, discovery: BlueDiscovery, target_groups: dict[str, str]
) -> Generator[None, None, BlueTranslation]:
    """Translate the spec's services and async workers (``target_groups``: blue -> green, per edge),
    pausing (``yield``) after every ``STEP_SERVICES`` services."""
    out = BlueTranslation()
    found = {s.name: s for s in discovery.services}
    inferred = aliases_by_service(discovery.inferred_aliases)
    no_copy: list[_NoCopy] = []
    for index, name in enumerate(spec.blue.services, 1):
        if index % STEP_SERVICES == 0:
            yield
        blue = found.get(name)
        if blue is None:
            out.warnings.append(f"blue.services: {name!r} was not found by discovery, so it has no green copy")
        elif _gets_no_copy(spec, blue):
            no_copy.append(_NoCopy(blue=blue, gateway=virtual_gateway_from_task_definition(blue.task_definition)))
        else:
            _add(out, out.services, spec, discovery, blue, name + spec.green.service_suffix, None, inferred)
    extra = sorted(set(found) - set(spec.blue.services))
    if extra:
        out.warnings.append(f"discovery returned services the spec does not list, ignored: {', '.join(extra)}")
    workers_found = {s.name: s for s in discovery.async_workers}
    for k, worker in enumerate(spec.async_workers):
        blue = workers_found.get(worker.blue_service)
        if blue is None:
            out.warnings.append(
                f"async_workers[{k}]: blue worker {worker.blue_service!r} was not found by discovery, "
                "so it is not flipped"
            )
        elif not application_containers(blue.task_definition):
            out.items.append(gateway_service_item(blue.name, None, blue.task_definition.family, None))
        else:
            _add(out, out.workers, spec, discovery, blue, worker.green_service, worker, inferred)
    owners = alias_owners([*out.services, *out.workers])
    for entry in no_copy:
        _plan_without_copy(out, spec, discovery.appmesh, entry, owners, target_groups)
    _cross_service_items(out, discovery.appmesh, no_copy, owners)
    return out


def _gets_no_copy(spec: MigrationSpec, blue: BlueService) -> bool:
    td = blue.task_definition
    return (
        blue.name in spec.blue.retire
        or virtual_gateway_from_task_definition(td) is not None
        or not application_containers(td)
    )


def _add(
    out: BlueTranslation,
    into: list[Translated],
    spec: MigrationSpec,
    discovery: BlueDiscovery,
    blue: BlueService,
    green_name: str,
    worker: AsyncWorkerSpec | None,
    inferred: dict[str, list[InferredAlias]],
) -> None:
    try:
        result = translate_service(
            blue.task_definition,
            service_name=blue.name,
            family_suffix=spec.green.service_suffix,
            green_namespace=spec.green.namespace,
            appmesh=discovery.appmesh,
            virtual_node_name=blue.virtual_node_name,
            cloud_map=blue.cloud_map,
            inferred=inferred.get(blue.name, []),
        )
    except EnvoyOnlyTaskDefinition:  # callers check first; kept so that a miss is a report, not a crash
        out.items.append(gateway_service_item(blue.name, None, blue.task_definition.family, None))
        return
    out.warnings.extend(f"service {blue.name!r}: {w}" for w in result.warnings)
    out.items.extend(result.untranslatable)
    into.append(Translated(blue=blue, result=result, green_name=green_name, worker=worker))


def alias_owners(translated: list[Translated]) -> dict[str, AliasOwner]:
    """virtual service host name -> the green service that keeps its alias (the first, as the plan does)."""
    owners: dict[str, AliasOwner] = {}
    for entry in translated:
        for service in entry.result.services:
            where = container_port_for(entry.result.task_definition, service.portName)
            for alias in service.clientAliases:
                if alias.dnsName and where and alias.dnsName not in owners:
                    owners[alias.dnsName] = AliasOwner(
                        blue_service=entry.blue.name,
                        green_service=entry.green_name,
                        container_name=where[0],
                        container_port=where[1],
                    )
    return owners


def _plan_without_copy(
    out: BlueTranslation,
    spec: MigrationSpec,
    appmesh: AppMeshInventory | None,
    entry: _NoCopy,
    owners: dict[str, AliasOwner],
    target_groups: dict[str, str],
) -> None:
    """A gateway, an Envoy-only or a retired service: reported (or noted when retired), and its
    ingress handed to the green service behind it."""
    blue = entry.blue
    out.retired.append(blue.name)
    ingress: IngressDecision | None = None
    if entry.gateway is not None:
        gateway = next((g for g in appmesh.virtual_gateways if g.name == entry.gateway), None) if appmesh else None
        ingress = ingress_for(blue.name, entry.gateway, gateway, owners)
        out.items.extend(ingress.items)
        out.warnings.extend(f"service {blue.name!r}: {note}" for note in ingress.notes)
        out.items.extend(gateway_items(blue.name, gateway) if gateway else [])
        _hand_over_ingress(out, blue, ingress, target_groups)
    if blue.name in spec.blue.retire:
        out.warnings.append(
            f"service {blue.name!r}: retired (blue.retire): green gets no copy; decommission deletes it with blue"
        )
    else:
        out.items.append(gateway_service_item(blue.name, entry.gateway, blue.task_definition.family, ingress))
    if ingress is None or ingress.target is None:
        for lb in blue.load_balancers:
            if lb.target_group_arn in target_groups:
                out.warnings.append(
                    f"service {blue.name!r}: it served blue target group {lb.target_group_arn} and gets no green copy, "
                    f"so no green service is attached to green target group {target_groups[lb.target_group_arn]}; "
                    "attach green's entry service to it before the ramp"
                )


def _hand_over_ingress(
    out: BlueTranslation, blue: BlueService, ingress: IngressDecision, target_groups: dict[str, str]
) -> None:
    """The green service behind a gateway takes the gateway's place in the edge's target groups."""
    target = ingress.target
    if target is None:
        return
    for lb in blue.load_balancers:
        if lb.target_group_arn in target_groups:
            out.ingress.setdefault(target.blue_service, []).append(
                LoadBalancerAttachment(
                    target_group_arn=lb.target_group_arn,
                    container_name=target.container_name,
                    container_port=target.container_port,
                )
            )


def _cross_service_items(
    out: BlueTranslation, appmesh: AppMeshInventory | None, no_copy: list[_NoCopy], owners: dict[str, AliasOwner]
) -> None:
    translated = [*out.services, *out.workers]
    run_nodes = {t.result.virtual_node for t in translated if t.result.virtual_node}
    run_gateways = {entry.gateway for entry in no_copy if entry.gateway}
    out.items.extend(backend_items([(t.blue.name, t.result) for t in translated], appmesh))
    out.items.extend(mesh_items(appmesh, run_nodes, run_gateways, owners))
