"""`meshshift demo`: the whole product on one machine, against a simulated AWS.

Everything runs on 127.0.0.1 and in this process, except the Temporal dev server (a child process):

- the embedded Temporal server and its Web UI (its own data directory, fresh for every run unless
  ``--keep-data``);
- the simulated AWS (moto + meshshift's extensions), seeded with the blue shop on App Mesh
  (sim/demo_world.py). It runs on the ``realistic`` profile (``--sim-profile``) sped up
  ``--sim-speed`` times (10 by default): ECS starts and registers tasks, health checks and
  draining take their time, Route 53 changes are PENDING before INSYNC (docs/simulation.md);
- deep /health endpoints for green's services (sim/green_health.py);
- the meshshift worker, built by ``meshshift.workers.worker.build_worker`` exactly as ``meshshift worker``
  builds it, with boto3 pointed at the simulation through ``AWS_ENDPOINT_URL`` only;
- the traffic simulator (sim/traffic.py), which turns the weights set in the simulated ALB and
  Route 53 into CloudWatch metrics and alarm states, so drain and rollback are decided on data.

Approvals: every ramp step and the decommission of blue ask for an approval (``approval:
required``). Without ``--auto-approve`` a human gives them from another terminal (the commands are
printed); with it, the demo approves each gate itself as ``alice`` through the ``approve_update``
update, and prints that it did.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import signal
import urllib.request
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Annotated, Any, Self, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter

from meshshift.activities.aws import AwsClients
from meshshift.migration.constants import DEFAULT_TASK_QUEUE, QUERY_STATUS, UPDATE_APPROVE, WORKFLOW_TYPE, workflow_id
from meshshift.migration.loading import validate_spec
from meshshift.migration.state import (
    TERMINAL_PHASES,
    ApprovePayload,
    CommandResult,
    GateKind,
    MigrationReport,
    MigrationStatus,
    Phase,
)
from meshshift.sim import demo_world
from meshshift.sim.demo_world import DemoWorld, EdgeWeights
from meshshift.sim.green_health import GreenHealth
from meshshift.workers.embedded_server import (
    DEFAULT_PORT,
    DEFAULT_UI_PORT,
    LOCK_FILENAME,
    NAMESPACE,
    EmbeddedServer,
    ServerError,
    check_port_free,
    default_data_dir,
)
from meshshift.workers.worker import MeshshiftWorker, activity_thread_pool, build_worker

log = logging.getLogger("meshshift.demo")
T = TypeVar("T")

APPROVER = "alice"
MAX_CONCURRENT_ACTIVITIES = 10
TRAFFIC_TICK_SECONDS = 2.0
# The simulated AWS runs its realistic timings this many times faster: Route 53 INSYNC in 4.5 s,
# a Fargate task RUNNING in 4 s, the shop's target groups healthy in 3 s and drained in 6 s.
DEFAULT_SIM_SPEED = 10.0
SIMULATED_NOTICE = (
    "AWS here is SIMULATED (moto with meshshift's extensions, in this process). The activities are the same code "
    "that runs against real AWS: only AWS_ENDPOINT_URL differs."
)


def say(console: Console, text: str, style: str = "") -> None:
    """One line, never wrapped: URLs and commands must stay copy-pasteable."""
    console.print(Text(text, style=style), soft_wrap=True)


class DemoError(Exception):
    """A problem the user can fix (busy port, data directory in use...): shown as one line."""


@dataclass
class DemoOptions:
    port: int = DEFAULT_PORT
    ui_port: int | None = DEFAULT_UI_PORT  # None: no Web UI (tests)
    aws_port: int = 0  # 0: any free port
    data_dir: Path | None = None
    keep_data: bool = False
    auto_approve: bool = False
    fail_at: int | None = None
    speed: float = 1.0
    sim_profile: str = "realistic"
    sim_speed: float = DEFAULT_SIM_SPEED
    task_queue: str = DEFAULT_TASK_QUEUE
    poll_interval: float = 1.0
    traffic_tick: float | None = None  # default: TRAFFIC_TICK_SECONDS / speed, at least 0.5 s

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir or default_data_dir() / "demo"

    @property
    def tick_seconds(self) -> float:
        if self.traffic_tick is not None:
            return self.traffic_tick
        return max(0.5, TRAFFIC_TICK_SECONDS / self.speed)


@dataclass
class DemoResult:
    status: MigrationStatus
    report: MigrationReport | None
    started: datetime
    finished: datetime
    approvals: list[str] = field(default_factory=list)

    @property
    def phase(self) -> Phase:
        return self.status.phase


# --- data directory ------------------------------------------------------------------------------


def prepare_data_dir(path: Path, keep: bool) -> None:
    """A fresh Temporal store for each run (old demo runs would clutter the Web UI), unless ``keep``.

    The lock is the one the embedded server takes: a directory used by a running server is never
    wiped.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        if keep:
            return
        with (path / LOCK_FILENAME).open("wb") as lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise DemoError(
                    f"data directory {path} is in use by another meshshift server or demo; stop it or pass --data-dir."
                ) from None
            for leftover in path.glob("temporal.db*"):
                leftover.unlink()
    except OSError as exc:
        raise DemoError(
            f"cannot use data directory {path}: {exc.strerror or exc}; pass a writable --data-dir."
        ) from None


