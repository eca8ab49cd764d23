"""Issue 18, pure: inference without App Mesh, green.services overrides, and the backend gate."""

from __future__ import annotations

import pytest

from meshshift.migration.contracts import (
    AppMeshInventory,
    AppMeshListener,
    AppMeshStatus,
    AppMeshVirtualNode,
    AppMeshVirtualService,
    FactSource,
)
from meshshift.migration.errors import SpecError
from meshshift.migration.plan import build_plan
from meshshift.migration.translate_overrides import OverrideError
from tests.unit import eosdata


def aliases(plan_service: object) -> list[tuple[str | None, int]]:
    return [(a.dnsName, a.port) for s in plan_service.service_connect.services for a in s.clientAliases]  # type: ignore[attr-defined]


def test_inference_gives_each_backend_its_name_and_port_with_evidence() -> None:
    found = eosdata.discovery()
    calls = {(c.client, c.host, c.port) for c in found.backend_calls}
    # The RDS host is in no discovered namespace: not a backend of the mesh.
    assert calls == {("web", "api.acme.local", 9090), ("api", "stock.acme.local", 7070)}
    by_service = {(a.blue_service, a.dns_name, a.port, a.container_port, a.source) for a in found.inferred_aliases}
    assert by_service == {
        ("web", "web.acme.local", 8080, 8080, FactSource.CLOUD_MAP),
        ("api", "api.acme.local", 9090, 9090, FactSource.CLOUD_MAP),
        ("stock", "stock.acme.local", 7070, 7070, FactSource.CLOUD_MAP),
    }
    api = next(a for a in found.inferred_aliases if a.blue_service == "api")
    assert (
        "Cloud Map service 'api' in namespace 'acme.local'" in api.evidence
        and "called on port 9090 by web" in api.evidence
    )
    assert any("api.acme.local:9090 inferred without App Mesh from cloud_map" in w for w in found.warnings)


def test_without_cloud_map_the_envoy_node_names_the_service() -> None:
    found = eosdata.discovery(registered=False)
    inferred = {(a.blue_service, a.dns_name, a.port, a.source) for a in found.inferred_aliases}
    assert inferred == {
        ("api", "api.acme.local", 9090, FactSource.TASK_DEFINITION),
        ("stock", "stock.acme.local", 7070, FactSource.TASK_DEFINITION),
    }
    evidence = next(a.evidence for a in found.inferred_aliases if a.blue_service == "stock")
    assert "envoy virtual node 'stock-node'" in evidence


def test_plan_without_app_mesh_answers_every_backend_and_says_where_each_alias_comes_from() -> None:
    plan = build_plan(eosdata.spec(), eosdata.discovery())
    by_blue = {p.blue_service: p for p in plan.services}
    assert aliases(by_blue["api"]) == [("api.acme.local", 9090)]
    assert aliases(by_blue["stock"]) == [("stock.acme.local", 7070)]
    assert plan.missing_backends == [] and plan.backend_gate is None
    (web_backend,) = by_blue["web"].backends
    assert (web_backend.host, web_backend.port, web_backend.answered, web_backend.answered_by) == (
        "api.acme.local",
        9090,
        True,
        "api-sc",
    )
    assert "API_URL=http://api.acme.local:9090/v1" in web_backend.evidence
    (fact,) = by_blue["api"].facts
    assert (fact.field, fact.value, fact.source) == ("client_aliases", "api.acme.local:9090", FactSource.CLOUD_MAP)
    assert not any("no App Mesh virtual service data" in w for w in plan.warnings)


