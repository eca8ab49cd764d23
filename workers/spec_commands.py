"""Commands of this area (placeholders until the area lands)."""

from __future__ import annotations

import typer

from workers.commands_placeholder import placeholder


def register(app: typer.Typer) -> None:
    placeholder(app, "validate", "Validate a migration spec (YAML or JSON) and list every error.")
    placeholder(app, "schema", "Print the spec's JSON Schema.")