# --- the running stack ---------------------------------------------------------------------------


class DemoStack:
    """Everything the demo runs, started in ``__aenter__`` and stopped in ``__aexit__`` (also on
    Ctrl-C, which arrives as a cancellation)."""

    def __init__(self, options: DemoOptions, console: Console) -> None:
        self.options = options
        self.console = console
        self.sim: Any = None
        self.world: DemoWorld | None = None
        self.health: GreenHealth | None = None
        self.server: EmbeddedServer | None = None
        self.client: Client | None = None
        self.traffic: Any = None
        self._env: contextlib.ExitStack = contextlib.ExitStack()
        self._server_start: asyncio.Future[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._worker: MeshshiftWorker | None = None
        self._worker_task: asyncio.Task[None] | None = None
        self._traffic_stop = asyncio.Event()
        self._traffic_task: asyncio.Task[None] | None = None

    # -- start --

    async def __aenter__(self) -> Self:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    @property
    def sim_settings(self) -> Any:
        from meshshift.sim.aws.settings import profile

        return profile(self.options.sim_profile, speed=self.options.sim_speed)

    def _say(self, message: str) -> None:
        self.console.print(Text(message, style="dim"))

    async def _start(self) -> None:
        opts = self.options
        loop = asyncio.get_running_loop()
        # A busy port is reported before anything starts, naming the flag that changes it.
        try:
            check_port_free(opts.port, flag="--port")
            if opts.ui_port is not None:
                check_port_free(opts.ui_port, flag="--ui-port")
            if opts.aws_port:
                check_port_free(opts.aws_port, flag="--aws-port")
        except ServerError as exc:
            raise DemoError(
                str(exc).replace("(another Temporal server?)", "(another meshshift demo or server?)")
            ) from None
        # The Temporal server is the slowest to start: it starts while the world is seeded.
        prepare_data_dir(opts.resolved_data_dir, opts.keep_data)
        server = EmbeddedServer(port=opts.port, ui_port=opts.ui_port, data_dir=opts.resolved_data_dir)
        self.server = server
        self._server_start = loop.run_in_executor(None, server.start, self._say)

        self.sim = await asyncio.to_thread(_start_simulation, opts.aws_port, self.sim_settings)
        self._env.enter_context(demo_world.aws_environment(self.sim.endpoint))
        self._say(f"simulated AWS on {self.sim.endpoint}; seeding the blue shop")
        self.world = await asyncio.to_thread(demo_world.seed_shop)
        # Blue has been running for months in a real account: its tasks are up before we migrate.
        await asyncio.to_thread(demo_world.wait_until_running)
        self.health = GreenHealth(demo_world.HEALTH_DEPENDENCIES).start()

        try:
            await self._server_start
        except ServerError as exc:
            raise DemoError(str(exc)) from None
        self.client = await Client.connect(server.address, namespace=NAMESPACE, data_converter=pydantic_data_converter)
        self._executor = activity_thread_pool(MAX_CONCURRENT_ACTIVITIES, "demo-activity")
        self._worker = build_worker(
            self.client,
            opts.task_queue,
            AwsClients(),
            MAX_CONCURRENT_ACTIVITIES,
            activity_executor=self._executor,
        )
        self._worker_task = asyncio.create_task(self._worker.run(), name="meshshift-worker")

        from meshshift.sim.traffic import TrafficProfile, TrafficSimulator

        self.traffic = TrafficSimulator(
            self.world,
            TrafficProfile(fail_at=opts.fail_at),
            tick_seconds=opts.tick_seconds,
            alarm_names=[demo_world.ALARM_5XX, demo_world.ALARM_P99],
        )
        self._traffic_task = asyncio.create_task(self.traffic.run(self._traffic_stop), name="demo-traffic")

    # -- stop --

    async def _stop(self) -> None:
        """Stop in reverse order; every step runs even if an earlier one fails."""
        self._traffic_stop.set()
        if self._traffic_task is not None:
            with contextlib.suppress(BaseException):
                await self._traffic_task
        if self._worker is not None and self._worker_task is not None:
            with contextlib.suppress(BaseException):
                if not self._worker_task.done():
                    await self._worker.shutdown()
                await self._worker_task
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._server_start is not None:
            # A Ctrl-C during startup: let the start finish, so the process can be stopped.
            with contextlib.suppress(BaseException):
                await asyncio.shield(self._server_start)
        if self.server is not None:
            await asyncio.to_thread(self.server.stop)
        if self.health is not None:
            self.health.stop()
        self._env.close()
        if self.sim is not None:
            self.sim.stop()

    # -- what the user needs to know --

    @property
    def workflow_id(self) -> str:
        return workflow_id(demo_world.APP)

    def address_flag(self) -> str:
        assert self.server is not None
        return "" if self.server.port == DEFAULT_PORT else f" --address {self.server.address}"

    def ui_link(self) -> str | None:
        if self.server is None or self.server.ui_url is None:
            return None
        return f"{self.server.ui_url}/namespaces/{NAMESPACE}/workflows/{self.workflow_id}"

    def approve_commands(self, step: int | str = "N") -> list[str]:
        payload = json.dumps({"approver": APPROVER, "step": step}, separators=(",", ":"))
        if isinstance(step, str):
            payload = payload.replace(f'"{step}"', step)
        return [
            f"meshshift approve {demo_world.APP} --as {APPROVER}{self.address_flag()}",
            f"temporal workflow signal --workflow-id {self.workflow_id} --name approve --input '{payload}'"
            f"{self.address_flag()}",
        ]

    def banner(self) -> None:
        assert self.server is not None and self.world is not None and self.health is not None and self.sim
        c = self.console
        c.print()
        c.rule("[bold]meshshift demo[/]: App Mesh -> ECS Service Connect, blue/green at the edge")
        say(c, SIMULATED_NOTICE, "bold yellow")
        say(c, f"Simulated AWS:   {self.sim.endpoint}")
        say(
            c,
            f"  behaves like:  an account on the {self.options.sim_profile} profile, {self.options.sim_speed:g}x "
            "faster (ECS runs and registers tasks; health checks, draining, Route 53 INSYNC take time)",
        )
        say(c, f"  explore it:    AWS_ENDPOINT_URL={self.sim.endpoint} aws ecs list-services --cluster shop")
        say(c, f"Temporal server: {self.server.address} (namespace {NAMESPACE}, data {self.server.data_dir})")
        link = self.ui_link()
        if link:
            say(c, f"Web UI:          {link}")
        say(c, "Seeded blue shop:")
        for line in self.world.created:
            say(c, f"  - {line}")
        say(c, "Green deep health endpoints:")
        for url in self.health.urls:
            say(c, f"  - {url}")
        options = self.options
        if options.fail_at is not None:
            say(
                c,
                f"--fail-at {options.fail_at}: green starts failing once it gets {options.fail_at}% of the traffic.",
                "yellow",
            )
        if options.auto_approve:
            say(c, f"--auto-approve: the demo approves every gate itself as {APPROVER}.")
        else:
            say(c, "Every ramp step and the decommission wait for an approval. From another terminal:")
            for command in self.approve_commands():
                say(c, f"  {command}", "bold")
            say(
                c,
                "  (N is the green percent of the open gate; without --step, meshshift approve takes the open gate)",
            )

    # -- the migration --

    async def start_migration(self) -> WorkflowHandle[Any, Any]:
        assert self.client is not None and self.world is not None and self.health is not None
        spec = demo_world.demo_spec(
            self.world, health_urls=self.health.urls, speed=self.options.speed, auto_approve=self.options.auto_approve
        )
        validate_spec(spec)  # a demo bug must show as a spec error here, not as a failed workflow
        extra: dict[str, Any] = {}
        if self.options.keep_data:
            # An earlier run's migration refers to a simulated AWS that no longer exists.
            extra["id_conflict_policy"] = WorkflowIDConflictPolicy.TERMINATE_EXISTING
        return await self.client.start_workflow(
            WORKFLOW_TYPE, spec, id=self.workflow_id, task_queue=self.options.task_queue, **extra
        )

    async def run_migration(self) -> DemoResult:
        """Start the migration, show it live, answer gates (``--auto-approve``), return the outcome."""
        from meshshift.workers.progress import follow

        started = datetime.now(UTC)
        handle = await self.start_migration()
        approvals: list[str] = []
        gates = asyncio.create_task(self._gates(handle, approvals), name="demo-gates")
        try:
            status = await follow(handle, self.console, poll_interval=self.options.poll_interval)
        finally:
            # It ends by itself once it sees the terminal phase; cancelling it mid-query would leave
            # the server a query task that nobody waits for.
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(gates, timeout=5.0)
        report: MigrationReport | None = None
        if status.phase in (Phase.COMPLETED, Phase.ROLLED_BACK):
            with contextlib.suppress(WorkflowFailureError):
                report = MigrationReport.model_validate(await handle.result())
        return DemoResult(
            status=status, report=report, started=started, finished=datetime.now(UTC), approvals=approvals
        )

    async def _gates(self, handle: WorkflowHandle[Any, Any], approvals: list[str]) -> None:
        """Answer (``--auto-approve``) or announce each gate once, as it opens."""
        seen: set[tuple[str, int, datetime]] = set()
        while True:
            await asyncio.sleep(min(self.options.poll_interval, 0.5))
            try:
                status = MigrationStatus.model_validate(await handle.query(QUERY_STATUS, result_type=MigrationStatus))
            except Exception as exc:  # the live view reports query problems; try again
                log.debug("status query for the gates failed: %s", exc)
                continue
            if status.phase in TERMINAL_PHASES:
                return
            gate = status.awaiting_approval
            if gate is None or status.paused:
                continue
            key = (gate.gate.value, gate.step, gate.since)
            if key in seen:
                continue
            seen.add(key)
            what = "decommission of blue" if gate.gate is GateKind.DECOMMISSION else f"step {gate.step}%"
            if not self.options.auto_approve:
                self.console.print(Text(f"waiting for approval of {what}; from another terminal:", style="bold yellow"))
                for command in self.approve_commands(gate.step):
                    self.console.print(Text(f"  {command}", style="yellow"))
                continue
            result = await handle.execute_update(
                UPDATE_APPROVE,
                ApprovePayload(approver=APPROVER, step=gate.step, comment="--auto-approve"),
                result_type=CommandResult,
            )
            line = f"{APPROVER} approves {what} (--auto-approve, via the approve_update update): {result.reason}"
            approvals.append(line)
            say(self.console, line, "green" if result.accepted else "red")


def _start_simulation(port: int, settings: Any = None) -> Any:
    try:
        from meshshift.sim.aws import serve
    except ModuleNotFoundError as exc:  # pragma: no cover - the [sim] extra is missing
        raise DemoError(
            f"the simulated AWS needs moto ({exc.name} is missing); pip install 'meshshift[sim]'."
        ) from None
    try:
        server = serve(port, settings=settings)
    except OSError as exc:
        raise DemoError(
            f"cannot listen on 127.0.0.1:{port} for the simulated AWS ({exc}); stop what uses it or pass --aws-port."
        ) from None
    # moto keeps its state per process: start from an empty account every run.
    request = urllib.request.Request(f"{server.endpoint}/moto-api/reset", method="POST", data=b"")  # noqa: S310 - our own loopback server
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        response.read()
    return server


# --- the summary ---------------------------------------------------------------------------------


def _duration(delta: timedelta) -> str:
    seconds = max(0.0, delta.total_seconds())
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)}m{secs:04.1f}s" if minutes else f"{secs:.1f}s"


