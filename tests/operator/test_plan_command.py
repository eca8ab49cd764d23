"""`meshshift plan`: discovery against the simulated AWS, translation and the ramp plan as tables, and
nothing changed; bad input is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from typer.testing import CliRunner

from meshshift.workers.cli import app
from tests.activities.conftest_local import CLUSTER, MESH, SERVICES, WORKER, seed_blue
from tests.workflows.harness import make_spec


def spec_file(tmp_path: Path) -> Path:
    spec = make_spec(
        blue={"cluster": CLUSTER, "services": SERVICES, "mesh": MESH},
        async_workers=[{"blue_service": WORKER, "green_service": f"{WORKER}-sc", "desired_count": 2}],
    )
    path = tmp_path / "shop.json"
    path.write_text(json.dumps(spec))
    return path


def services_in(cluster: str) -> list[str]:
    return sorted(boto3.client("ecs", region_name="us-east-1").list_services(cluster=cluster)["serviceArns"])


@pytest.mark.usefixtures("aws_inprocess")
def test_plan_prints_services_weights_and_warnings_and_changes_nothing(tmp_path: Path) -> None:
    seed_blue(with_mesh=True)
    before = services_in(CLUSTER)
    result = CliRunner().invoke(app, ["plan", str(spec_file(tmp_path))], env={"COLUMNS": "250"})
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

    as_json = CliRunner().invoke(app, ["plan", str(spec_file(tmp_path)), "--json"])
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
