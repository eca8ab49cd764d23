"""Two App Mesh applications the repository did not have (routers by path and header, weighted
routes, gateways and gateway routes, retries, mutual TLS, a backend without Envoy), seeded into the
simulated AWS, discovered and planned: the plan names every construct it could not carry over,
and what it could carry over is right."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from temporalio.testing import ActivityEnvironment
from typer.testing import CliRunner

from meshshift.activities.aws import AwsClients
from meshshift.activities.discovery import DiscoveryActivities
from meshshift.migration.contracts import (
    AwsContext,
    BlueDiscovery,
    DiscoverInput,
    GreenServicePlan,
    MigrationPlan,
    TaskDefinition,
)
from meshshift.migration.plan import build_plan
from meshshift.workers.cli import app as cli
from tests.activities import mesh_apps
from tests.activities.conftest_local import REGION

pytestmark = pytest.mark.usefixtures("aws_inprocess")


def discover(clients: AwsClients, app: mesh_apps.App) -> BlueDiscovery:
    params = DiscoverInput(aws=AwsContext(region=REGION), spec=mesh_apps.spec(app))
    return ActivityEnvironment().run(DiscoveryActivities(clients).discover_blue, params)


def findings(plan: MigrationPlan) -> set[tuple[str | None, str, str]]:
    return {(i.service, i.app_mesh_construct, i.resource) for i in plan.untranslatable_items}


def green(plan: MigrationPlan, blue: str) -> GreenServicePlan:
    return next(p for p in plan.services if p.blue_service == blue)


def assert_no_envoy(td: TaskDefinition) -> None:
    assert td.proxyConfiguration is None
    assert [c.name for c in td.containerDefinitions] == ["app"]
    assert not [e for c in td.containerDefinitions for e in c.environment if e.name.startswith("APPMESH_")]
    assert not [d for c in td.containerDefinitions for d in c.dependsOn if d.containerName == "envoy"]


def test_colorteller_path_and_header_routing_gateway_rewrites_and_retries(aws_clients: AwsClients) -> None:
    app = mesh_apps.seed_colorteller()
    discovery = discover(aws_clients, app)
    mesh = discovery.appmesh
    assert mesh is not None and mesh.egress_filter == "DROP_ALL"
    black = next(r for r in mesh.routes if r.name == "black")
    assert black.match is not None and black.match.prefix == "/black"
    (gateway,) = mesh.virtual_gateways
    assert [(r.name, r.rewrite) for r in gateway.gateway_routes] == [
        ("gr-color", "prefix /color rewritten to /"),
        ("gr-root", None),
    ]
    assert discovery.services[0].virtual_node_name is None  # a gateway's Envoy names no node

    plan = build_plan(mesh_apps.spec(app), discovery)

    router = "virtual service colorteller.color.local, router colorteller-router"
    assert findings(plan) == {
        ("color-gateway", "virtual gateway", "virtual gateway color-gw"),
        ("color-gateway", "gateway route", "virtual gateway color-gw"),
        ("colorteller-white", "route match", router),
        ("colorteller-black", "route match", router),
        ("colorteller-blue", "route match", router),
        ("colorteller-white", "retry policy", "route colorteller-router/white"),
        *(
            (f"colorteller-{c}", "health check", f"virtual node colorteller-{c}-vn, listener 9080/http")
            for c in mesh_apps.COLORS
        ),
        (None, "egress filter", "mesh color-mesh"),
    }
    route_match = next(i for i in plan.untranslatable_items if i.app_mesh_construct == "route match")
    for line in (
        "route blue (header x-color exact blue) -> colorteller-blue-vn",
        "route black (prefix /black) -> colorteller-black-vn",
        "route white (prefix /) -> colorteller-white-vn",
    ):
        assert line in route_match.detail
    assert "heaviest" not in route_match.detail

    # What could be carried over is right.
    assert plan.retired_services == ["color-gateway"]
    assert [p.blue_service for p in plan.services] == [f"colorteller-{c}" for c in mesh_apps.COLORS]
    white = green(plan, "colorteller-white")
    (sc,) = white.service_connect.services
    assert [(a.dnsName, a.port) for a in sc.clientAliases] == [("colorteller.color.local", 9080)]
    assert sc.discoveryName == "colorteller-white"
    assert sc.timeout is not None and sc.timeout.perRequestTimeoutSeconds == 30
    for color in ("black", "blue"):
        assert green(plan, f"colorteller-{color}").service_connect.services[0].clientAliases == []
    for p in plan.services:
        assert_no_envoy(p.task_definition)
        assert p.task_definition.containerDefinitions[0].portMappings[0].appProtocol == "http"
        assert p.load_balancers == []
    # The gateway routes by path: nothing is guessed onto the green target group, and the plan says so.
    assert any(app.green_target_group in w and "no green service is attached" in w for w in plan.warnings)


def test_bank_weighted_versions_mtls_gateway_ingress_and_a_backend_without_envoy(aws_clients: AwsClients) -> None:
    app = mesh_apps.seed_bank()
    discovery = discover(aws_clients, app)
    ledger = next(s for s in discovery.services if s.name == "ledger")
    assert [(r.service, r.namespace) for r in ledger.cloud_map] == [("ledger", "bank.local")]
    # Discovery reads what the translation needs to tell constructs apart.
    mesh = discovery.appmesh
    assert mesh is not None
    nodes = {n.name: n for n in mesh.virtual_nodes}
    (web_listener,) = nodes["web-vn"].listeners
    assert (web_listener.tls_mode, web_listener.tls_certificate, web_listener.tls_validation) == (
        "STRICT",
        "file",
        "sds",
    )
    assert [(p.scope, p.certificate, p.validation) for p in nodes["web-vn"].client_policies] == [
        ("backendDefaults", "sds", "sds")
    ]
    (v1_listener,) = nodes["accounts-v1-vn"].listeners
    assert v1_listener.connection_pool == {"maxConnections": 50, "maxPendingRequests": 10}
    assert v1_listener.outlier_detection["intervalSeconds"] == 10
    (canary,) = mesh.routes
    assert canary.retry_policy is not None and canary.retry_policy.max_retries == 3
    assert canary.retry_policy.events == ["server-error", "gateway-error", "connection-error"]
    assert (canary.timeout_seconds, canary.match is not None and canary.match.prefix) == (20, "/")
    (gateway_data,) = mesh.virtual_gateways
    assert gateway_data.listeners[0].tls_certificate == "acm"
    assert [(r.name, r.target_virtual_service, r.rewrite) for r in gateway_data.gateway_routes] == [
        ("all", "web.bank.local", None)
    ]
    assert gateway_data.client_policies[0].certificate == "sds"

    plan = build_plan(mesh_apps.spec(app), discovery)

    web_node = "virtual node web-vn"
    gateway = "virtual gateway bank-gw"
    accounts = "virtual service accounts.bank.local, router accounts-router"
    expected = {
        ("bank-gateway", "TLS", f"{gateway}, listener 8443/http"),
        ("bank-gateway", "client TLS", f"{gateway}, client policy for every backend (backendDefaults)"),
        ("bank-gateway", "mTLS", f"{gateway}, client policy for every backend (backendDefaults)"),
        ("web", "TLS", f"{web_node}, listener 8080/http"),
        ("web", "mTLS", f"{web_node}, listener 8080/http"),
        ("web", "client TLS", f"{web_node}, client policy for every backend (backendDefaults)"),
        ("web", "mTLS", f"{web_node}, client policy for every backend (backendDefaults)"),
        ("web", "backend", "virtual service audit.bank.local (virtual node audit-vn)"),
        (None, "virtual node", "virtual node audit-vn"),
    }
    for version in ("v1", "v2"):
        listener = f"virtual node accounts-{version}-vn, listener 8080/http"
        expected |= {
            (f"accounts-{version}", "weighted routing", accounts),
            (f"accounts-{version}", "retry policy", "route accounts-router/canary"),
            (f"accounts-{version}", "connection pool", listener),
            (f"accounts-{version}", "outlier detection", listener),
        }
    assert findings(plan) == expected
    mtls = [i for i in plan.untranslatable_items if i.app_mesh_construct == "mTLS"]
    assert all("mutual TLS" in i.detail and i.next_step for i in mtls)

    # The gateway is retired by the spec; ingress goes straight to web's green copy.
    assert plan.retired_services == ["bank-gateway"]
    assert any("retired (blue.retire)" in w for w in plan.warnings)
    web = green(plan, "web")
    assert [(lb.target_group_arn, lb.container_name, lb.container_port) for lb in web.load_balancers] == [
        (app.green_target_group, "app", 8080)
    ]
    # Blue's Cloud Map services live in green's namespace: green's discovery names stay apart.
    (web_sc,) = web.service_connect.services
    assert web_sc.discoveryName == "web-sc"
    assert [(a.dnsName, a.port) for a in web_sc.clientAliases] == [("web.bank.local", 8080)]
    v1 = green(plan, "accounts-v1").service_connect.services[0]
    assert [(a.dnsName, a.port) for a in v1.clientAliases] == [("accounts.bank.local", 8080)]
    assert v1.timeout is not None and v1.timeout.perRequestTimeoutSeconds == 20
    assert green(plan, "accounts-v2").service_connect.services[0].clientAliases == []
    # ledger runs without Envoy: App Mesh's node is found by its Cloud Map name, and green's copy takes the alias.
    ledger_green = green(plan, "ledger")
    (ledger_sc,) = ledger_green.service_connect.services
    assert [(a.dnsName, a.port) for a in ledger_sc.clientAliases] == [("ledger.bank.local", 7070)]
    assert ledger_green.task_definition.containerDefinitions[0].portMappings[0].appProtocol == "grpc"
    assert ledger_sc.discoveryName == "ledger-sc"
    for p in plan.services:
        assert_no_envoy(p.task_definition)
    assert plan.untranslatable == [i.text() for i in plan.untranslatable_items]


def test_meshshift_plan_shows_what_cannot_be_carried_over_first_by_service(tmp_path: Path) -> None:
    app = mesh_apps.seed_bank()
    path = tmp_path / "bank.json"
    path.write_text(mesh_apps.spec(app).model_dump_json())
    result = CliRunner().invoke(cli, ["plan", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    heading = out.index("cannot be carried over to Service Connect (")
    assert heading < out.index("green services to create") < out.index("warnings:")
    section = out[heading : out.index("green services to create")]
    order = [section.index(f"  service {name}\n") for name in ("accounts-v1", "accounts-v2", "bank-gateway", "web")]
    assert order == sorted(order) and section.index("mesh bank-mesh as a whole") > order[-1]
    assert section.count("next: ") == section.count("    - ")

    as_json = CliRunner().invoke(cli, ["plan", str(path), "--json"])
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert len(data["untranslatable"]) == len(data["untranslatable_items"]) > 0
    assert set(data["untranslatable_items"][0]) == {"service", "app_mesh_construct", "resource", "detail", "next_step"}
    assert data["retired_services"] == ["bank-gateway"]


def test_a_plan_the_translation_cannot_make_is_a_one_line_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = mesh_apps.seed_colorteller()
    path = tmp_path / "color.json"
    path.write_text(mesh_apps.spec(app).model_dump_json())

    def refuse(*_: object) -> MigrationPlan:
        raise ValueError("task definition 'x' is odd")

    monkeypatch.setattr("meshshift.migration.plan.build_plan", refuse)
    result = CliRunner().invoke(cli, ["plan", str(path)])
    assert result.exit_code == 1
    assert "planning failed: task definition 'x' is odd" in result.stderr and "Traceback" not in result.output


def test_meshshift_plan_reads_the_edge_first_one_error_and_one_warning(tmp_path: Path) -> None:
    app = mesh_apps.seed_bank()
    elbv2 = boto3.client("elbv2", region_name=REGION)
    # As App Mesh's walkthroughs leave it: green's group health-checks Envoy's admin port, and an
    # admin rule also forwards to blue's group ahead of the listener's default action.
    elbv2.modify_target_group(TargetGroupArn=app.green_target_group, HealthCheckPort="9901", HealthCheckPath="/ready")
    admin_rule = elbv2.create_rule(
        ListenerArn=app.listener_arn,
        Priority=10,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/admin/*"]}}],
        Actions=[{"Type": "forward", "TargetGroupArn": app.blue_target_group}],
    )["Rules"][0]["RuleArn"]
    path = tmp_path / "bank.json"
    path.write_text(mesh_apps.spec(app).model_dump_json())

    failed = CliRunner().invoke(cli, ["plan", str(path)], env={"COLUMNS": "250"})

    assert failed.exit_code == 1 and "Traceback" not in failed.output
    err = " ".join(failed.stderr.split())  # the console wraps long lines
    assert "planning failed: edge preflight: 1 error" in err
    assert "error edge[0].green_target_group_arn: expected a health check on a port green serves" in err
    assert "health check port 9901 path /ready, Envoy's admin port" in err
    assert "warning edge[0]: expected every rule that sends requests to blue's target group to be shifted" in err
    assert admin_rule in err
    as_json = CliRunner().invoke(cli, ["plan", str(path), "--json"])
    assert as_json.exit_code == 1
    found = [(f["severity"], f["field"]) for f in json.loads(as_json.stdout)["preflight"]]
    assert sorted(found) == [("error", "edge[0].green_target_group_arn"), ("warning", "edge[0]")]

    # Fixed as the error says: the plan goes through, the warning stays in the plan and its JSON.
    elbv2.modify_target_group(TargetGroupArn=app.green_target_group, HealthCheckPort="traffic-port")
    planned = CliRunner().invoke(cli, ["plan", str(path), "--json"])
    assert planned.exit_code == 0, planned.output
    data = json.loads(planned.stdout)
    assert [(f["severity"], f["field"]) for f in data["preflight"]] == [("warning", "edge[0]")]
    assert [w for w in data["warnings"] if w.startswith("edge preflight: edge[0]: ")]
