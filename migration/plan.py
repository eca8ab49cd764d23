"""The migration plan, as pure functions of the spec and what discovery found."""

from __future__ import annotations

from meshshift.migration import weights
from meshshift.migration.contracts import (
    AlbMetricSource,
    BlueDiscovery,
    BlueService,
    GreenServicePlan,
    LoadBalancerAttachment,
    MetricSources,
    MigrationPlan,
    NetworkConfig,
    PlannedStep,
    ServiceConnectMetricSource,
    ShifterWeights,
)
from meshshift.migration.spec import (
    AlbEdge,
    ApprovalMode,
    CloudFrontEdge,
    CloudFrontPromotion,
    EdgeSpec,
    MigrationSpec,
    Route53Edge,
    parse_elb_arn,
)
from meshshift.migration.translate import (
    TranslatedService,
    drop_duplicate_aliases,
    make_discovery_names_unique,
    mesh_untranslatable,
    service_connect_configuration,
    translate_service,
)


def shifter_id(edge: EdgeSpec) -> str:
    """Stable identity of an edge shifter, used to match weights to shifters and readings."""
    if isinstance(edge, AlbEdge):
        return f"alb:{edge.rule_arn or edge.listener_arn}"
    if isinstance(edge, Route53Edge):
        zone = edge.hosted_zone_id.removeprefix("/hostedzone/")
        return f"route53:{zone}:{edge.record_name.lower().rstrip('.')}:{edge.record_type}"
    return f"cloudfront:{edge.distribution_id}"


def weights_for(edge: EdgeSpec, percent: int) -> ShifterWeights:
    """The mechanism's weights that give ``percent`` green (0 = all blue, 100 = all green).

    Raises ``weights.WeightError`` (a ValueError) for a percent the shifter cannot express; a
    validated spec's steps never do.
    """
    sid = shifter_id(edge)
    if isinstance(edge, AlbEdge):
        pair = weights.alb_pair(percent, edge.weight_scale)
        return ShifterWeights(shifter_id=sid, mechanism="alb", blue=pair.blue, green=pair.green)
    if isinstance(edge, Route53Edge):
        pair = weights.route53_pair(percent, edge.weight_scale)
        return ShifterWeights(shifter_id=sid, mechanism="route53", blue=pair.blue, green=pair.green)
    cf = weights.cloudfront_weight(percent, edge.promotion.value)
    return ShifterWeights(
        shifter_id=sid, mechanism="cloudfront", blue=round(1.0 - cf.staging, 6), green=cf.staging, promoted=cf.promoted
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
        if isinstance(edge, Route53Edge):
            short = [
                f"steps[{i}]" for i in range(len(spec.ramp.steps)) if spec.ramp.step_bake(i).total_seconds() < edge.ttl
            ]
            if short:
                out.append(
                    f"edge[{j}] (route53): the bake of {', '.join(short)} is shorter than the record TTL "
                    f"({edge.ttl}s): resolvers may still answer with the old weights when metrics are judged"
                )
        if isinstance(edge, CloudFrontEdge):
            held = [p for p in spec.ramp.weights() if weights.CLOUDFRONT_MAX_STAGING_PERCENT < p < 100]
            if held and edge.promotion is CloudFrontPromotion.HOLD_AT_CAP:
                out.append(
                    f"edge[{j}] (cloudfront): steps {', '.join(map(str, held))} keep this shifter at 15% green "
                    "(hold_at_cap) while the other shifters move on"
                )
            out.append(
                f"edge[{j}] (cloudfront): promotion at 100% copies the staging config onto the primary; rolling "
                "back after that restores the primary's previous config rather than a weight"
            )
    if not spec.approval_required_at():
        out.append("no step and no decommission needs a human approval (approval: auto everywhere)")
    return out


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
    return {e.blue_target_group_arn: e.green_target_group_arn for e in spec.edge if isinstance(e, AlbEdge)}


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
    )


