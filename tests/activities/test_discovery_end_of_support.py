"""Issue 18: migrating after App Mesh's end of support, against the simulation with its App Mesh API
refusing (403, AccessDenied) or gone (404).

The acme application (tests/activities/eos_app.py) registers in Cloud Map and names its backends in
its container environment. Green is planned from what still answers, provisioned into the simulated
ECS, and its Service Connect configuration is read back from ECS.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import AwsClients
from meshshift.activities.discovery import DiscoveryActivities, snapshot_mesh
from meshshift.activities.provisioning import ProvisioningActivities
from meshshift.migration.appmesh_snapshot import EMBEDDED_PREFIX, PAYLOAD_HARD_LIMIT, AppMeshSnapshot
from meshshift.migration.backend_gate import recheck
from meshshift.migration.contracts import (
    AppMeshStatus,
    BlueDiscovery,
    DiscoverInput,
    EnsureNamespaceInput,
    FactSource,
    GreenServiceRef,
    MigrationPlan,
    ProvisionServiceInput,
    ReadServiceConnectInput,
)
from meshshift.migration.plan import build_plan
from meshshift.migration.spec import MigrationSpec, ProvisionMode
from meshshift.sim.aws.appmesh import UNAVAILABLE_ENV
from meshshift.workers.client_commands import (
    CommandFailed,
    embed_appmesh_snapshot,
    plan_migration,
    take_appmesh_snapshot,
)
from tests.activities import eos_app
from tests.activities.conftest_local import AWS, REGION, client
from tests.workflows.harness import make_spec

# The simulation's switch: "denied" answers AccessDeniedException (403), "gone" a bare 404.
REFUSING = [pytest.param("denied", id="403-access-denied"), pytest.param("gone", id="404-gone")]


def discover(clients: AwsClients, spec: MigrationSpec) -> BlueDiscovery:
    return ActivityEnvironment().run(DiscoveryActivities(clients).discover_blue, DiscoverInput(aws=AWS, spec=spec))


def provision_all(clients: AwsClients, plan: MigrationPlan) -> dict[str, list[dict[str, Any]]]:
    """Create every green service of the plan; green service -> its Service Connect services, read back."""
    activities = ProvisioningActivities(clients)
    namespace = ActivityEnvironment().run(
        activities.ensure_namespace, EnsureNamespaceInput(aws=AWS, name=eos_app.NAMESPACE)
    )
    for green in plan.services:
        ActivityEnvironment().run(
            activities.provision_green_service,
            ProvisionServiceInput(aws=AWS, plan=green, namespace_arn=namespace.arn, mode=ProvisionMode.CREATE),
        )
    names = [p.green_service for p in plan.services]
    described = client("ecs").describe_services(cluster=eos_app.CLUSTER, services=names)["services"]
    return {s["serviceName"]: s["deployments"][0]["serviceConnectConfiguration"]["services"] for s in described}


def read_back_aliases(read_back: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, int], str]:
    return {
        (a["dnsName"], a["port"]): name
        for name, entries in read_back.items()
        for e in entries
        for a in e.get("clientAliases", [])
    }


@pytest.mark.parametrize("mode", REFUSING)
def test_green_answers_every_backend_under_the_name_and_port_clients_use(
    aws_inprocess: None, aws_clients: AwsClients, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    eos_app.seed()
    monkeypatch.setenv(UNAVAILABLE_ENV, mode)
    spec = eos_app.spec()
    found = discover(aws_clients, spec)
    assert found.appmesh_status is AppMeshStatus.UNAVAILABLE and found.appmesh is None
    assert found.namespaces == [eos_app.NAMESPACE]
    # The clients' backends, from their environment (the RDS host is outside the namespace).
    assert {(c.client, c.host, c.port) for c in found.backend_calls} == {
        ("web", "api.acme.local", 9090),
        ("api", "stock.acme.local", 7070),
    }
    registration = next(s for s in found.services if s.name == "api").cloud_map[0]
    assert (registration.service, registration.namespace, registration.dns_records) == ("api", "acme.local", ["A"])
    for alias in found.inferred_aliases:
        assert alias.source is FactSource.CLOUD_MAP and "serviceRegistries" in alias.evidence
        assert any(f"{alias.dns_name}:{alias.port} inferred without App Mesh" in w for w in found.warnings)

    plan = build_plan(spec, found)  # no spec hints at all
    assert plan.backend_gate is None
    services_before = len(client("ecs").list_services(cluster=eos_app.CLUSTER)["serviceArns"])
    read_back = provision_all(aws_clients, plan)
    assert len(client("ecs").list_services(cluster=eos_app.CLUSTER)["serviceArns"]) == services_before + 3

    answered = read_back_aliases(read_back)
    for call in found.backend_calls:
        assert (call.host, call.port) in answered, f"{call.client} calls {call.host}:{call.port}; green: {answered}"
    assert answered == {
        ("web.acme.local", 8080): "web-sc",
        ("api.acme.local", 9090): "api-sc",
        ("stock.acme.local", 7070): "stock-sc",
    }
    # The plan says where each alias and each backend check comes from.
    web = next(p for p in plan.services if p.blue_service == "web")
    (backend,) = web.backends
    assert (backend.host, backend.port, backend.answered_by, backend.source) == (
        "api.acme.local",
        9090,
        "api-sc",
        FactSource.TASK_DEFINITION,
    )
    assert "API_URL=http://api.acme.local:9090/v1" in backend.evidence

    # The workflow's second check, before the first weight change: green as ECS holds it.
    read = ActivityEnvironment().run(
        ProvisioningActivities(aws_clients).read_green_service_connect,
        ReadServiceConnectInput(
            aws=AWS, services=[GreenServiceRef(cluster=p.cluster, service=p.green_service) for p in plan.services]
        ),
    )
    assert all(s.found and s.service_connect is not None for s in read.services)
    pairs = [(s.service, s.service_connect) for s in read.services if s.service_connect is not None]
    assert recheck(plan.services, pairs) == []
    assert [m.host for m in recheck(plan.services, [p for p in pairs if p[0] != "api-sc"])] == ["api.acme.local"]


@pytest.mark.parametrize("mode", REFUSING)
def test_client_aliases_in_the_spec_are_exactly_what_green_gets(
    aws_inprocess: None, aws_clients: AwsClients, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    eos_app.seed()
    monkeypatch.setenv(UNAVAILABLE_ENV, mode)
    spec = eos_app.spec(
        green={
            "services": {
                "web": {"client_aliases": [{"port": 80, "dns_name": "www.acme.local"}]},
                "stock": {"client_aliases": [{"port": 7070, "dns_name": "stock.acme.local"}], "desired_count": 1},
            }
        }
    )
    plan = build_plan(spec, discover(aws_clients, spec))
    read_back = provision_all(aws_clients, plan)
    assert [a for e in read_back["web-sc"] for a in e["clientAliases"]] == [{"port": 80, "dnsName": "www.acme.local"}]
    assert [a for e in read_back["stock-sc"] for a in e["clientAliases"]] == [
        {"port": 7070, "dnsName": "stock.acme.local"}
    ]
    web = next(p for p in plan.services if p.blue_service == "web")
    assert [(f.field, f.value, f.source) for f in web.facts] == [
        ("client_aliases", "www.acme.local:80", FactSource.SPEC)
    ]
    stock = client("ecs").describe_services(cluster=eos_app.CLUSTER, services=["stock-sc"])["services"][0]
    assert stock["desiredCount"] == 1


@pytest.mark.parametrize("mode", REFUSING)
def test_a_snapshot_taken_while_the_api_answered_gives_the_same_plan_as_live(
    aws_inprocess: None, aws_clients: AwsClients, monkeypatch: pytest.MonkeyPatch, mode: str, tmp_path: Path
) -> None:
    eos_app.seed()
    live_spec = eos_app.spec()
    live = discover(aws_clients, live_spec)
    assert live.appmesh_status is AppMeshStatus.AVAILABLE
    live_plan = build_plan(live_spec, live)

    snapshot = snapshot_mesh(client("appmesh"), eos_app.MESH, None)
    assert snapshot.format_version == 1
    assert [n["virtualNodeName"] for n in snapshot.virtual_nodes] == ["web-node", "api-node", "stock-node"]
    assert len(snapshot.virtual_services) == 3
    # The file round trip of `meshshift start` / `plan`: the path is replaced by the content.
    (tmp_path / "acme-mesh.json").write_text(json.dumps(snapshot.model_dump(mode="json")))
    document = live_spec.model_dump(mode="json", exclude_none=True)
    document["blue"]["appmesh_snapshot"] = "acme-mesh.json"
    embed_appmesh_snapshot(document, tmp_path / "spec.yaml")
    later_spec = MigrationSpec.model_validate(document)
    assert isinstance(later_spec.blue.appmesh_snapshot, AppMeshSnapshot)

    monkeypatch.setenv(UNAVAILABLE_ENV, mode)
    later = discover(aws_clients, later_spec)
    assert later.appmesh_status is AppMeshStatus.SNAPSHOT
    assert later.appmesh == live.appmesh
    later_plan = build_plan(later_spec, later)

    def comparable(plan: MigrationPlan) -> list[dict[str, Any]]:
        # Identical but for the source each fact names: app_mesh live, snapshot later.
        return [p.model_dump(exclude={"facts", "backends"}) for p in plan.services]

    assert comparable(later_plan) == comparable(live_plan)
    assert later_plan.untranslatable_items == live_plan.untranslatable_items
    assert [(b.host, b.port, b.answered_by) for p in later_plan.services for b in p.backends] == [
        (b.host, b.port, b.answered_by) for p in live_plan.services for b in p.backends
    ]
    assert {f.source for p in later_plan.services for f in p.facts} == {FactSource.SNAPSHOT}
    assert {f.source for p in live_plan.services for f in p.facts} == {FactSource.APP_MESH}


@pytest.mark.parametrize("mode", REFUSING)
def test_a_missing_backend_stops_before_anything_is_created(
    aws_inprocess: None,
    aws_clients: AwsClients,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # web also calls payments, which no service of blue registers or is named after.
    eos_app.seed(extra_env={"web": {"PAYMENTS_URL": "https://payments.acme.local:7443/charge"}})
    monkeypatch.setenv(UNAVAILABLE_ENV, mode)
    services_before = client("ecs").list_services(cluster=eos_app.CLUSTER)["serviceArns"]
    spec_file = tmp_path / "acme.json"
    spec_file.write_text(eos_app.spec().model_dump_json(exclude_none=True))

    with pytest.raises(CommandFailed) as caught:
        plan_migration(spec_file, True, _console())
    message = str(caught.value)
    for part in (
        "client 'web' calls payments.acme.local:7443",
        "PAYMENTS_URL=https://payments.acme.local:7443/charge",
        "green.services.<blue service>.client_aliases",
        "meshshift snapshot appmesh",
        "green.allow_missing_backends",
    ):
        assert part in message
    printed = json.loads(capsys.readouterr().out)  # the plan is still shown, with the check
    (missing,) = printed["missing_backends"]
    assert (missing["client"], missing["host"], missing["port"]) == ("web", "payments.acme.local", 7443)
    assert client("ecs").list_services(cluster=eos_app.CLUSTER)["serviceArns"] == services_before

    # The same plan is let through when the spec says the backend may stay unanswered.
    allowed = eos_app.spec(green={"allow_missing_backends": ["payments.acme.local:7443"]})
    assert build_plan(allowed, discover(aws_clients, allowed)).backend_gate is None


def _snapshot_of(nodes: int, pad: Callable[[int], str]) -> AppMeshSnapshot:
    return AppMeshSnapshot(
        format_version=1,
        mesh_name=eos_app.MESH,
        mesh={"meshName": eos_app.MESH, "metadata": {}, "spec": {}},
        virtual_nodes=[{"virtualNodeName": f"n{i}", "spec": {"pad": pad(i)}} for i in range(nodes)],
    )


def test_a_snapshot_too_large_for_temporal_even_compressed_is_refused(tmp_path: Path) -> None:
    noise = random.Random(7)
    big = _snapshot_of(2100, lambda _: base64.b64encode(noise.randbytes(1024)).decode())  # does not compress
    (tmp_path / "big.json").write_text(json.dumps(big.model_dump(mode="json")))
    document: dict[str, Any] = {"blue": {"appmesh_snapshot": "big.json"}}
    with pytest.raises(CommandFailed) as caught:
        embed_appmesh_snapshot(document, tmp_path / "spec.yaml")
    assert "blue.appmesh_snapshot" in str(caught.value)
    assert f"expected at most {PAYLOAD_HARD_LIMIT} bytes" in str(caught.value)
    assert document["blue"]["appmesh_snapshot"] == "big.json"  # nothing embedded


def test_a_large_snapshot_travels_compressed_and_reads_back_the_same(tmp_path: Path) -> None:
    """2.2 MB of JSON, over Temporal's 2 MB payload limit, as alike as a real mesh's nodes are."""
    big = _snapshot_of(2100, lambda i: f"listener 8080 http, backend svc-{i}.acme.local " * 20)
    (tmp_path / "big.json").write_text(json.dumps(big.model_dump(mode="json")))
    assert (tmp_path / "big.json").stat().st_size > PAYLOAD_HARD_LIMIT
    spec = make_spec()
    spec["blue"] |= {"mesh": eos_app.MESH, "appmesh_snapshot": "big.json"}
    embed_appmesh_snapshot(spec, tmp_path / "spec.yaml")
    sent = spec["blue"]["appmesh_snapshot"]
    assert isinstance(sent, str) and sent.startswith(EMBEDDED_PREFIX)
    assert len(json.dumps(spec)) < 256 * 1024
    validated = MigrationSpec.model_validate(spec)
    assert validated.blue.appmesh_snapshot == big
    # Wherever the spec travels as JSON (an activity's input), the snapshot stays compressed.
    again = json.loads(validated.model_dump_json())["blue"]["appmesh_snapshot"]
    assert (
        again.startswith(EMBEDDED_PREFIX)
        and MigrationSpec.model_validate_json(validated.model_dump_json()) == validated
    )


def test_a_damaged_compressed_snapshot_is_refused_by_name() -> None:
    spec = make_spec()
    spec["blue"] |= {"mesh": eos_app.MESH, "appmesh_snapshot": EMBEDDED_PREFIX + "not base64 at all!"}
    with pytest.raises(ValidationError) as caught:
        MigrationSpec.model_validate(spec)
    message = str(caught.value)
    assert "blue.appmesh_snapshot" in message and "expected a compressed App Mesh snapshot" in message


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def test_snapshot_command_writes_the_file_and_says_when_the_api_refuses(
    aws_inprocess: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    eos_app.seed_mesh()
    out = tmp_path / "acme-mesh.json"
    take_appmesh_snapshot(eos_app.MESH, None, REGION, out, _console())
    written = json.loads(out.read_text())
    assert written["format_version"] == 1 and written["kind"] == "meshshift.appmesh-snapshot"
    assert written["mesh"]["meshName"] == eos_app.MESH
    assert {s["virtualServiceName"] for s in written["virtual_services"]} == {
        "web.acme.local",
        "api.acme.local",
        "stock.acme.local",
    }
    monkeypatch.setenv(UNAVAILABLE_ENV, "denied")
    with pytest.raises(CommandFailed, match=r"AccessDenied.*write green\.services\.<name> in the spec"):
        take_appmesh_snapshot(eos_app.MESH, None, REGION, tmp_path / "late.json", _console())
    assert not (tmp_path / "late.json").exists()
