"""The plan's edge preflight: the edge as it is today against what the spec says (pure).

Discovery reads each edge (``Shifter.inspect``, into ``BlueDiscovery.edge_facts``); here each
edge's mechanism judges what was read (``EdgeMechanism.preflight``), with what the plan knows of
green (the ports its task definitions serve, the target groups it is attached to). One more check
needs no edge facts: a service found by an ALB's DNS name.

An error stops planning with every problem listed (``planning failed: edge preflight: ...``), each
naming the spec field to change; a warning goes into the plan's warnings, prefixed
``edge preflight:``, and into ``MigrationPlan.preflight``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from meshshift.migration.contracts import BlueDiscovery, GreenServicePlan, PreflightFinding
from meshshift.migration.edge.base import (
    DnsDiscoveredService,
    EdgeFacts,
    GreenPorts,
    PreflightContext,
    PreflightProblem,
    preflight_warning,
)
from meshshift.migration.edge.registry import mechanism_of
from meshshift.migration.spec import MigrationSpec

PREFIX = "edge preflight"

# An Application or Network Load Balancer's DNS name: <name>-<id>.<region>.elb.amazonaws.com(.cn).
_ELB_DNS_NAME = re.compile(r"\.elb\.amazonaws\.com(\.cn)?\.?$", re.IGNORECASE)


class EdgePreflightError(ValueError):
    """The edge as it is today contradicts the spec: planning stops, nothing is written."""

    def __init__(self, problems: Sequence[PreflightProblem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.is_error]
        warnings = [p for p in self.problems if not p.is_error]
        lines = [f"{PREFIX}: {len(errors)} error{'s' if len(errors) != 1 else ''}"]
        lines += [f"  error {p.text()}" for p in errors]
        lines += [f"  warning {p.text()}" for p in warnings]
        super().__init__("\n".join(lines))


def green_ports(services: Sequence[GreenServicePlan]) -> tuple[GreenPorts, ...]:
    out = []
    for plan in services:
        ports = {
            port
            for container in plan.planned_task_definition.containerDefinitions
            for mapping in container.portMappings
            for port in (mapping.containerPort, mapping.hostPort)
            if port
        }
        attachments = tuple((lb.target_group_arn, lb.container_name, lb.container_port) for lb in plan.load_balancers)
        out.append(GreenPorts(plan.blue_service, plan.green_service, frozenset(ports), attachments))
    return tuple(out)


def dns_discovered(
    spec: MigrationSpec, discovery: BlueDiscovery, services: Sequence[GreenServicePlan]
) -> tuple[DnsDiscoveredService, ...]:
    """Blue services whose virtual node App Mesh finds by a DNS hostname."""
    nodes = {n.name: n for n in (discovery.appmesh.virtual_nodes if discovery.appmesh else [])}
    green = {p.blue_service: p for p in services}
    out = []
    for service in discovery.services:
        node = nodes.get(service.virtual_node_name or "")
        if node is None or not node.dns_hostname:
            continue
        index = spec.blue.services.index(service.name) if service.name in spec.blue.services else None
        plan = green.get(service.name)
        sc = plan.service_connect.services if plan else []
        out.append(
            DnsDiscoveredService(
                spec_field=f"blue.services[{index}]" if index is not None else f"blue service {service.name}",
                blue_service=service.name,
                hostname=node.dns_hostname,
                green_discovery_name=sc[0].discoveryName if sc else None,
            )
        )
    return tuple(out)


def preflight_context(
    spec: MigrationSpec, discovery: BlueDiscovery, services: Sequence[GreenServicePlan]
) -> PreflightContext:
    return PreflightContext(
        green=green_ports(services), dns_discovered=dns_discovered(spec, discovery, services), edges=tuple(spec.edge)
    )


def found_by_alb_name(context: PreflightContext) -> list[PreflightProblem]:
    """A service App Mesh finds by a load balancer's DNS name: green's discovery name is made from
    it, and callers of that name reach the load balancer (blue and green alike), not green's copy."""
    return [
        preflight_warning(
            s.spec_field,
            f"service {s.blue_service!r} found by a name of its own",
            f"its virtual node is found by DNS name {s.hostname}, a load balancer's DNS name"
            + (
                f"; green's discovery name {s.green_discovery_name!r} is made from it" if s.green_discovery_name else ""
            ),
            "callers of that name go through the load balancer, not to green's copy: give the front service a "
            "Service Connect name of its own in the plan, and have callers inside the mesh use it",
        )
        for s in context.dns_discovered
        if _ELB_DNS_NAME.search(s.hostname)
    ]


def edge_preflight(
    spec: MigrationSpec, discovery: BlueDiscovery, services: Sequence[GreenServicePlan]
) -> list[PreflightProblem]:
    """Every problem the edge preflight finds, errors and warnings, in spec order."""
    context = preflight_context(spec, discovery, services)
    facts: dict[tuple[str, str], EdgeFacts] = {(f.type, f.shifter_id): f for f in discovery.edge_facts}
    problems: list[PreflightProblem] = []
    for index, edge in enumerate(spec.edge):
        mechanism = mechanism_of(edge)
        read = facts.get((edge.type, mechanism.shifter_id(edge)))
        found = mechanism.preflight(edge, f"edge[{index}]", read, context)
        if read is None:
            # A history recorded before discovery read the edge must still plan: never an error without facts.
            found = [
                p if not p.is_error else preflight_warning(p.field, p.expected, p.found, p.next_step) for p in found
            ]
        problems.extend(found)
    problems.extend(found_by_alb_name(context))
    return problems


def findings(problems: Sequence[PreflightProblem]) -> list[PreflightFinding]:
    """The problems as payloads (``MigrationPlan.preflight``, ``meshshift plan --json``)."""
    return [
        PreflightFinding(severity=p.severity, field=p.field, expected=p.expected, found=p.found, next_step=p.next_step)
        for p in problems
    ]


def judge(problems: Sequence[PreflightProblem]) -> tuple[list[str], list[PreflightFinding]]:
    """The plan's warnings and findings; raises ``EdgePreflightError`` if any problem is an error."""
    if any(p.is_error for p in problems):
        raise EdgePreflightError(problems)
    return [f"{PREFIX}: {p.text()}" for p in problems], findings(problems)
