"""The backend gate (issue 18): green must answer every backend blue's clients call, under the same
name and port, before anything is created and before any traffic moves.

The edge health URL can stay healthy while every request that needs a backend fails, so this is
checked from the plan itself: for each green service, the backends its blue copy calls, whatever
the source (App Mesh or its snapshot: the node's backends; the task definitions: hosts of a
discovered namespace named in the container environment), and the green Service Connect client
alias that answers each one. A backend nobody answers stops the migration before provisioning (the plan
lists it in ``missing_backends``), unless the spec lists it in ``green.allow_missing_backends``.

Pure: ``backend_checks`` runs on the plan (planning) and on the green services read back from ECS
(before the first weight change), since both are Service Connect configurations.
"""

from __future__ import annotations

from collections.abc import Iterable

from meshshift.migration.contracts import (
    AppMeshInventory,
    AppMeshStatus,
    BackendCheck,
    BlueDiscovery,
    FactSource,
    GreenServicePlan,
    ServiceConnectConfiguration,
)
from meshshift.migration.translate_routing import mesh_index

_MESH_SOURCE = {AppMeshStatus.AVAILABLE: FactSource.APP_MESH, AppMeshStatus.SNAPSHOT: FactSource.SNAPSHOT}


def _aliases(configs: Iterable[tuple[str, ServiceConnectConfiguration]]) -> dict[tuple[str, int], str]:
    """(dns name, port) -> the green service answering it."""
    out: dict[tuple[str, int], str] = {}
    for green_service, config in configs:
        for service in config.services:
            for alias in service.clientAliases:
                name = (alias.dnsName or service.discoveryName or service.portName).lower()
                out.setdefault((name, alias.port), green_service)
    return out


def align_alias_ports(plans: list[GreenServicePlan], discovery: BlueDiscovery) -> list[str]:
    """A client alias takes the port blue's clients call it on, when their environment says so.

    Under App Mesh, Envoy routes an HTTP call by its host name whatever port the client dials
    (``http://api.acme.local`` reaches a listener on 9090); a Service Connect alias is a host and a
    port, so green must answer on the port the clients use. Applied in place; one note per change
    (and per host called on several ports, which one alias cannot cover)."""
    called: dict[str, dict[int, list[str]]] = {}
    for call in discovery.backend_calls:
        if call.port is not None:
            called.setdefault(call.host.lower(), {}).setdefault(call.port, []).append(call.evidence)
    taken = {
        ((a.dnsName or "").lower(), a.port) for p in plans for s in p.service_connect.services for a in s.clientAliases
    }
    notes = []
    for plan in plans:
        for service in plan.service_connect.services:
            for alias in service.clientAliases:
                host = (alias.dnsName or "").lower()
                ports = called.get(host, {})
                if len(ports) > 1:
                    notes.append(
                        f"service {plan.blue_service!r}: clients call {host} on ports {sorted(ports)}, but one client "
                        f"alias has one port (kept {alias.port}); the backend gate lists the others"
                    )
                if len(ports) != 1:
                    continue
                ((port, evidence),) = ports.items()
                if port == alias.port or (host, port) in taken:
                    continue
                notes.append(
                    f"service {plan.blue_service!r}: client alias {host}:{alias.port} becomes {host}:{port}, the port "
                    f"blue's clients call ({evidence[0]}); Service Connect forwards it to port {service.portName!r}"
                )
                taken.discard((host, alias.port))
                taken.add((host, port))
                alias.port = port
    return notes


def _allowed(host: str, port: int | None, allowed: list[str]) -> bool:
    return host in allowed or (port is not None and f"{host}:{port}" in allowed)


def _mesh_backends(
    blue_service: str, discovery: BlueDiscovery, node: str | None, spec_nodes: set[str]
) -> list[tuple[str, bool, str]]:
    """(virtual service, provided outside the spec, evidence) for the node's App Mesh backends."""
    mesh: AppMeshInventory | None = discovery.appmesh
    if mesh is None or node is None:
        return []
    index = mesh_index(mesh)
    found = index.nodes.get(node)
    if found is None:
        return []
    providers = index.targets_of
    out = []
    for backend in sorted(set(found.backends)):
        # Only a backend whose provider a service of the spec runs must be answered by green; the
        # others are reported by the translation (green calls them by DNS, outside Service Connect).
        outside = not (providers.get(backend, set()) & spec_nodes)
        out.append((backend, outside, f"App Mesh virtual node {node!r} lists backend virtual service {backend}"))
    return out


