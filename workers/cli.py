"""The ``meshshift`` console script. Each area registers its commands from its own module."""

from __future__ import annotations

import typer

from workers import alarm_bridge, client_commands, demo, server, sim, spec_commands, worker

app = typer.Typer(
    name="meshshift",
    help="Durable blue/green cutover between service meshes on AWS (App Mesh -> ECS Service Connect).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for area in (server, worker, sim, spec_commands, client_commands, alarm_bridge, demo):
    area.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
