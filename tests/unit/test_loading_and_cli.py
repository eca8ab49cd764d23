"""Loading specs from files and text, ``meshshift validate`` and ``meshshift schema``."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from meshshift.migration.errors import SpecError
from meshshift.migration.loading import SpecLoadError, load_spec
from meshshift.migration.spec import MigrationSpec
from meshshift.workers.cli import app
from tests.unit.specdata import ALB_ONLY, SHOP, shop

runner = CliRunner()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- load_spec ----------------------------------------------------------------------------------


def test_load_spec_from_yaml_json_and_text(tmp_path: Path) -> None:
    as_json = write(tmp_path, "shop.json", json.dumps(shop()))
    assert load_spec(as_json) == load_spec(SHOP) == load_spec(SHOP.read_text()) == load_spec(str(SHOP))
    assert load_spec(json.dumps(shop())).name == "shop"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: shop\n  blue: [\n", "could not parse it"),
        ("", "an empty document"),
        ("- a\n- b\n", "a list"),
        ("name: a\nname: b\n", "duplicate key 'name'"),
        ('{"name": "shop"', "could not parse it"),
    ],
)
def test_unparseable_spec_is_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, "spec.yaml", text)
    with pytest.raises(SpecLoadError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message and needle in message and str(path) in message


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(SpecLoadError) as info:
        load_spec(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: no such file; expected an existing YAML or JSON file"
    with pytest.raises(SpecLoadError, match="a directory"):
        load_spec(tmp_path)


def test_invalid_spec_error_lists_every_problem() -> None:
    data = shop()
    data["ramp"]["steps"] = [5, 1]
    data["typo"] = True
    with pytest.raises(SpecError) as info:
        load_spec(json.dumps(data))
    text = str(info.value)
    assert "3 problems" in text and "ramp.steps[1]" in text and "typo" in text


# --- meshshift validate -------------------------------------------------------------------------


def test_validate_ok_prints_a_summary() -> None:
    result = runner.invoke(app, ["validate", str(SHOP)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK {SHOP}: migration 'shop' in us-east-1")
    assert "alb 95/5, route53 95/5" in result.stdout and "order-worker -> order-worker-sc" in result.stdout


def test_validate_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    data = shop()
    data["health"]["interval"] = "PT0S"
    data["approvers"] = ["carol"]
    path = write(tmp_path, "bad.yaml", yaml.safe_dump(data))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"INVALID {path}: 2 problems"
    assert lines[1] == "  health.interval: expected a positive duration, got 'PT0S'"
    assert lines[2].startswith("  approvers: expected at least one approver other than requested_by 'carol'")
    assert "Traceback" not in result.output


@pytest.mark.parametrize("text", [None, "name: [unclosed\n"])
def test_validate_unreadable_file_exits_2_with_one_line(tmp_path: Path, text: str | None) -> None:
    path = tmp_path / "spec.yaml"
    if text is not None:
        path.write_text(text)
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_validate_json_output(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["validate", "--json", str(ALB_ONLY)])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["valid"] is True
    data = shop()
    data["ramp"]["bake"] = -1
    bad = runner.invoke(app, ["validate", "--json", str(write(tmp_path, "s.json", json.dumps(data)))])
    out = json.loads(bad.stdout)
    assert bad.exit_code == 1 and out["problems"][0]["path"] == "ramp.bake"


# --- schema and examples ------------------------------------------------------------------------


def test_schema_command_prints_the_model_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == MigrationSpec.model_json_schema()


@pytest.mark.parametrize("example", [SHOP, ALB_ONLY], ids=lambda p: p.name)
def test_json_schema_validates_the_examples(example: Path) -> None:
    schema = MigrationSpec.model_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(example.read_text()), schema)
    load_spec(example)


def test_json_schema_rejects_what_the_validator_rejects_field_by_field() -> None:
    schema = MigrationSpec.model_json_schema()
    for edit in (
        lambda d: d.update(bogus=1),
        lambda d: d["ramp"].update(steps=[0, 100]),
        lambda d: d["edge"][1].update(weight_scale=256),
        lambda d: d["green"].update(provision="maybe"),
    ):
        data = shop()
        edit(data)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(data, schema)
