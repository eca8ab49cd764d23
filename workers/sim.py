"""Commands of this area (placeholders until the area lands)."""

from __future__ import annotations

import typer

from workers.commands_placeholder import placeholder


def register(app: typer.Typer) -> None:
    placeholder(app, "sim", "Serve the simulated AWS (moto with meshshift's extensions) on 127.0.0.1.")
