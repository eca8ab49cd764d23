"""Commands of this area (placeholders until the area lands)."""

from __future__ import annotations

import typer

from workers.commands_placeholder import placeholder


def register(app: typer.Typer) -> None:
    placeholder(app, "worker", "Run the meshshift worker (workflows and activities).")
