"""`meshshift worker`: runs the MeshMigration workflow and every activity on its task queue, and a
rollback's activities on the compensation queue beside it (``<task queue>-compensation``).

Settings come from flags, else from the standard Temporal environment variables
(``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``) and
``MESHSHIFT_*``; AWS comes only from boto3's standard configuration. Secrets are never logged.

Observability (workers/telemetry.py): Prometheus SDK metrics with ``--metrics-port``, OpenTelemetry
traces over OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (or ``--trace-console``), JSON logs with
``--log-format json``; known secrets are masked in every log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import Field, model_validator
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.client import Interceptor as ClientInterceptor
from temporalio.common import WorkerDeploymentVersion
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.service import RPCError
from temporalio.worker import Worker, WorkerDeploymentConfig, WorkflowRunner

from meshshift.activities.async_workers import AsyncWorkerActivities
from meshshift.activities.aws import AwsClients
from meshshift.activities.decommission import DecommissionActivities
from meshshift.activities.discovery import DiscoveryActivities
from meshshift.activities.edge.activities import EdgeActivities
from meshshift.activities.health import HealthActivities
from meshshift.activities.metrics import MetricsActivities
from meshshift.activities.notifications import NotificationActivities
from meshshift.activities.provisioning import ProvisioningActivities
from meshshift.activities.temporal_meta import TemporalMetaActivities
from meshshift.migration.constants import compensation_task_queue
from meshshift.workers.connection import TemporalSettings, TemporalUnreachable, connect
from meshshift.workers.keepalive import KeepaliveInterceptor
from meshshift.workers.telemetry import (
    LogFormat,
    Observability,
    TelemetrySettings,
    configure_logging,
    secrets_from_environment,
    setup_observability,
)
from meshshift.workflows.migration import VERSIONING_BEHAVIOR, MeshMigration
from meshshift.workflows.sandbox import workflow_runner as default_workflow_runner
from meshshift.workflows.state_part import MeshMigrationStatePart

__all__ = [
    "MeshshiftWorker",
    "WorkerRole",
    "WorkerSettings",
    "activity_thread_pool",
    "build_worker",
    "connect",
    "paired_worker",
    "run_worker",
]

log = logging.getLogger("meshshift.worker")

DEFAULT_MAX_CONCURRENT_ACTIVITIES = 50
# Activity slots of the compensation queue, apart from the main queue's: a rollback runs one
# activity at a time, so this many migrations roll back at once before one waits for a slot.
DEFAULT_MAX_CONCURRENT_COMPENSATIONS = 10
# Local activities (a rollback's first write, the search-attribute check) run on the activities'
# thread pool: these threads are theirs, so that a worker whose activity slots are all held by ramp
# work (blocked on a busy rate limit) still starts a rollback's write at once.
MAX_CONCURRENT_LOCAL_ACTIVITIES = 10
# In-flight activities get this long to finish on shutdown before they are cancelled; Temporal
# retries whatever did not finish on another worker, so nothing is lost either way.
GRACEFUL_SHUTDOWN = timedelta(seconds=30)


class WorkerRole(StrEnum):
    """Which of the two task queues a worker process serves.

    ``all`` (the default) is safe on its own; a rollback's calls then share the process (its CPU,
    its interpreter lock, its AWS connections and rate limits) with every ramp in flight. Split,
    the ``compensation`` processes do nothing but roll back, on hosts that ramping migrations
    cannot load, and the ``migrations`` processes serve everything else; a ``migrations`` process
    checks that someone serves the compensation queue, and logs an error while nobody does (a
    rollback would wait there for that worker).
    """

    ALL = "all"
    MIGRATIONS = "migrations"
    COMPENSATION = "compensation"


class WorkerSettings(TemporalSettings):
    """The worker's connection (TemporalSettings: TEMPORAL_*, MESHSHIFT_TASK_QUEUE) and capacity."""

    max_concurrent_activities: int = Field(
        default=DEFAULT_MAX_CONCURRENT_ACTIVITIES,
        ge=1,
        validation_alias="MESHSHIFT_MAX_CONCURRENT_ACTIVITIES",
    )
    max_concurrent_compensations: int = Field(
        default=DEFAULT_MAX_CONCURRENT_COMPENSATIONS,
        ge=1,
        validation_alias="MESHSHIFT_MAX_CONCURRENT_COMPENSATIONS",
    )
    serve: WorkerRole = Field(default=WorkerRole.ALL, validation_alias="MESHSHIFT_WORKER_SERVE")
    # Worker Versioning: both set, the worker polls as this version of this Worker Deployment and
    # Temporal routes tasks by the deployment's current version (docs/operations.md, upgrades).
    deployment_name: str | None = Field(default=None, min_length=1, validation_alias="MESHSHIFT_DEPLOYMENT_NAME")
    build_id: str | None = Field(default=None, min_length=1, validation_alias="MESHSHIFT_BUILD_ID")

    @model_validator(mode="after")
    def _versioning_needs_both(self) -> WorkerSettings:
        if (self.deployment_name is None) != (self.build_id is None):
            missing = (
                "--build-id / MESHSHIFT_BUILD_ID"
                if self.build_id is None
                else ("--deployment-name / MESHSHIFT_DEPLOYMENT_NAME")
            )
            raise ValueError(
                f"Worker Versioning needs a deployment name and a build id; {missing} is not set "
                "(set both to run versioned, or neither to run unversioned)"
            )
        return self

    def deployment(self) -> WorkerDeploymentConfig | None:
        """The versioning config, or None to run unversioned (as before Worker Versioning)."""
        if self.deployment_name is None or self.build_id is None:
            return None
        return WorkerDeploymentConfig(
            version=WorkerDeploymentVersion(deployment_name=self.deployment_name, build_id=self.build_id),
            use_worker_versioning=True,
            default_versioning_behavior=VERSIONING_BEHAVIOR,
        )

    def describe(self) -> str:
        """One line for the log: where and how, never the secrets themselves."""
        version = (
            f", version {self.deployment_name}.{self.build_id}" if self.deployment_name is not None else ", unversioned"
        )
        main = f"task queue {self.task_queue} (max {self.max_concurrent_activities} concurrent activities)"
        compensation = (
            f"task queue {compensation_task_queue(self.task_queue)} "
            f"(max {self.max_concurrent_compensations} concurrent compensations)"
        )
        served = {
            WorkerRole.ALL: f"{main} and {compensation}",
            WorkerRole.MIGRATIONS: f"{main} only",
            WorkerRole.COMPENSATION: f"{compensation} only",
        }[self.serve]
        return f"{super().describe()}, {served}{version}"


