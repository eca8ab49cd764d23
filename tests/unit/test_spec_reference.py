"""docs/spec-reference.md is generated from the JSON Schema; it must never drift from the model."""

from pathlib import Path

from meshshift.migration.spec_reference import render

DOC = Path(__file__).resolve().parents[2] / "docs" / "spec-reference.md"


def test_spec_reference_is_in_sync_with_the_schema() -> None:
    assert DOC.read_text() == render(), "docs/spec-reference.md is stale: run `make docs`"


def test_every_top_level_field_is_documented() -> None:
    text = render()
    for field in ("name", "blue", "green", "edge", "ramp", "alarms", "drain", "async_workers", "decommission"):
        assert f"| `{field}` |" in text
