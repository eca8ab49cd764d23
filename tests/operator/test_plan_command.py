"""`meshshift plan`: discovery against the simulated AWS, translation and the ramp plan as tables, and
nothing changed; bad input is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from meshshift.workers.cli import app
from tests.activities.conftest_local import CLUSTER, MESH, SERVICES, WORKER, BlueApp, client, seed_blue
from tests.workflows.harness import make_spec


def edge_of(app: BlueApp) -> list[dict[str, Any]]:
    """The spec's edge as the seeded account holds it: frontend's listener rule, and weighted records
    created here (the plan's edge preflight reads both)."""
    elbv2 = client("elbv2")
    (rule,) = [
        r
        for r in elbv2.describe_rules(ListenerArn=app.listener_arn)["Rules"]
        if any("/frontend/*" in c.get("Values", []) for c in r["Conditions"])
    ]
    route53 = client("route53")
    zone = route53.create_hosted_zone(Name="shop.example.com", CallerReference="plan-test")["HostedZone"]["Id"]
    zone_id = zone.split("/")[-1]
    record = {"Name": "api.shop.example.com", "Type": "CNAME", "TTL": 60}
    changes = [
        {
            "Action": "UPSERT",
            "ResourceRecordSet": {
                **record,
                "SetIdentifier": color,
                "Weight": weight,
                "ResourceRecords": [{"Value": f"{color}.shop.example.com"}],
            },
        }
        for color, weight in (("blue", 100), ("green", 0))
    ]
    route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    return [
        {
            "type": "alb",
            "listener_arn": app.listener_arn,
            "rule_arn": rule["RuleArn"],
            "blue_target_group_arn": app.target_groups["frontend"],
            "green_target_group_arn": app.green_target_groups["frontend"],
        },
        {
            "type": "route53",
            "hosted_zone_id": zone_id,
            "record_name": "api.shop.example.com",
            "record_type": "CNAME",
            "blue": {"set_identifier": "blue", "value": "blue.shop.example.com"},
            "green": {"set_identifier": "green", "value": "green.shop.example.com"},
        },
    ]


def spec_file(tmp_path: Path, app: BlueApp | None = None) -> Path:
    spec = make_spec(
        blue={"cluster": CLUSTER, "services": SERVICES, "mesh": MESH},
        async_workers=[{"blue_service": WORKER, "green_service": f"{WORKER}-sc", "desired_count": 2}],
        **({"edge": edge_of(app)} if app else {}),
    )
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(spec))
    return path


def services_in(cluster: str) -> list[str]:
    return sorted(boto3.client("ecs", region_name="us-east-1").list_services(cluster=cluster)["serviceArns"])


@pytest.mark.usefixtures("aws_inprocess")
def test_plan_prints_services_weights_and_warnings_and_changes_nothing(tmp_path: Path) -> None:
    path = spec_file(tmp_path, seed_blue(with_mesh=True))
    before = services_in(CLUSTER)
    result = CliRunner().invoke(app, ["plan", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "green services to create" in out
    for name in SERVICES:
        assert f"{name}-sc" in out
    assert f"{WORKER}-sc (async worker)" in out
    assert "weights per shifter per step" in out
    assert "alb #1" in out and "route53 #2" in out and "99/1" in out and "0/100" in out
    assert "rollback" in out
    assert services_in(CLUSTER) == before  # a dry run creates nothing

    as_json = CliRunner().invoke(app, ["plan", str(path), "--json"])
    assert as_json.exit_code == 0, as_json.output
    plan = json.loads(as_json.stdout)
    assert [s["green_service"] for s in plan["services"]] == [f"{n}-sc" for n in SERVICES]
    assert [s["percent"] for s in plan["steps"]] == [1, 5, 25, 50, 100]


@pytest.mark.usefixtures("aws_inprocess")
def test_plan_of_a_missing_cluster_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plan", str(spec_file(tmp_path))])
    assert result.exit_code == 1
    assert "discovery failed" in result.stderr and "Traceback" not in result.output


def test_plan_of_an_invalid_spec_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: shop\nregion: us-east-1\n")
    result = CliRunner().invoke(app, ["plan", str(bad)])
    assert result.exit_code == 1 and "problem" in result.stderr