# Every workflow a worker that serves migrations runs: the holders of a large continue-as-new
# state's parts are started by MeshMigration on its own task queue.
WORKFLOWS: list[type] = [MeshMigration, MeshMigrationStatePart]


def activity_objects(client: Client, aws: AwsClients) -> list[Any]:
    """Every activity class, each built once with the worker's shared clients."""
    return [
        DiscoveryActivities(aws),
        ProvisioningActivities(aws),
        HealthActivities(aws),
        EdgeActivities(aws),
        MetricsActivities(aws),
        AsyncWorkerActivities(aws),
        DecommissionActivities(aws),
        NotificationActivities(aws),
        TemporalMetaActivities(client),
    ]


def activity_methods(objects: Sequence[Any]) -> list[Any]:
    """The bound methods decorated with ``@activity.defn`` on each object."""
    found: list[Any] = []
    for obj in objects:
        for name in dir(type(obj)):
            attr = getattr(type(obj), name)
            if callable(attr) and hasattr(attr, "__temporal_activity_definition"):
                found.append(getattr(obj, name))
    return found


def chaos_hooks(environ: Mapping[str, str]) -> list[tuple[str, Callable[..., Any]]]:
    """Chaos-testing switch, off by default: MESHSHIFT_FAULTS injects AWS throttling, 5xx and delays
    (sim/faults.py, docs/reliability.md). Unset, nothing of the simulation is even imported: the fault
    injector is a test double, loaded by name so that production code has no import of it."""
    if not environ.get("MESHSHIFT_FAULTS", "").strip():
        return []
    faults = importlib.import_module("meshshift.sim.faults")
    hooks: list[tuple[str, Callable[..., Any]]] = faults.worker_hooks(environ)
    return hooks


