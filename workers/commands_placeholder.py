"""A command whose implementation has not landed yet says so plainly and exits non-zero."""

from __future__ import annotations

import typer


def placeholder(app: typer.Typer, name: str, help_text: str) -> None:
    def command(ctx: typer.Context) -> None:
        typer.echo(f"meshshift {name}: not built yet in this version.", err=True)
        raise typer.Exit(code=2)

    app.command(
        name=name,
        help=f"{help_text} (not built yet)",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(command)