def backend_checks(
    plans: list[GreenServicePlan],
    discovery: BlueDiscovery,
    allow_missing: list[str],
    answered_by: list[tuple[str, ServiceConnectConfiguration]] | None = None,
) -> dict[str, list[BackendCheck]]:
    """Blue service -> the backends it calls and whether green answers each one. ``answered_by``
    defaults to the plans' own Service Connect configurations (green as planned)."""
    aliases = _aliases(
        answered_by if answered_by is not None else [(p.green_service, p.service_connect) for p in plans]
    )
    blue = {s.name: s for s in [*discovery.services, *discovery.async_workers]}
    spec_nodes: set[str] = set()
    for p in plans:
        node = blue[p.blue_service].virtual_node_name if p.blue_service in blue else None
        if node is not None:
            spec_nodes.add(node)
    ports_by_host: dict[str, set[int]] = {}
    for host, port in aliases:
        ports_by_host.setdefault(host, set()).add(port)
    mesh_source = _MESH_SOURCE.get(discovery.appmesh_status)
    out: dict[str, list[BackendCheck]] = {}
    for plan in plans:
        checks: dict[tuple[str, int | None], BackendCheck] = {}
        for call in discovery.backend_calls:
            if call.client != plan.blue_service:
                continue
            host = call.host.lower()
            if call.port is None:
                holder = next((aliases[(host, p)] for p in sorted(ports_by_host.get(host, set()))), None)
            else:
                holder = aliases.get((host, call.port))
            checks.setdefault(
                (host, call.port),
                BackendCheck(
                    client=plan.blue_service,
                    host=host,
                    port=call.port,
                    source=call.source,
                    evidence=call.evidence,
                    answered=holder is not None,
                    answered_by=holder,
                    allowed_missing=_allowed(host, call.port, allow_missing),
                ),
            )
        own = blue[plan.blue_service].virtual_node_name if plan.blue_service in blue else None
        for backend, outside, evidence in _mesh_backends(plan.blue_service, discovery, own, spec_nodes):
            host = backend.lower()
            if any(h == host for h, _ in checks):
                continue  # the environment named the port: that check is the sharper one
            ports = sorted(ports_by_host.get(host, set()))
            holder = aliases[(host, ports[0])] if ports else None
            checks[(host, None)] = BackendCheck(
                client=plan.blue_service,
                host=host,
                port=ports[0] if ports else None,
                source=mesh_source or FactSource.APP_MESH,
                evidence=evidence,
                answered=holder is not None,
                answered_by=holder,
                allowed_missing=_allowed(host, None, allow_missing),
                outside_spec=outside,
            )
        out[plan.blue_service] = list(checks.values())
    return out


def blocking(checks: dict[str, list[BackendCheck]]) -> list[BackendCheck]:
    """Backends nobody in green answers, not allowed missing, and not known to live outside the spec."""
    return [
        c for items in checks.values() for c in items if not c.answered and not c.allowed_missing and not c.outside_spec
    ]


def gate_message(missing: list[BackendCheck], *, when: str) -> str:
    """One line per missing backend, naming client, backend, evidence and the three fixes."""
    lines = [f"backend gate ({when}): {len(missing)} backend(s) blue's clients call have no answer in green:"]
    for check in missing:
        target = f"{check.host}:{check.port}" if check.port is not None else check.host
        lines.append(
            f"- client {check.client!r} calls {target} ({check.source.value}: {check.evidence}); no green Service "
            "Connect client alias answers it"
        )
    first = missing[0]
    target = f"{first.host}:{first.port}" if first.port is not None else first.host
    lines.append(
        "Fix one of: add the alias to the service that answers it in the spec (green.services.<blue service>."
        f"client_aliases: [{{port: {first.port or '<port>'}, dns_name: {first.host}}}]); or take an App Mesh "
        "snapshot while the API answers (meshshift snapshot appmesh) and set blue.appmesh_snapshot; or, if green "
        f"really need not answer it, list it in green.allow_missing_backends (e.g. '{target}')"
    )
    return "\n".join(lines)


def recheck(
    plans: list[GreenServicePlan], read_back: list[tuple[str, ServiceConnectConfiguration]]
) -> list[BackendCheck]:
    """The plan's backend checks again, against green as ECS holds it: those that must be answered
    (not allowed missing, not outside the spec) and that no read-back client alias answers."""
    aliases = _aliases(read_back)
    hosts: dict[str, str] = {}
    for (host, _port), green_service in sorted(aliases.items()):
        hosts.setdefault(host, green_service)
    missing: list[BackendCheck] = []
    for plan in plans:
        for check in plan.backends:
            if check.allowed_missing or check.outside_spec:
                continue
            answered = aliases.get((check.host, check.port)) if check.port is not None else hosts.get(check.host)
            if answered is None:
                missing.append(check.model_copy(update={"answered": False, "answered_by": None}))
    return missing