# Worker options that the compensation queue's worker shares with the main one; the rest (the
# workflows, their runner, the main queue's slots and executor) are the main queue's alone.
_SHARED_OPTIONS = frozenset(
    {
        "interceptors",
        "deployment_config",
        "graceful_shutdown_timeout",
        "max_heartbeat_throttle_interval",
        "default_heartbeat_throttle_interval",
    }
)


class MeshshiftWorker:
    """The Temporal workers of one meshshift worker process, run and stopped together.

    - the main queue's: the workflow and every activity;
    - the compensation queue's: the same activities, for a rollback's calls only, with slots and
      threads of its own. Ramp activities that wait for AWS tokens can hold every slot of the main
      queue, and Temporal task priority orders only tasks still queued on the server, so without
      these a rollback's activity could not even start until a ramp activity ended.

    A process serves both unless its role says otherwise (``WorkerRole``). Used like a ``Worker``:
    ``run()``, ``shutdown()`` or ``async with``. If either worker stops (a fatal error), the other
    is shut down too: a process that goes on serving only one queue would leave a rollback, or
    everything else, waiting for a worker that never comes.
    """

    def __init__(
        self, main: Worker | None, compensation: Worker | None, owned_executor: ThreadPoolExecutor | None
    ) -> None:
        self.main = main
        self.compensation = compensation
        self._workers = [w for w in (main, compensation) if w is not None]
        if not self._workers:
            raise ValueError("a meshshift worker serves at least one task queue")
        self._owned_executor = owned_executor
        self._stack: contextlib.AsyncExitStack | None = None

    @property
    def task_queues(self) -> tuple[str, ...]:
        return tuple(w.task_queue for w in self._workers)

    async def run(self) -> None:
        runs = [asyncio.create_task(w.run()) for w in self._workers]
        try:
            await asyncio.wait(runs, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self.shutdown()
            await asyncio.wait(runs)
        failures = [e for e in (r.exception() for r in runs if not r.cancelled()) if e is not None]
        if failures:
            raise failures[0]

    async def shutdown(self) -> None:
        try:
            await asyncio.gather(*(w.shutdown() for w in self._workers))
        finally:
            if self._owned_executor is not None:
                self._owned_executor.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> MeshshiftWorker:
        # Each Worker's own ``async with``: a fatal error in either cancels the block and is raised.
        async with contextlib.AsyncExitStack() as stack:
            for worker in reversed(self._workers):
                await stack.enter_async_context(worker)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc: object) -> None:
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                await stack.__aexit__(*exc)  # type: ignore[arg-type]
        finally:
            if self._owned_executor is not None:
                self._owned_executor.shutdown(wait=False, cancel_futures=True)


def paired_worker(
    client: Client,
    task_queue: str,
    *,
    activities: Sequence[Callable[..., Any]],
    max_concurrent_compensations: int = DEFAULT_MAX_CONCURRENT_COMPENSATIONS,
    compensation_executor: ThreadPoolExecutor | None = None,
    serve: WorkerRole = WorkerRole.ALL,
    **options: Any,
) -> MeshshiftWorker:
    """A ``Worker`` on ``task_queue`` built from ``options``, and beside it a worker for the same
    ``activities`` on the compensation queue with ``max_concurrent_compensations`` slots of its own;
    ``serve`` leaves out one of them.

    Every process that runs MeshMigration must serve both queues, or count on another process to
    serve the compensation queue (a workflow schedules its rollback on the compensation queue of its
    own task queue): tests build theirs with this too. Without ``compensation_executor`` it makes a
    thread pool for the compensation worker and owns it.
    """
    main = None
    if serve is not WorkerRole.COMPENSATION:
        main = Worker(client, task_queue=task_queue, activities=activities, **options)
    if serve is WorkerRole.MIGRATIONS:
        return MeshshiftWorker(main, None, None)
    owned = None
    if compensation_executor is None:
        owned = compensation_executor = ThreadPoolExecutor(
            max_workers=max_concurrent_compensations, thread_name_prefix="meshshift-compensation"
        )
    compensation = Worker(
        client,
        task_queue=compensation_task_queue(task_queue),
        activities=activities,
        activity_executor=compensation_executor,
        max_concurrent_activities=max_concurrent_compensations,
        **{k: v for k, v in options.items() if k in _SHARED_OPTIONS},
    )
    return MeshshiftWorker(main, compensation, owned)


