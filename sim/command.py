"""`meshshift sim`: the simulated AWS (moto + meshshift's extensions) on 127.0.0.1, empty, until
Ctrl-C/SIGTERM. Anything that uses boto3's standard configuration can point at it with
``AWS_ENDPOINT_URL``. It is a test and demo double, not AWS.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

HOST = "127.0.0.1"


def sim(
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port on 127.0.0.1 (0 = any free)")
    ] = 5000,
    log_requests: Annotated[bool, typer.Option("--log-requests", help="Log every request")] = False,
) -> None:
    """Serve the simulated AWS (moto with meshshift's extensions) on 127.0.0.1 until Ctrl-C."""
    try:
        from meshshift.sim.aws import serve
    except ModuleNotFoundError as exc:
        typer.echo(
            f"meshshift sim: error: the simulation needs moto ({exc.name} is missing). "
            "Next: pip install 'meshshift[sim]'.",
            err=True,
        )
        raise typer.Exit(code=1) from None
    try:
        server = serve(port, HOST, log_requests=log_requests)
    except ModuleNotFoundError as exc:
        typer.echo(
            f"meshshift sim: error: the simulation needs moto ({exc.name} is missing). "
            "Next: pip install 'meshshift[sim]'.",
            err=True,
        )
        raise typer.Exit(code=1) from None
    except OSError as exc:
        typer.echo(
            f"meshshift sim: error: cannot listen on {HOST}:{port} ({exc}). "
            "Next: stop what is using that port, or pass another one with --port.",
            err=True,
        )
        raise typer.Exit(code=1) from None

    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        typer.echo(f"Simulated AWS (moto + meshshift extensions; NOT real AWS) on {server.endpoint}")
        typer.echo("Point boto3, the AWS CLI and meshshift at it with:")
        typer.echo(f"  export AWS_ENDPOINT_URL={server.endpoint}")
        typer.echo("  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1")
        typer.echo("Press Ctrl-C to stop; all state is in memory and is lost on exit.", err=True)
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
        typer.echo("simulated AWS stopped", err=True)


def register(app: typer.Typer) -> None:
    app.command(name="sim")(sim)