def test_overrides_win_and_are_marked_spec() -> None:
    spec = eosdata.spec(
        services={
            "api": {
                "client_aliases": [{"port": 9090, "dns_name": "api.acme.local"}],
                "discovery_name": "api-green",
                "port_name": "api-http",
                "app_protocol": "grpc",
                "timeouts": {"idle": "PT5M", "per_request": 30},
                "desired_count": 4,
            },
            "stock": {"client_aliases": [{"port": 7071, "dns_name": "inventory.acme.local"}]},
        },
        allow_missing_backends=["stock.acme.local:7070"],
    )
    plan = build_plan(spec, eosdata.discovery())
    api = next(p for p in plan.services if p.blue_service == "api")
    (entry,) = api.service_connect.services
    assert (entry.portName, entry.discoveryName) == ("api-http", "api-green")
    assert entry.timeout is not None
    assert (entry.timeout.idleTimeoutSeconds, entry.timeout.perRequestTimeoutSeconds) == (300, 30)
    mapping = api.task_definition.containerDefinitions[0].portMappings[0]
    assert (mapping.name, mapping.appProtocol) == ("api-http", "grpc")
    assert api.desired_count == 4
    assert {f.field for f in api.facts if f.source is FactSource.SPEC} == {
        "client_aliases",
        "discovery_name",
        "port_name",
        "app_protocol",
        "timeouts.idle",
        "timeouts.per_request",
        "desired_count",
    }
    assert not [f for f in api.facts if f.source is not FactSource.SPEC]  # discovery's alias fact replaced
    stock = next(p for p in plan.services if p.blue_service == "stock")
    assert aliases(stock) == [("inventory.acme.local", 7071)]
    # api still calls stock.acme.local:7070, which nobody answers now: allowed by the spec, so a warning.
    api_backend = next(b for b in api.backends if b.host == "stock.acme.local")
    assert not api_backend.answered and api_backend.allowed_missing
    assert plan.missing_backends == []
    assert any("allowed by green.allow_missing_backends" in w for w in plan.warnings)


def test_unknown_override_key_is_refused_naming_the_field() -> None:
    with pytest.raises(SpecError) as caught:
        eosdata.spec(services={"payments": {"desired_count": 1}})
    text = str(caught.value)
    assert "green.services.payments" in text and "blue.services or async_workers[].blue_service" in text
    assert "'payments'" in text


def test_too_many_aliases_for_the_ports_is_an_error_naming_the_field() -> None:
    spec = eosdata.spec(
        services={"api": {"client_aliases": [{"port": 1, "dns_name": "a.acme.local"}, {"port": 2, "dns_name": "b.x"}]}}
    )
    with pytest.raises(OverrideError, match=r"green\.services\.api\.client_aliases: expected at most 1"):
        build_plan(spec, eosdata.discovery())


def test_missing_backend_stops_with_client_backend_and_fixes() -> None:
    # stock is not migrated (and nobody else answers stock.acme.local): api's backend has no answer.
    plan = build_plan(eosdata.spec(["web", "api"]), eosdata.discovery(["web", "api"]))
    (missing,) = plan.missing_backends
    assert (missing.client, missing.host, missing.port, missing.answered) == ("api", "stock.acme.local", 7070, False)
    assert plan.backend_gate is not None
    for part in (
        "client 'api' calls stock.acme.local:7070",
        "STOCK_HOST=stock.acme.local:7070",
        "green.services.<blue service>.client_aliases",
        "meshshift snapshot appmesh",
        "green.allow_missing_backends",
    ):
        assert part in plan.backend_gate


def test_allow_missing_backends_lets_the_plan_through() -> None:
    spec = eosdata.spec(["web", "api"], allow_missing_backends=["stock.acme.local"])
    plan = build_plan(spec, eosdata.discovery(["web", "api"]))
    assert plan.missing_backends == [] and plan.backend_gate is None


def test_alias_takes_the_port_clients_call() -> None:
    # Under App Mesh, Envoy routed http://api.acme.local (port 80) to api's listener on 9090 by host;
    # a Service Connect alias is host and port, so green must answer api.acme.local:80.
    services = eosdata.discovery().services
    web = next(s for s in services if s.name == "web")
    web.task_definition.containerDefinitions[0].environment[0].value = "http://api.acme.local/v1"
    without_mesh = eosdata.discovery_from(services)
    assert ("api", "api.acme.local", 80) in {
        (a.blue_service, a.dns_name, a.port) for a in without_mesh.inferred_aliases
    }

    mesh = AppMeshInventory(
        mesh_name="acme",
        virtual_nodes=[
            AppMeshVirtualNode(name=f"{n}-node", listeners=[AppMeshListener(port=port, protocol="http")])
            for n, (port, _) in eosdata.APPS.items()
        ],
        virtual_services=[
            AppMeshVirtualService(name=f"{n}.acme.local", provider_node=f"{n}-node") for n in eosdata.APPS
        ],
    )
    with_mesh = without_mesh.model_copy(
        update={"appmesh_status": AppMeshStatus.AVAILABLE, "appmesh": mesh, "inferred_aliases": []}
    )
    plan = build_plan(eosdata.spec(), with_mesh)
    api = next(p for p in plan.services if p.blue_service == "api")
    assert aliases(api) == [("api.acme.local", 80)]
    assert api.service_connect.services[0].portName == "http"  # still forwarded to the container's 9090
    assert any("client alias api.acme.local:9090 becomes api.acme.local:80" in w for w in plan.warnings)
    assert plan.missing_backends == []