def activity_thread_pool(max_concurrent_activities: int, prefix: str = "meshshift-activity") -> ThreadPoolExecutor:
    """The thread pool ``build_worker`` needs for ``max_concurrent_activities``: a thread for each
    activity slot and each local activity slot."""
    return ThreadPoolExecutor(
        max_workers=max_concurrent_activities + MAX_CONCURRENT_LOCAL_ACTIVITIES, thread_name_prefix=prefix
    )


def build_worker(
    client: Client,
    task_queue: str,
    aws: AwsClients,
    max_concurrent_activities: int = DEFAULT_MAX_CONCURRENT_ACTIVITIES,
    *,
    max_concurrent_compensations: int = DEFAULT_MAX_CONCURRENT_COMPENSATIONS,
    activity_executor: ThreadPoolExecutor | None = None,
    interceptors: Sequence[Any] = (),
    workflow_runner: WorkflowRunner | None = None,
    deployment: WorkerDeploymentConfig | None = None,
    serve: WorkerRole = WorkerRole.ALL,
) -> MeshshiftWorker:
    """The meshshift worker: the workflow plus every activity on ``task_queue``, and a rollback's
    activities on its compensation queue (``paired_worker``), both with the same AWS clients, so
    the client-side rate limits hold for the process as a whole. ``serve`` leaves out one queue.

    Activities are sync boto3 code, run on a thread pool with a thread for every activity and
    local activity slot (``activity_thread_pool``; a smaller pool would queue activities that
    Temporal already counts as started, and their heartbeat timeouts would fire). Pass
    ``activity_executor`` to own its shutdown; the compensation queue's pool is the returned
    worker's own.
    """
    # The converter instance wraps its payload converter; the configured class is what tells.
    if not issubclass(client.data_converter.payload_converter_class, PydanticPayloadConverter):
        raise ValueError(
            "the Temporal client must use temporalio.contrib.pydantic.pydantic_data_converter "
            "(meshshift's payloads are pydantic models); connect with meshshift.workers.worker.connect()"
        )
    executor = activity_executor or activity_thread_pool(max_concurrent_activities)
    needed = max_concurrent_activities + MAX_CONCURRENT_LOCAL_ACTIVITIES
    if executor._max_workers < needed:
        raise ValueError(
            f"activity_executor has {executor._max_workers} threads; it needs at least {needed}: "
            f"max_concurrent_activities ({max_concurrent_activities}) and the local activities' "
            f"{MAX_CONCURRENT_LOCAL_ACTIVITIES} (make it with meshshift.workers.worker.activity_thread_pool)"
        )
    return paired_worker(
        client,
        task_queue,
        activities=activity_methods(activity_objects(client, aws)),
        max_concurrent_compensations=max_concurrent_compensations,
        serve=serve,
        workflows=WORKFLOWS,
        activity_executor=executor,
        max_concurrent_activities=max_concurrent_activities,
        max_concurrent_local_activities=MAX_CONCURRENT_LOCAL_ACTIVITIES,
        workflow_runner=workflow_runner or default_workflow_runner(),
        interceptors=[KeepaliveInterceptor(), *interceptors],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        deployment_config=deployment,
    )


# What a rollback calls: the edge mechanisms' APIs, and ECS to hand the async workers back.
ROLLBACK_SERVICES = ("elbv2", "route53", "cloudfront", "ecs")


async def warm_for_rollbacks(aws: AwsClients, serve: WorkerRole) -> None:
    """A process that serves the compensation queue builds a rollback's AWS clients at start, so
    that its first rollback does not spend its first 100-200 ms loading service models."""
    if serve is WorkerRole.MIGRATIONS:
        return
    region = await asyncio.to_thread(aws.warm, ROLLBACK_SERVICES)
    if region is not None:
        log.info("AWS clients for rollbacks ready in %s: %s", region, ", ".join(ROLLBACK_SERVICES))


