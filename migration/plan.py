"""The migration plan, as pure functions of the spec and what discovery found."""

from __future__ import annotations

import re
from collections.abc import Generator
from datetime import timedelta
from typing import TypeVar

from meshshift.migration.backend_gate import align_alias_ports, backend_checks, blocking, gate_message
from meshshift.migration.contracts import (
    AlbMetricSource,
    AppMeshInventory,
    BackendCheck,
    BlueDiscovery,
    BlueService,
    GreenServicePlan,
    LoadBalancerAttachment,
    MetricSources,
    MigrationPlan,
    NetworkConfig,
    PlanFact,
    PlannedStep,
    ServiceConnectMetricSource,
    ShifterWeights,
)
from meshshift.migration.edge.registry import EdgeSpec, mechanism, mechanism_of
from meshshift.migration.inference import aliases_by_service
from meshshift.migration.paging import green_task_source, sealed
from meshshift.migration.plan_preflight import edge_preflight, judge
from meshshift.migration.plan_translation import STEP_SERVICES, Translated, translate_blue
from meshshift.migration.spec import ApprovalMode, MigrationSpec
from meshshift.migration.translate import (
    TranslatedService,
    drop_duplicate_aliases,
    make_discovery_names_unique,
    service_connect_configuration,
)
from meshshift.migration.translate_overrides import apply_override, discovery_facts


def shifter_id(edge: EdgeSpec) -> str:
    """Stable identity of an edge shifter, used to match weights to shifters and readings."""
    return mechanism_of(edge).shifter_id(edge)


def weights_for(edge: EdgeSpec, percent: int) -> ShifterWeights:
    """The mechanism's weights that give ``percent`` green (0 = all blue, 100 = all green).

    Raises ``weights.WeightError`` (a ValueError) for a percent the shifter cannot express; a
    validated spec's steps never do.
    """
    edge_mechanism = mechanism_of(edge)
    w = edge_mechanism.weights(edge, percent)
    return ShifterWeights(
        shifter_id=edge_mechanism.shifter_id(edge),
        mechanism=edge_mechanism.name,
        blue=w.blue,
        green=w.green,
        promoted=w.promoted,
    )


def ramp_steps(spec: MigrationSpec) -> list[PlannedStep]:
    """Each ramp step with its effective bake, approval, and weights per shifter."""
    return [
        PlannedStep(
            index=i,
            percent=percent,
            bake=spec.ramp.step_bake(i),
            approval_required=spec.ramp.step_approval(i) is ApprovalMode.REQUIRED,
            weights=[weights_for(edge, percent) for edge in spec.edge],
        )
        for i, percent in enumerate(spec.ramp.weights())
    ]


def rollback_weights(spec: MigrationSpec) -> list[ShifterWeights]:
    """100% blue on every shifter."""
    return [weights_for(edge, 0) for edge in spec.edge]


def spec_warnings(spec: MigrationSpec) -> list[str]:
    """Things that are allowed but deserve a second look before the ramp starts."""
    out: list[str] = []
    for j, edge in enumerate(spec.edge):
        out.extend(mechanism_of(edge).plan_warnings(edge, f"edge[{j}]", spec.ramp))
    if not spec.approval_required_at():
        out.append("no step and no decommission needs a human approval (approval: auto everywhere)")
    return out


def health_checked_target_groups(spec: MigrationSpec) -> list[str]:
    """Green target groups whose targets must be healthy before any traffic moves (sorted, once each)."""
    return sorted({arn for edge in spec.edge for arn in mechanism_of(edge).health_checked_target_groups(edge)})


def owned_blue_target_groups(spec: MigrationSpec) -> list[str]:
    """Blue target groups that decommission deletes when ``decommission.delete.target_groups`` is on."""
    return [arn for edge in spec.edge for arn in mechanism_of(edge).blue_resources(edge).target_group_arns]


def owned_blue_records(spec: MigrationSpec) -> list[tuple[EdgeSpec, str]]:
    """(edge, set identifier) of blue weighted records that decommission deletes when
    ``decommission.delete.records`` is on."""
    return [
        (edge, set_identifier)
        for edge in spec.edge
        for set_identifier in mechanism_of(edge).blue_resources(edge).weighted_record_set_identifiers
    ]


def propagation_wait(spec: MigrationSpec) -> timedelta:
    """How long after a change clients may still act on the previous weights (the longest DNS TTL)."""
    return max((mechanism_of(edge).propagation_wait(edge) for edge in spec.edge), default=timedelta(0))


def _network(spec: MigrationSpec, blue: BlueService) -> NetworkConfig | None:
    green = spec.green
    if blue.network is None and green.subnets is None and green.security_groups is None:
        return None
    base = blue.network or NetworkConfig()
    return NetworkConfig(
        subnets=list(green.subnets) if green.subnets is not None else list(base.subnets),
        security_groups=list(green.security_groups)
        if green.security_groups is not None
        else list(base.security_groups),
        assign_public_ip=green.assign_public_ip if green.assign_public_ip is not None else base.assign_public_ip,
    )


