"""``green.services.<blue name>`` in the spec: what discovery cannot know, or got wrong (issue 18).

After App Mesh's end of support, discovery may have nothing better than inferences (Cloud Map,
task definitions). The spec's overrides win over every discovery source, and each overridden
value is recorded in the plan as a fact whose source is ``spec``; the values discovery chose are
recorded with their own source and evidence.

Pure: ``build_plan`` calls these on each green service plan before names are made unique.
"""

from __future__ import annotations

from collections.abc import Sequence

from meshshift.migration.contracts import (
    AppMeshStatus,
    BlueService,
    FactSource,
    GreenServicePlan,
    InferredAlias,
    PlanFact,
    PortMapping,
    ServiceConnectClientAlias,
    ServiceConnectService,
    ServiceConnectTimeout,
)
from meshshift.migration.spec import GreenServiceOverride

_MESH_SOURCE = {AppMeshStatus.AVAILABLE: FactSource.APP_MESH, AppMeshStatus.SNAPSHOT: FactSource.SNAPSHOT}


class OverrideError(ValueError):
    """An override that cannot apply to the translated service (names the field, expected, got)."""


def discovery_facts(
    plan: GreenServicePlan,
    blue: BlueService | None,
    inferred_aliases: Sequence[InferredAlias],
    appmesh_status: AppMeshStatus,
) -> list[PlanFact]:
    """Where each client alias of ``plan`` comes from: App Mesh (or its snapshot), else the
    inference from Cloud Map and the task definitions. ``blue`` and ``inferred_aliases`` are the
    plan's own (the caller looks them up once for every service: a scan per service made planning
    quadratic in the number of services)."""
    facts = []
    inferred = {(a.dns_name, a.port): a for a in inferred_aliases}
    registered = {r.dns_name for r in blue.cloud_map} if blue else set()
    for service in plan.service_connect.services:
        for alias in service.clientAliases:
            value = f"{alias.dnsName}:{alias.port}"
            found = inferred.get((alias.dnsName or "", alias.port))
            if found is not None:
                facts.append(
                    PlanFact(field="client_aliases", value=value, source=found.source, evidence=found.evidence)
                )
            elif appmesh_status in _MESH_SOURCE:
                facts.append(
                    PlanFact(
                        field="client_aliases",
                        value=value,
                        source=_MESH_SOURCE[appmesh_status],
                        evidence=f"App Mesh virtual service {alias.dnsName} provided by this service's virtual node",
                    )
                )
            elif alias.dnsName in registered:
                facts.append(
                    PlanFact(
                        field="client_aliases",
                        value=value,
                        source=FactSource.CLOUD_MAP,
                        evidence=f"ECS serviceRegistries: the service registers as {alias.dnsName} in Cloud Map",
                    )
                )
    return facts


def apply_override(plan: GreenServicePlan, override: GreenServiceOverride) -> list[PlanFact]:
    """Apply ``green.services.<plan.blue_service>`` to ``plan`` in place; the facts it sets."""
    path = f"green.services.{plan.blue_service}"
    facts: list[PlanFact] = []

    def fact(field: str, value: object) -> None:
        facts.append(PlanFact(field=field, value=str(value), source=FactSource.SPEC, evidence=f"{path}.{field}"))

    if override.desired_count is not None:
        plan.desired_count = override.desired_count
        fact("desired_count", override.desired_count)
    services = plan.service_connect.services
    first_port_fields = {
        "port_name": override.port_name,
        "app_protocol": override.app_protocol,
        "discovery_name": override.discovery_name,
        "timeouts": override.timeouts,
    }
    wanted = [name for name, value in first_port_fields.items() if value is not None]
    if override.client_aliases:
        wanted.append("client_aliases")
    if wanted and not services:
        raise OverrideError(
            f"{path}.{wanted[0]}: expected a service that serves a port (Service Connect settings need one), "
            f"got {plan.blue_service!r}, whose green copy is a Service Connect client only (no served port)"
        )
    if not services:
        return facts
    first = services[0]
    if override.port_name is not None:
        _rename_port(plan, first, override.port_name)
        fact("port_name", override.port_name)
    if override.app_protocol is not None:
        for mapping in _mappings_named(plan, first.portName):
            mapping.appProtocol = override.app_protocol
        fact("app_protocol", override.app_protocol)
    if override.discovery_name is not None:
        first.discoveryName = override.discovery_name
        fact("discovery_name", override.discovery_name)
    if override.timeouts is not None:
        timeout = first.timeout or ServiceConnectTimeout()
        if override.timeouts.idle is not None:
            timeout.idleTimeoutSeconds = int(override.timeouts.idle.total_seconds())
            fact("timeouts.idle", f"{timeout.idleTimeoutSeconds}s")
        if override.timeouts.per_request is not None:
            timeout.perRequestTimeoutSeconds = int(override.timeouts.per_request.total_seconds())
            fact("timeouts.per_request", f"{timeout.perRequestTimeoutSeconds}s")
        first.timeout = timeout
    if override.client_aliases is not None:
        _set_aliases(plan, services, override, path)
        for alias in override.client_aliases:
            fact("client_aliases", f"{alias.dns_name}:{alias.port}")
    return facts


def _set_aliases(
    plan: GreenServicePlan, services: list[ServiceConnectService], override: GreenServiceOverride, path: str
) -> None:
    aliases = override.client_aliases or []
    if len(aliases) > len(services):
        raise OverrideError(
            f"{path}.client_aliases: expected at most {len(services)} alias(es), one per Service Connect port of "
            f"{plan.green_service!r} ({', '.join(s.portName for s in services)}; Service Connect allows one client "
            f"alias per port), got {len(aliases)}"
        )
    for index, service in enumerate(services):
        service.clientAliases = (
            [ServiceConnectClientAlias(port=aliases[index].port, dnsName=aliases[index].dns_name)]
            if index < len(aliases)
            else []
        )


def _mappings_named(plan: GreenServicePlan, port_name: str) -> list[PortMapping]:
    return [
        mapping
        for container in plan.planned_task_definition.containerDefinitions
        for mapping in container.portMappings
        if mapping.name == port_name
    ]


def _rename_port(plan: GreenServicePlan, service: ServiceConnectService, new: str) -> None:
    """Service Connect finds the port by name: the port mapping and the entry are renamed together."""
    for mapping in _mappings_named(plan, service.portName):
        mapping.name = new
    service.portName = new


def overridden_fields(override: GreenServiceOverride) -> set[str]:
    """The fields an override sets (the plan drops discovery's facts for those)."""
    return {name for name, value in override.model_dump(exclude_none=True).items() if value is not None}
