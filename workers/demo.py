"""`meshshift demo` (interim): starts the embedded Temporal server and says plainly what is not built yet.

The full demo (simulated AWS, worker and a migration driven end to end) replaces this module when it lands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from workers.embedded_server import DEFAULT_PORT, DEFAULT_UI_PORT, EmbeddedServer, ServerError, default_data_dir
from workers.server import describe, error_exit, run_until_stopped

NOT_BUILT = (
    "The full demo (simulated AWS, worker and a migration driven end to end) is not built yet in this version. "
    "Only the embedded Temporal server and its Web UI are running."
)


def register(app: typer.Typer) -> None:
    @app.command(name="demo")
    def demo_command(
        port: Annotated[int, typer.Option(min=1, max=65535, help="Temporal gRPC port on 127.0.0.1.")] = DEFAULT_PORT,
        ui_port: Annotated[int, typer.Option(min=1, max=65535, help="Web UI port on 127.0.0.1.")] = DEFAULT_UI_PORT,
        data_dir: Annotated[
            Path | None,
            typer.Option(help="Directory for the demo's Temporal state (default: the server data directory + /demo)."),
        ] = None,
        once: Annotated[bool, typer.Option("--once", hidden=True, help="Start, report and stop (for tests).")] = False,
    ) -> None:
        """Run the whole product against a simulated AWS (for now: the embedded Temporal server only)."""
        server = EmbeddedServer(port=port, ui_port=ui_port, data_dir=data_dir or default_data_dir() / "demo")

        def ready() -> None:
            describe(server)
            typer.echo(NOT_BUILT)

        if once:
            try:
                with server:
                    ready()
            except ServerError as exc:
                raise error_exit("demo", str(exc)) from None
            return

        def ready_and_wait() -> None:
            ready()
            typer.echo("Press Ctrl-C to stop.")

        run_until_stopped(server, "demo", ready_and_wait)