async def watch_compensation_pollers(
    client: Client, queue: str, *, first_after: float = 15.0, every: float = 60.0
) -> None:
    """For a ``migrations`` process: log an error, every ``every`` seconds, while no worker polls the
    compensation ``queue`` (a rollback would wait there), and once when one does again. The first
    check waits ``first_after`` seconds, so that processes started together do not cry wolf."""
    await asyncio.sleep(first_after)
    missing = False
    while True:
        try:
            described = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
                )
            )
        except (RPCError, RuntimeError) as exc:  # the check must never end the watch
            log.warning("cannot tell whether a worker serves the compensation queue %s: %s", queue, exc)
        else:
            if not described.pollers:
                missing = True
                log.error(
                    "no worker serves the compensation queue %s: a rollback would wait there until one does. "
                    "Start `meshshift worker --serve compensation` (same task queue), or run this one with "
                    "--serve all",
                    queue,
                )
            elif missing:
                missing = False
                log.info("a worker serves the compensation queue %s again", queue)
        await asyncio.sleep(every)


async def run_worker(settings: WorkerSettings, stop: asyncio.Event, telemetry: TelemetrySettings | None = None) -> None:
    """Connect, serve until ``stop`` is set, then shut down gracefully."""
    obs = setup_observability(telemetry or TelemetrySettings())
    try:
        await _serve_until_stopped(settings, stop, obs)
    finally:
        obs.shutdown()  # flush spans


async def _serve_until_stopped(settings: WorkerSettings, stop: asyncio.Event, obs: Observability) -> None:
    # Interceptors that are also client interceptors go on the client only: the SDK applies them to
    # the worker as well, and passing them twice would trace every call twice.
    on_client = [i for i in obs.interceptors if isinstance(i, ClientInterceptor)]
    worker_only = [i for i in obs.interceptors if not isinstance(i, ClientInterceptor)]
    client = await connect(settings, interceptors=on_client, runtime=obs.runtime)
    with activity_thread_pool(settings.max_concurrent_activities) as executor:
        aws = AwsClients(
            hooks=chaos_hooks(os.environ),
            max_pool_connections=settings.max_concurrent_activities + settings.max_concurrent_compensations,
        )
        await warm_for_rollbacks(aws, settings.serve)
        worker = build_worker(
            client,
            settings.task_queue,
            aws,
            settings.max_concurrent_activities,
            max_concurrent_compensations=settings.max_concurrent_compensations,
            activity_executor=executor,
            interceptors=worker_only,
            workflow_runner=obs.workflow_runner,
            deployment=settings.deployment(),
            serve=settings.serve,
        )
        running = asyncio.create_task(worker.run())
        watch = None
        if settings.serve is WorkerRole.MIGRATIONS:
            compensation_queue = compensation_task_queue(settings.task_queue)
            watch = asyncio.create_task(watch_compensation_pollers(client, compensation_queue))
        log.info("meshshift worker running: %s", settings.describe())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            log.info("stopping: finishing in-flight tasks (up to %s)", GRACEFUL_SHUTDOWN)
            await worker.shutdown()
        stopped.cancel()
        if watch is not None:
            watch.cancel()
        await running  # re-raises a worker failure


def _serve(settings: WorkerSettings, telemetry: TelemetrySettings) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop, telemetry)

    asyncio.run(main())


