"""`meshshift server`: the embedded Temporal dev server and Web UI, on loopback, until Ctrl-C/SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from meshshift.workers.embedded_server import DEFAULT_PORT, DEFAULT_UI_PORT, NAMESPACE, EmbeddedServer, ServerError


class StopRequested(BaseException):
    """Raised from the SIGINT/SIGTERM handler so that a signal during startup also stops the child cleanly."""


def _request_stop(signum: int, _frame: FrameType | None) -> None:
    # Further signals are ignored while we stop: stop() is bounded (SIGKILL after a grace period).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise StopRequested(signum)


def _progress(message: str) -> None:
    typer.echo(message, err=True)


def error_exit(command: str, message: str) -> typer.Exit:
    typer.echo(f"meshshift {command}: error: {message}", err=True)
    return typer.Exit(code=1)


def describe(server: EmbeddedServer) -> None:
    typer.echo(f"Temporal server: {server.address} (namespace {NAMESPACE})")
    if server.ui_url is not None:
        typer.echo(f"Web UI:          {server.ui_url}")
    typer.echo(f"Data:            {server.db_path}")


def run_until_stopped(server: EmbeddedServer, command: str, on_ready: Callable[[], None] | None = None) -> None:
    """Start the server, call `on_ready`, and serve until Ctrl-C/SIGTERM. A problem exits non-zero with a
    one-line message; the server process is stopped on every path."""
    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    failure: str | None = None
    try:
        server.start(progress=_progress)
        if on_ready is not None:
            on_ready()
        code = server.wait()
        failure = f"the Temporal dev server exited unexpectedly (code {code}): {server.log_tail() or 'no output'}"
    except StopRequested:
        _progress("stopping the Temporal dev server...")
    except ServerError as exc:
        failure = str(exc)
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failure is not None:
        raise error_exit(command, failure)
    _progress("stopped.")


def register(app: typer.Typer) -> None:
    @app.command(name="server")
    def server_command(
        port: Annotated[int, typer.Option(min=1, max=65535, help="gRPC port on 127.0.0.1.")] = DEFAULT_PORT,
        ui_port: Annotated[int, typer.Option(min=1, max=65535, help="Web UI port on 127.0.0.1.")] = DEFAULT_UI_PORT,
        data_dir: Annotated[
            Path | None,
            typer.Option(
                help="Directory for the SQLite state (default: $XDG_DATA_HOME/meshshift or ~/.local/share/meshshift)."
            ),
        ] = None,
    ) -> None:
        """Run the embedded Temporal dev server and Web UI on loopback; state survives restarts."""
        server = EmbeddedServer(port=port, ui_port=ui_port, data_dir=data_dir)

        def ready() -> None:
            describe(server)
            typer.echo("Press Ctrl-C to stop.")

        run_until_stopped(server, "server", ready)