def _translate(
    spec: MigrationSpec, discovery: BlueDiscovery, blue: BlueService, warnings: list[str], lost: list[str]
) -> TranslatedService:
    translated = translate_service(
        blue.task_definition,
        service_name=blue.name,
        family_suffix=spec.green.service_suffix,
        green_namespace=spec.green.namespace,
        appmesh=discovery.appmesh,
        virtual_node_name=blue.virtual_node_name,
    )
    warnings.extend(f"service {blue.name!r}: {w}" for w in translated.warnings)
    lost.extend(f"service {blue.name!r}: {u}" for u in translated.untranslatable)
    return translated


def build_plan(spec: MigrationSpec, discovery: BlueDiscovery) -> MigrationPlan:
    """Green services (translated task definitions + Service Connect config), steps, warnings."""
    warnings = [*discovery.warnings, *spec_warnings(spec)]
    lost = mesh_untranslatable(discovery.appmesh)
    green_cluster = spec.green.cluster

    found = {s.name: s for s in discovery.services}
    services: list[GreenServicePlan] = []
    for name in spec.blue.services:
        blue = found.get(name)
        if blue is None:
            warnings.append(f"blue.services: {name!r} was not found by discovery, so it has no green copy")
            continue
        translated = _translate(spec, discovery, blue, warnings, lost)
        services.append(
            _green_plan(
                spec,
                blue,
                translated,
                green_name=name + spec.green.service_suffix,
                cluster=green_cluster,
                desired_count=blue.desired_count,
                is_async_worker=False,
                warnings=warnings,
            )
        )
    extra = sorted(set(found) - set(spec.blue.services))
    if extra:
        warnings.append(f"discovery returned services the spec does not list, ignored: {', '.join(extra)}")

    workers_found = {s.name: s for s in discovery.async_workers}
    workers: list[GreenServicePlan] = []
    for k, worker in enumerate(spec.async_workers):
        blue = workers_found.get(worker.blue_service)
        if blue is None:
            warnings.append(
                f"async_workers[{k}]: blue worker {worker.blue_service!r} was not found by discovery, "
                "so it is not flipped"
            )
            continue
        translated = _translate(spec, discovery, blue, warnings, lost)
        workers.append(
            _green_plan(
                spec,
                blue,
                translated,
                green_name=worker.green_service,
                cluster=worker.cluster or green_cluster,
                desired_count=worker.desired_count,
                is_async_worker=True,
                warnings=warnings,
            )
        )

    configs = [p.service_connect for p in [*services, *workers]]
    warnings.extend(make_discovery_names_unique(configs))
    warnings.extend(drop_duplicate_aliases(configs))
    return MigrationPlan(
        services=services,
        async_workers=workers,
        steps=ramp_steps(spec),
        rollback_weights=rollback_weights(spec),
        warnings=warnings,
        untranslatable=lost,
    )


def metric_sources(spec: MigrationSpec, plan: MigrationPlan) -> MetricSources:
    """Where blue's and green's traffic metrics live (ALB target groups, Service Connect services)."""
    alb: list[AlbMetricSource] = []
    for edge in spec.edge:
        if not isinstance(edge, AlbEdge):
            continue
        listener = parse_elb_arn(edge.listener_arn, "listener")
        blue_tg = parse_elb_arn(edge.blue_target_group_arn, "targetgroup")
        green_tg = parse_elb_arn(edge.green_target_group_arn, "targetgroup")
        if listener is None or blue_tg is None or green_tg is None:
            continue  # a validated spec always parses; a hand-built one is skipped rather than guessed
        alb.append(
            AlbMetricSource(
                load_balancer=listener.load_balancer_dimension,
                blue_target_group=blue_tg.target_group_dimension,
                green_target_group=green_tg.target_group_dimension,
            )
        )
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
    parts = []
    for w in step.weights:
        if w.mechanism == "cloudfront":
            parts.append("cloudfront promote" if w.promoted else f"cloudfront {w.green * 100:g}% staging")
        else:
            parts.append(f"{w.mechanism} {w.blue:g}/{w.green:g}")
    return ", ".join(parts)
