"""The ``meshshift`` console script. Each area registers its commands from its own module."""

from __future__ import annotations

import logging
import os
import sys

import typer

# The CLI is the composition root: its `sim` and `demo` commands are the one way from an entry point into
# the simulation (meshshift.sim), which nothing else in production imports.
from meshshift.sim import command as sim
from meshshift.sim import demo
from meshshift.workers import alarm_bridge, client_commands, iam_commands, server, spec_commands, worker

app = typer.Typer(
    name="meshshift",
    help="Durable blue/green cutover between service meshes on AWS (App Mesh -> ECS Service Connect).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for area in (server, worker, sim, spec_commands, iam_commands, client_commands, alarm_bridge, demo):
    area.register(app)


def main() -> None:
    # Line by line, whatever the output is (terminal, pipe or file): a long-running command such as
    # `meshshift server > log` must show its "ready" lines while it runs, not when it exits.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    code: int | str | None = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    # Exit without interpreter finalization: the Temporal core runtime's native threads can still
    # call into Python while it finalizes (seen after a refused connection: "PyGILState_Release ...
    # Aborted"), which would turn a clean error exit into a crash. Everything is flushed first.
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    main()