def print_summary(stack: DemoStack, result: DemoResult) -> None:
    c = stack.console
    status, report = result.status, result.report
    assert stack.world is not None
    c.print()
    c.rule("[bold]summary[/]")
    style = {"completed": "bold green", "rolled_back": "bold yellow"}.get(status.phase.value, "bold red")
    say(c, f"outcome: {status.phase.value} in {_duration(result.finished - result.started)}", style)
    rollback = (report.rollback if report else None) or status.rollback.record
    if rollback is not None:
        took = f" in {rollback.duration_seconds:.1f}s" if rollback.duration_seconds is not None else ""
        say(c, f"rollback ({rollback.trigger.value}) by {rollback.actor}: {rollback.reason}", "yellow")
        say(c, f"reversed{took}: {', '.join(rollback.reversed) or 'nothing'}", "yellow")
    if status.error:
        say(c, f"error: {status.error}", "red")

    phases = Table("phase", "started (UTC)", "duration", title="phases", title_justify="left")
    for timing in status.timings:
        end = timing.ended or result.finished
        phases.add_row(timing.phase.value, f"{timing.started:%H:%M:%S}", _duration(end - timing.started))
    c.print(phases)

    if stack.traffic is not None and stack.traffic.samples:
        weights = Table(
            "time",
            "ALB blue/green",
            "Route 53 blue/green",
            "green share of requests",
            title="weights over time (as read back from the simulated ALB and Route 53 by the traffic simulator)",
            title_justify="left",
        )
        for sample in stack.traffic.weight_changes():
            w: EdgeWeights = sample.weights
            weights.add_row(
                f"+{_duration(sample.time - result.started)}",
                f"{w.alb_blue}/{w.alb_green}",
                f"{w.route53_blue}/{w.route53_green}",
                f"{sample.green_percent:.1f}%"
                + (" (green failing)" if sample.failing and sample.green_requests else ""),
            )
        c.print(weights)
        fired: set[str] = set()
        for change in stack.traffic.alarm_changes:
            # The first OK of each alarm is only the end of INSUFFICIENT_DATA; later changes are news.
            if change.state == "ALARM" or change.alarm in fired:
                fired.add(change.alarm)
                say(c, f"alarm {change.alarm} -> {change.state} at {change.time:%H:%M:%S}: {change.reason}")

    c.print("[bold]created[/] (seeded as blue, before the migration):")
    for line in stack.world.created:
        say(c, f"  - {line}")
    if report is not None and report.provisioned:
        c.print("[bold]created by the migration[/] (green, Service Connect):")
        for service in report.provisioned:
            how = "created" if service.created else ("adopted" if service.adopted else "already there")
            say(
                c,
                f"  - {service.service_name} ({how}), task definition {service.task_definition_arn.rsplit('/', 1)[-1]}",
            )
    if report is not None and report.decommissioned:
        c.print("[bold]deleted at decommission[/] (blue):")
        for deletion in report.decommissioned:
            for item in deletion.deleted:
                say(c, f"  - {item}")
            if deletion.skipped:
                c.print("  - (App Mesh skipped: its API did not answer)")

    final = demo_world.read_edge_weights(stack.world)
    services = demo_world.active_services(stack.world)
    say(
        c,
        f"simulated AWS now: ALB {final.alb_blue}/{final.alb_green} (blue/green), Route 53 "
        f"{final.route53_blue}/{final.route53_green}, ECS services: "
        + ", ".join(f"{name}={count}" for name, count in services.items())
        + f", mesh {demo_world.MESH}: {'present' if demo_world.mesh_exists(stack.world) else 'deleted'}",
    )
    if result.approvals:
        say(c, f"approvals given by the demo: {len(result.approvals)}")
    c.print("[bold]audit trail[/]:")
    say(c, f"  meshshift history {demo_world.APP}{stack.address_flag()}")
    say(c, f"  temporal workflow show --workflow-id {stack.workflow_id}{stack.address_flag()}")
    link = stack.ui_link()
    if link:
        say(c, f"  Web UI: {link}")
    say(c, SIMULATED_NOTICE, "yellow")


