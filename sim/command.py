"""`meshshift sim`: the simulated AWS (moto + meshshift's extensions) on 127.0.0.1, empty, until
Ctrl-C/SIGTERM. Anything that uses boto3's standard configuration can point at it with
``AWS_ENDPOINT_URL``. It is a test and demo double, not AWS.

It behaves like an account (sim/aws/settings.py, docs/simulation.md): ``--profile realistic`` (the
default) uses AWS's own timings, ``--profile instant`` makes every side effect land at once,
``--speed`` runs the timings faster, and every knob is a flag of its own.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated, Any

import typer

HOST = "127.0.0.1"


def _latency(text: str | None) -> tuple[float, float] | None:
    """``20:60`` (milliseconds) -> (0.020, 0.060); ``0`` -> no latency."""
    if text is None:
        return None
    low, _, high = text.partition(":")
    try:
        pair = (float(low) / 1000.0, float(high or low) / 1000.0)
    except ValueError:
        raise typer.BadParameter(f"expected MIN:MAX in milliseconds (e.g. 20:60), got {text!r}") from None
    if not 0 <= pair[0] <= pair[1]:
        raise typer.BadParameter(f"expected 0 <= MIN <= MAX, got {text!r}")
    return pair


def sim(
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="Port on 127.0.0.1 (0 = any free)")
    ] = 5000,
    log_requests: Annotated[bool, typer.Option("--log-requests", help="Log every request")] = False,
    profile: Annotated[
        str, typer.Option(help="realistic: AWS's own timings; instant: every side effect lands at once")
    ] = "realistic",
    speed: Annotated[
        float, typer.Option(min=0.001, max=100000.0, help="Run every duration this many times faster")
    ] = 1.0,
    latency_ms: Annotated[
        str | None, typer.Option(help="Per-call latency MIN:MAX in ms (realistic: 20:60)", show_default=False)
    ] = None,
    route53_insync: Annotated[
        float | None, typer.Option(min=0.0, help="Seconds a Route 53 change is PENDING (realistic: 45)")
    ] = None,
    cloudfront_deploy: Annotated[
        float | None, typer.Option(min=0.0, help="Seconds a CloudFront change is InProgress (realistic: 240)")
    ] = None,
    ecs_task_start: Annotated[
        float | None, typer.Option(min=0.0, help="Seconds from a task's creation to RUNNING (realistic: 40)")
    ] = None,
    ecs_task_stop: Annotated[
        float | None, typer.Option(min=0.0, help="Seconds from SIGTERM to STOPPED (realistic: 15)")
    ] = None,
    ecs_steady: Annotated[
        float | None,
        typer.Option(min=0.0, help="Seconds from a deployment's tasks all healthy to COMPLETED (realistic: 15)"),
    ] = None,
    health_check: Annotated[
        float | None,
        typer.Option(
            min=0.0, help="Seconds for a target to turn healthy/unhealthy (default: the group's threshold x interval)"
        ),
    ] = None,
    deregistration_delay: Annotated[
        float | None,
        typer.Option(min=0.0, help="Seconds a deregistered target drains (default: the group's own delay)"),
    ] = None,
    throttle: Annotated[
        bool, typer.Option("--throttle/--no-throttle", help="Answer each service's throttling error above its rate")
    ] = False,
) -> None:
    """Serve the simulated AWS (moto with meshshift's extensions) on 127.0.0.1 until Ctrl-C."""
    from meshshift.sim.aws import settings as sim_settings

    try:
        settings = sim_settings.profile(
            profile,
            speed=speed,
            latency=_latency(latency_ms),
            route53_insync=route53_insync,
            cloudfront_deploy=cloudfront_deploy,
            ecs_task_start=ecs_task_start,
            ecs_task_stop=ecs_task_stop,
            ecs_steady=ecs_steady,
            health_check=health_check,
            deregistration_delay=deregistration_delay,
            throttle=throttle or None,
        )
    except ValueError as exc:
        typer.echo(f"meshshift sim: error: {exc}", err=True)
        raise typer.Exit(code=2) from None
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
        server = serve(port, HOST, log_requests=log_requests, settings=settings)
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
        typer.echo(f"Behaves like an account: {describe(settings)}")
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


def describe(settings: Any) -> str:
    """One line: the profile, the speed and what each behaviour takes at that speed."""

    def took(seconds: float | None) -> str:
        return "the target group's own" if seconds is None else f"{settings.scaled(seconds):g}s"

    low, high = (settings.scaled(v) * 1000 for v in settings.latency)
    return (
        f"profile {settings.profile} at {settings.speed:g}x: calls {low:g}-{high:g} ms, "
        f"Route 53 INSYNC after {took(settings.route53_insync)}, CloudFront Deployed after "
        f"{took(settings.cloudfront_deploy)}, ECS tasks RUNNING after {took(settings.ecs_task_start)}, "
        f"targets healthy after {took(settings.health_check)}, draining for {took(settings.deregistration_delay)}, "
        f"throttling {'on' if settings.throttle else 'off'}"
    )


def register(app: typer.Typer) -> None:
    app.command(name="sim")(sim)