def _target_group_map(spec: MigrationSpec) -> dict[str, str]:
    return {pair.blue: pair.green for edge in spec.edge for pair in mechanism_of(edge).target_groups(edge)}


def _green_plan(
    spec: MigrationSpec,
    blue: BlueService,
    translated: TranslatedService,
    *,
    green_name: str,
    cluster: str,
    desired_count: int,
    is_async_worker: bool,
    warnings: list[str],
) -> GreenServicePlan:
    tg_map = _target_group_map(spec)
    load_balancers = []
    for lb in blue.load_balancers:
        green_tg = tg_map.get(lb.target_group_arn)
        if green_tg is None:
            # Attaching green to a blue-only target group would send blue's traffic to green.
            warnings.append(
                f"service {blue.name!r}: target group {lb.target_group_arn} is not the blue target group of any "
                "ALB edge, so green is not attached to it; add an alb edge for it if green must serve it"
            )
            continue
        if lb.container_name in translated.envoy_containers:
            warnings.append(
                f"service {blue.name!r}: the load balancer sends traffic to the Envoy container {lb.container_name!r}, "
                "which green does not have; fix the attachment's container in the plan before provisioning"
            )
        load_balancers.append(
            LoadBalancerAttachment(
                target_group_arn=green_tg, container_name=lb.container_name, container_port=lb.container_port
            )
        )
    return GreenServicePlan(
        blue_service=blue.name,
        green_service=green_name,
        cluster=cluster,
        desired_count=desired_count,
        task_definition=translated.task_definition,
        service_connect=service_connect_configuration(spec.green.namespace, translated),
        load_balancers=load_balancers,
        network=_network(spec, blue),
        launch_type=blue.launch_type,
        capacity_provider_strategy=list(blue.capacity_provider_strategy),
        platform_version=blue.platform_version,
        is_async_worker=is_async_worker,
        green_task=green_task_source(blue, translated, spec.green.service_suffix),
    )


def _green_plans(
    spec: MigrationSpec,
    translated: list[Translated],
    ingress: dict[str, list[LoadBalancerAttachment]],
    warnings: list[str],
) -> Generator[None, None, list[GreenServicePlan]]:
    plans = []
    for index, t in enumerate(translated, 1):
        if index % STEP_SERVICES == 0:
            yield
        plans.append(
            _green_plan(
                spec,
                t.blue_with_ingress(ingress.get(t.blue.name, [])),
                t.result,
                green_name=t.green_name,
                cluster=(t.worker.cluster if t.worker else None) or spec.green.cluster,
                desired_count=t.worker.desired_count if t.worker else t.blue.desired_count,
                is_async_worker=t.worker is not None,
                warnings=warnings,
            )
        )
    return plans


T = TypeVar("T")