# --- the command ---------------------------------------------------------------------------------


async def run_demo(
    options: DemoOptions, console: Console, *, once: bool = False, keep: bool = False
) -> DemoResult | None:
    async with DemoStack(options, console) as stack:
        stack.banner()
        if once:
            return None
        result = await stack.run_migration()
        print_summary(stack, result)
        if keep:
            console.print(
                Text("--keep: everything keeps running for exploring the Web UI; press Ctrl-C to stop.", style="bold")
            )
            await asyncio.Event().wait()
        return result


class StopRequested(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


async def _until_stopped(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work``; Ctrl-C or SIGTERM cancels it, so every ``finally`` and ``__aexit__`` stops what
    was started (the Temporal server is a child in its own session: nobody else would stop it).

    The handlers are installed explicitly, so this also holds when SIGINT arrives in a process that
    inherited it as ignored (a background job) and for a service manager's SIGTERM.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    received: list[int] = []

    def stop(signum: int) -> None:
        if not received:  # a second signal while stopping changes nothing: stopping is bounded
            received.append(signum)
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        return await work
    except asyncio.CancelledError:
        if received:
            raise StopRequested(received[0]) from None
        raise
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def register(app: typer.Typer) -> None:
    @app.command(name="demo")
    def demo_command(
        auto_approve: Annotated[
            bool, typer.Option("--auto-approve", help="Approve every gate automatically (as alice), unattended.")
        ] = False,
        fail_at: Annotated[
            int | None,
            typer.Option(
                min=1, max=100, help="Green starts failing at this percent: the alarm fires and it rolls back."
            ),
        ] = None,
        keep: Annotated[bool, typer.Option("--keep", help="Leave everything running afterwards until Ctrl-C.")] = False,
        speed: Annotated[
            float, typer.Option(min=0.1, max=1000.0, help="Divide bakes, soak and poll intervals by this factor.")
        ] = 1.0,
        sim_profile: Annotated[
            str,
            typer.Option(
                help="The simulated AWS's timings: realistic (AWS's own figures) or instant (side effects at once)."
            ),
        ] = "realistic",
        sim_speed: Annotated[
            float,
            typer.Option(min=0.1, max=100000.0, help="Run the simulated AWS's timings this many times faster."),
        ] = DEFAULT_SIM_SPEED,
        port: Annotated[int, typer.Option(min=1, max=65535, help="Temporal gRPC port on 127.0.0.1.")] = DEFAULT_PORT,
        ui_port: Annotated[int, typer.Option(min=1, max=65535, help="Web UI port on 127.0.0.1.")] = DEFAULT_UI_PORT,
        aws_port: Annotated[
            int, typer.Option(min=0, max=65535, help="Simulated AWS port on 127.0.0.1 (0 = any free port).")
        ] = 0,
        data_dir: Annotated[
            Path | None,
            typer.Option(
                help="Directory for the demo's Temporal state (default: the meshshift data directory + /demo)."
            ),
        ] = None,
        keep_data: Annotated[
            bool,
            typer.Option("--keep-data", help="Keep earlier demo runs in the Temporal store instead of starting fresh."),
        ] = False,
        once: Annotated[
            bool, typer.Option("--once", hidden=True, help="Start everything, report and stop (tests).")
        ] = False,
    ) -> None:
        """The whole product against a simulated AWS: Temporal + Web UI, the seeded shop, the worker, live traffic."""
        from meshshift.sim.aws.settings import PROFILES

        if sim_profile not in PROFILES:
            typer.echo(
                f"meshshift demo: error: --sim-profile must be one of {', '.join(PROFILES)}, got {sim_profile!r}.",
                err=True,
            )
            raise typer.Exit(code=2)
        options = DemoOptions(
            port=port,
            ui_port=ui_port,
            aws_port=aws_port,
            data_dir=data_dir,
            keep_data=keep_data,
            auto_approve=auto_approve,
            fail_at=fail_at,
            speed=speed,
            sim_profile=sim_profile,
            sim_speed=sim_speed,
        )
        console = Console()
        try:
            result = asyncio.run(_until_stopped(run_demo(options, console, once=once, keep=keep)))
        except DemoError as exc:
            typer.echo(f"meshshift demo: error: {exc}", err=True)
            raise typer.Exit(code=1) from None
        except StopRequested as stop:
            typer.echo("stopped; everything the demo started has been stopped.", err=True)
            raise typer.Exit(code=128 + stop.signum) from None
        if result is not None and result.phase is Phase.FAILED:
            raise typer.Exit(code=1)
