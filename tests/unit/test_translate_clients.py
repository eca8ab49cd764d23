"""Backends, backend defaults and client policies, and App Mesh backends that run no Envoy."""

from __future__ import annotations

from meshshift.migration.contracts import (
    AppMeshClientPolicy,
    AppMeshInventory,
    AppMeshVirtualService,
    CloudMapRegistration,
)
from meshshift.migration.translate import backend_items, translate_service
from meshshift.migration.translate_clients import (
    client_policy_items,
    legacy_client_tls_item,
    node_for_registrations,
    registration_aliases,
)
from meshshift.migration.translate_taskdef import ServedPort
from tests.unit.meshdata import node, plain_task_definition

LEDGER_ARN = "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-ledger"
LEDGER = CloudMapRegistration(registry_arn=LEDGER_ARN, service="ledger", namespace="bank.local")


def bank_mesh() -> AppMeshInventory:
    """web calls ledger (a node whose ECS service runs no Envoy) and audit (a DNS node nobody migrates)."""
    return AppMeshInventory(
        mesh_name="bank-mesh",
        virtual_nodes=[
            node("web-vn", backends=["ledger.bank.local", "audit.bank.local", "nowhere.bank.local"]),
            node("ledger-vn", cloud_map_namespace="bank.local", cloud_map_service="ledger"),
            node("audit-vn", dns_hostname="audit.bank.internal"),
        ],
        virtual_services=[
            AppMeshVirtualService(name="web.bank.local", provider_node="web-vn"),
            AppMeshVirtualService(name="ledger.bank.local", provider_node="ledger-vn"),
            AppMeshVirtualService(name="audit.bank.local", provider_node="audit-vn"),
        ],
    )


def test_client_policies_report_tls_origination_and_client_certificates() -> None:
    policies = [
        AppMeshClientPolicy(scope="backendDefaults", certificate="sds", validation="sds"),
        AppMeshClientPolicy(scope="ledger.bank.local", ports=[8080], validation="acm"),
        AppMeshClientPolicy(scope="audit.bank.local", enforce=False, validation="file"),
    ]
    items = client_policy_items("web", "virtual node web-vn", policies)
    assert [(i.app_mesh_construct, i.resource) for i in items] == [
        ("client TLS", "virtual node web-vn, client policy for every backend (backendDefaults)"),
        ("mTLS", "virtual node web-vn, client policy for every backend (backendDefaults)"),
        ("client TLS", "virtual node web-vn, client policy for backend ledger.bank.local"),
    ]
    assert "client certificate from SDS" in items[1].detail and "no client certificates" in items[1].detail
    assert "on port(s) 8080" in items[2].detail and "trusting an ACM certificate" in items[2].detail


def test_legacy_discovery_data_still_reports_enforced_client_tls() -> None:
    item = legacy_client_tls_item("web", node("web-vn", client_tls_enforced=True))
    assert item is not None and item.app_mesh_construct == "mTLS"
    with_policies = node("web-vn", client_tls_enforced=True, client_policies=[AppMeshClientPolicy(scope="x")])
    assert legacy_client_tls_item("web", with_policies) is None


def test_a_service_without_envoy_is_found_by_its_cloud_map_registration_or_dns_name() -> None:
    mesh = bank_mesh()
    assert node_for_registrations([LEDGER], mesh) == "ledger-vn"
    audit = CloudMapRegistration(registry_arn="arn:x", service="audit", namespace="bank.internal")
    assert node_for_registrations([audit], mesh) == "audit-vn"
    assert node_for_registrations([CloudMapRegistration(registry_arn="arn:x")], mesh) is None
    assert node_for_registrations([LEDGER], None) is None


def test_registration_alias_only_when_name_and_port_are_certain() -> None:
    one = [ServedPort(port=8080)]
    assert registration_aliases([LEDGER], one) == {8080: [("ledger.bank.local", 8080)]}
    assert registration_aliases([LEDGER], [*one, ServedPort(port=9090)]) == {}
    assert registration_aliases([CloudMapRegistration(registry_arn="arn:x")], one) == {}


def test_an_unmeshed_backend_in_the_spec_takes_its_virtual_service_alias() -> None:
    out = translate_service(
        plain_task_definition("ledger"),
        service_name="ledger",
        family_suffix="-sc",
        green_namespace="bank.local",
        appmesh=bank_mesh(),
        cloud_map=[LEDGER],
    )
    (svc,) = out.services
    assert out.virtual_node == "ledger-vn"
    assert [(a.dnsName, a.port) for a in svc.clientAliases] == [("ledger.bank.local", 8080)]
    # Blue's Cloud Map service "ledger" lives in green's namespace: green's name must not collide.
    assert svc.discoveryName == "ledger-sc"
    assert any("runs without Envoy" in w and "ledger-vn" in w for w in out.warnings)
    assert not any("no App Mesh virtual service data" in w for w in out.warnings)


def test_an_unmeshed_service_keeps_its_cloud_map_name_when_app_mesh_is_gone() -> None:
    out = translate_service(
        plain_task_definition("ledger"), service_name="ledger", family_suffix="-sc", cloud_map=[LEDGER]
    )
    assert [(a.dnsName, a.port) for a in out.services[0].clientAliases] == [("ledger.bank.local", 8080)]
    assert any("registers in Cloud Map as ledger.bank.local" in w for w in out.warnings)


def test_a_plain_service_outside_the_mesh_gets_no_misleading_warning() -> None:
    out = translate_service(
        plain_task_definition("batch"), service_name="batch", family_suffix="-sc", appmesh=bank_mesh()
    )
    assert out.services[0].clientAliases == []
    assert not any("client alias" in w or "virtual service" in w for w in out.warnings)
    assert out.untranslatable == []


def test_backends_no_service_of_the_spec_provides_are_reported_with_how_green_reaches_them() -> None:
    mesh = bank_mesh()
    web = translate_service(
        plain_task_definition("web"), service_name="web", family_suffix="-sc", appmesh=mesh, virtual_node_name="web-vn"
    )
    ledger = translate_service(
        plain_task_definition("ledger"), service_name="ledger", family_suffix="-sc", appmesh=mesh, cloud_map=[LEDGER]
    )
    (item,) = backend_items([("web", web), ("ledger", ledger)], mesh)
    assert (item.service, item.app_mesh_construct) == ("web", "backend")
    assert item.resource == "virtual service audit.bank.local (virtual node audit-vn)"
    assert "by DNS, to audit.bank.internal" in item.detail and "blue.services" in item.next_step
    # Without ledger in the spec, ledger is reported the same way, by its Cloud Map name.
    alone = backend_items([("web", web)], mesh)
    assert any("Cloud Map service ledger.bank.local" in i.detail for i in alone)
    assert backend_items([("web", web)], None) == []