def finish(steps: Generator[None, None, T]) -> T:
    """Run ``steps`` through all of its pauses."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            result: T = done.value
            return result


def build_plan(spec: MigrationSpec, discovery: BlueDiscovery) -> MigrationPlan:
    """Green services (translated task definitions + Service Connect config), steps, warnings, and
    every App Mesh construct that could not be carried over, with its next step."""
    return finish(plan_in_steps(spec, discovery))


def plan_in_steps(spec: MigrationSpec, discovery: BlueDiscovery) -> Generator[None, None, MigrationPlan]:
    """``build_plan``, pausing (``yield``) after every ``STEP_SERVICES`` services: the workflow ends
    its workflow task at each pause, because the SDK fails a workflow task that runs for 2 s, and
    planning 5,000 services takes longer than that."""
    warnings = [*discovery.warnings, *spec_warnings(spec)]
    blue = yield from translate_blue(spec, discovery, _target_group_map(spec))
    warnings.extend(blue.warnings)
    services = yield from _green_plans(spec, blue.services, blue.ingress, warnings)
    workers = yield from _green_plans(spec, blue.workers, blue.ingress, warnings)
    # The plan-wide passes below take about 1 s together at 5,000 services: a pause between them
    # when the plan is that large (a small plan keeps its one workflow task).
    large = len(services) + len(workers) >= STEP_SERVICES

    warnings.extend(align_alias_ports([*services, *workers], discovery))
    if large:
        yield
    blue_by_name: dict[str, BlueService] = {}
    for found in [*discovery.services, *discovery.async_workers]:
        blue_by_name.setdefault(found.name, found)
    inferred = aliases_by_service(discovery.inferred_aliases)
    for green in [*services, *workers]:
        facts = discovery_facts(
            green, blue_by_name.get(green.blue_service), inferred.get(green.blue_service, []), discovery.appmesh_status
        )
        green.facts = _with_overrides(spec, green, facts)
    configs = [p.service_connect for p in [*services, *workers]]
    warnings.extend(make_discovery_names_unique(configs))
    warnings.extend(drop_duplicate_aliases(configs))
    if large:
        yield
    # After the green plans: the checks compare the edge with the ports green serves. Raises on an error.
    preflight_warnings, preflight = judge(edge_preflight(spec, discovery, [*services, *workers]))
    warnings.extend(preflight_warnings)
    missing = _backend_gate(spec, discovery, [*services, *workers], warnings)
    if large:
        yield
    for green in [*services, *workers]:
        if green.green_task is not None and green.task_definition is not None:
            green.green_task = sealed(green.green_task, green.task_definition)
    return MigrationPlan(
        services=services,
        async_workers=workers,
        steps=ramp_steps(spec),
        rollback_weights=rollback_weights(spec),
        warnings=grouped_by_service(warnings),
        untranslatable=[item.text() for item in blue.items],
        untranslatable_items=blue.items,
        retired_services=blue.retired,
        preflight=preflight,
        missing_backends=missing,
        appmesh_resources=appmesh_resources(discovery.appmesh),
        backend_gate=gate_message(missing, when="planning, before anything is created") if missing else None,
    )


# More services than this with the same warning share one line.
GROUP_WARNINGS_OVER = 3
_SERVICE_WARNING = re.compile(r"service '([^']+)': (.+)", re.DOTALL)


def grouped_by_service(warnings: list[str]) -> list[str]:
    """``service 'a': X`` for many services as one ``N services: X`` line naming the first few:
    5,000 services built alike gave 5,000 lines (750 KB in the plan, and as many audit events)."""
    groups: dict[str, list[str]] = {}
    for warning in warnings:
        match = _SERVICE_WARNING.fullmatch(warning)
        if match:
            groups.setdefault(match.group(2), []).append(match.group(1))
    out: list[str] = []
    done: set[str] = set()
    for warning in warnings:
        match = _SERVICE_WARNING.fullmatch(warning)
        names = groups.get(match.group(2), []) if match else []
        if not match or len(names) <= GROUP_WARNINGS_OVER:
            out.append(warning)
        elif match.group(2) not in done:
            done.add(match.group(2))
            shown = ", ".join(repr(n) for n in names[:GROUP_WARNINGS_OVER])
            out.append(
                f"{len(names)} services ({shown} and {len(names) - GROUP_WARNINGS_OVER:,} more): {match.group(2)}"
            )
    return out


def appmesh_resources(mesh: AppMeshInventory | None) -> list[str]:
    """The mesh's resources in the order decommission deletes them, named as it reports them."""
    if mesh is None:
        return []
    out = [f"gatewayRoute {g.name}/{route}" for g in mesh.virtual_gateways for route in g.routes]
    out += [f"virtualGateway {g.name}" for g in mesh.virtual_gateways]
    out += [f"virtualService {s.name}" for s in mesh.virtual_services]
    out += [f"route {r.router}/{r.name}" for r in mesh.routes]
    out += [f"virtualRouter {r.name}" for r in mesh.virtual_routers]
    out += [f"virtualNode {n.name}" for n in mesh.virtual_nodes]
    return [*out, f"mesh {mesh.mesh_name}"]


def _backend_gate(
    spec: MigrationSpec, discovery: BlueDiscovery, plans: list[GreenServicePlan], warnings: list[str]
) -> list[BackendCheck]:
    """Each green service lists the backends its blue copy calls; those green would not answer are
    returned (the workflow and ``meshshift plan`` stop on them, before anything is created)."""
    checks = backend_checks(plans, discovery, list(spec.green.allow_missing_backends))
    for green in plans:
        green.backends = checks.get(green.blue_service, [])
    for check in (c for items in checks.values() for c in items if not c.answered and c.allowed_missing):
        warnings.append(
            f"backend gate: client {check.client!r} calls {check.host}"
            + (f":{check.port}" if check.port else "")
            + " and green does not answer it: allowed by green.allow_missing_backends"
        )
    return blocking(checks)


def _with_overrides(spec: MigrationSpec, green: GreenServicePlan, facts: list[PlanFact]) -> list[PlanFact]:
    """``facts`` (where the service's aliases come from), then ``green.services.<blue>`` applied, which wins."""
    override = spec.green.services.get(green.blue_service)
    if override is None:
        return facts
    from_spec = apply_override(green, override)
    replaced = {f.field for f in from_spec}
    return [*(f for f in facts if f.field not in replaced), *from_spec]


def metric_sources(spec: MigrationSpec, plan: MigrationPlan) -> MetricSources:
    """Where blue's and green's traffic metrics live (ALB target groups, Service Connect services)."""
    alb = [
        AlbMetricSource(
            load_balancer=m.load_balancer,
            blue_target_group=m.blue_target_group,
            green_target_group=m.green_target_group,
        )
        for edge in spec.edge
        for m in mechanism_of(edge).load_balancer_metrics(edge)
    ]
    service_connect = [
        ServiceConnectMetricSource(
            cluster=p.cluster,
            blue_service=p.blue_service,
            green_service=p.green_service,
            discovery_name=p.service_connect.services[0].discoveryName if p.service_connect.services else None,
        )
        for p in plan.services
    ]
    return MetricSources(alb=alb, service_connect=service_connect)


def describe_step_weights(step: PlannedStep) -> str:
    """``alb 95/5, route53 95/5, cloudfront 5% staging`` for summaries."""
    return ", ".join(f"{w.mechanism} {mechanism(w.mechanism).describe_weights(w)}" for w in step.weights)
