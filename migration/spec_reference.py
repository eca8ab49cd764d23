"""Render the spec's JSON Schema as the Markdown reference in docs/spec-reference.md.

Generated, never hand-edited: ``make docs`` rewrites it and a test fails when it is stale.
"""

from __future__ import annotations

import json
from typing import Any

from meshshift.migration.spec import MigrationSpec

HEADER = """# Spec reference

<!-- Generated from the JSON Schema by `make docs` (migration/spec_reference.py). Do not edit. -->

The spec is the workflow's only input: YAML or JSON for `meshshift validate|plan|start`, a JSON
object for `temporal workflow start --input-file`, the Web UI's Start Workflow form, or tctl.
Unknown fields are errors. Durations are ISO 8601 (`PT10M`, `P1D`) or a number of seconds.
`meshshift schema` prints the JSON Schema itself.
"""


def _type_of(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return f"[{prop['$ref'].rsplit('/', 1)[-1]}](#{prop['$ref'].rsplit('/', 1)[-1].lower()})"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    for key in ("anyOf", "oneOf"):
        if key in prop:
            kinds = [_type_of(p) for p in prop[key]]
            if any("ISO 8601" in str(p.get("description", "")) for p in prop[key]):
                return "duration" + (" \\| null" if "null" in kinds else "")
            return " \\| ".join(dict.fromkeys(kinds))
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"map of name to {_type_of(prop['additionalProperties'])}"
    return str(kind)


def _constraints(prop: dict[str, Any]) -> str:
    parts = []
    for key, label in (
        ("minimum", ">="),
        ("exclusiveMinimum", ">"),
        ("maximum", "<="),
        ("exclusiveMaximum", "<"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("pattern", "pattern"),
    ):
        if key in prop:
            value = f"`{prop[key]}`" if key == "pattern" else prop[key]
            parts.append(f"{label} {value}")
    return ", ".join(parts)


def _default(prop: dict[str, Any], required: bool) -> str:
    if required:
        return "**required**"
    if "default" not in prop:
        return ""
    return f"`{json.dumps(prop['default'])}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [_cell(schema["description"]), ""]
    if "enum" in schema:
        return [*lines, "One of: " + ", ".join(f"`{v}`" for v in schema["enum"]), ""]
    lines += ["| field | type | default | constraints | description |", "|---|---|---|---|---|"]
    required = set(schema.get("required", []))
    for field, prop in schema.get("properties", {}).items():
        lines.append(
            f"| `{field}` | {_type_of(prop)} | {_default(prop, field in required)} | "
            f"{_cell(_constraints(prop))} | {_cell(prop.get('description', ''))} |"
        )
    return [*lines, ""]


def render() -> str:
    schema = MigrationSpec.model_json_schema()
    out = [HEADER, "## MigrationSpec (top level)", ""]
    out += _table("MigrationSpec", schema)[2:]
    out += ["## Sections", ""]
    for name, definition in sorted(schema.get("$defs", {}).items()):
        out += _table(name, definition)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