def register(app: typer.Typer) -> None:
    @app.command(name="worker")
    def worker_command(
        address: Annotated[
            str | None, typer.Option(help="Temporal frontend host:port (env TEMPORAL_ADDRESS; default 127.0.0.1:7233)")
        ] = None,
        namespace: Annotated[
            str | None, typer.Option(help="Namespace (env TEMPORAL_NAMESPACE; default default)")
        ] = None,
        task_queue: Annotated[
            str | None, typer.Option(help="Task queue (env MESHSHIFT_TASK_QUEUE; default mesh-migration)")
        ] = None,
        max_concurrent_activities: Annotated[
            int | None,
            typer.Option(help="Activities run at once (env MESHSHIFT_MAX_CONCURRENT_ACTIVITIES; default 50)"),
        ] = None,
        max_concurrent_compensations: Annotated[
            int | None,
            typer.Option(
                help="A rollback's activities run at once on the compensation queue, apart from the "
                "activities above (env MESHSHIFT_MAX_CONCURRENT_COMPENSATIONS; default 10)"
            ),
        ] = None,
        serve: Annotated[
            WorkerRole | None,
            typer.Option(
                help="Which queues this process serves: all (default), migrations (everything but a rollback's "
                "activities), or compensation (only those: a process that does nothing but roll back). Split "
                "them to run rollbacks on hosts of their own (env MESHSHIFT_WORKER_SERVE)"
            ),
        ] = None,
        tls_cert: Annotated[
            Path | None, typer.Option(help="mTLS client certificate (env TEMPORAL_TLS_CLIENT_CERT_PATH)")
        ] = None,
        tls_key: Annotated[Path | None, typer.Option(help="mTLS client key (env TEMPORAL_TLS_CLIENT_KEY_PATH)")] = None,
        tls_ca: Annotated[
            Path | None, typer.Option(help="Server CA certificate (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
        ] = None,
        metrics_port: Annotated[
            int | None, typer.Option(help="Serve Prometheus SDK metrics on this port (env MESHSHIFT_METRICS_PORT)")
        ] = None,
        metrics_host: Annotated[
            str | None, typer.Option(help="Metrics bind address (env MESHSHIFT_METRICS_HOST; default 127.0.0.1)")
        ] = None,
        trace_console: Annotated[
            bool, typer.Option(help="Print trace spans to stderr (OTLP export: set OTEL_EXPORTER_OTLP_ENDPOINT)")
        ] = False,
        log_format: Annotated[LogFormat | None, typer.Option(help="text or json (env MESHSHIFT_LOG_FORMAT)")] = None,
        log_level: Annotated[str, typer.Option(help="Logging level")] = "INFO",
        deployment_name: Annotated[
            str | None,
            typer.Option(help="Worker Deployment name; with --build-id runs versioned (env MESHSHIFT_DEPLOYMENT_NAME)"),
        ] = None,
        build_id: Annotated[
            str | None,
            typer.Option(help="Build id of this worker's version (env MESHSHIFT_BUILD_ID)"),
        ] = None,
    ) -> None:
        """Run the meshshift worker (workflows and activities on the task queue, a rollback's activities on
        its compensation queue, <task queue>-compensation). The API key is read from TEMPORAL_API_KEY
        only, so it never appears in a process listing. AWS comes from boto3's standard configuration."""
        telemetry_flags: dict[str, Any] = {
            "metrics_port": metrics_port,
            "metrics_host": metrics_host,
            "trace_console": trace_console or None,
            "log_format": log_format,
        }
        flags = {
            "address": address,
            "namespace": namespace,
            "task_queue": task_queue,
            "max_concurrent_activities": max_concurrent_activities,
            "max_concurrent_compensations": max_concurrent_compensations,
            "serve": serve,
            "tls_client_cert_path": tls_cert,
            "tls_client_key_path": tls_key,
            "tls_server_ca_cert_path": tls_ca,
            "deployment_name": deployment_name,
            "build_id": build_id,
        }
        try:
            given: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
            settings = WorkerSettings(**given)
            settings.tls_config()  # fail early, with the variable's name, on unreadable TLS files
            telemetry = TelemetrySettings(**{k: v for k, v in telemetry_flags.items() if v is not None})
        except ValueError as exc:
            typer.echo(f"meshshift worker: error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        configure_logging(log_level, telemetry.log_format, secrets_from_environment())
        try:
            _serve(settings, telemetry)
        except TemporalUnreachable as exc:
            typer.echo(f"meshshift worker: error: {exc}", err=True)
            raise typer.Exit(code=1) from None
        except (ConnectionError, RuntimeError) as exc:
            # Connection failures name the address; the message never includes the API key.
            typer.echo(f"meshshift worker: error: cannot run against {settings.address}: {exc}", err=True)
            raise typer.Exit(code=1) from None
