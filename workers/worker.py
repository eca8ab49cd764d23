"""`meshshift worker`: runs the MeshMigration workflow and every activity on one task queue.

Settings come from flags, else from the standard Temporal environment variables
(``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_*``) and
``MESHSHIFT_*``; AWS comes only from boto3's standard configuration. Secrets are never logged.

Hooks for observability (a later step): ``build_worker`` and ``connect`` take ``interceptors``
and ``runtime``, so Prometheus metrics (a ``Runtime`` with telemetry) and tracing (an
OpenTelemetry interceptor or plugin) plug in without changing this wiring.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio.client import Client, Interceptor
from temporalio.contrib.pydantic import PydanticPayloadConverter, pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig
from temporalio.worker import Worker

from activities.async_workers import AsyncWorkerActivities
from activities.aws import AwsClients
from activities.decommission import DecommissionActivities
from activities.discovery import DiscoveryActivities
from activities.edge.activities import EdgeActivities
from activities.health import HealthActivities
from activities.metrics import MetricsActivities
from activities.provisioning import ProvisioningActivities
from activities.temporal_meta import TemporalMetaActivities
from migration.constants import DEFAULT_TASK_QUEUE
from workers import faults
from workflows.migration import MeshMigration
from workflows.sandbox import workflow_runner

log = logging.getLogger("meshshift.worker")

DEFAULT_MAX_CONCURRENT_ACTIVITIES = 50
# In-flight activities get this long to finish on shutdown before they are cancelled; Temporal
# retries whatever did not finish on another worker, so nothing is lost either way.
GRACEFUL_SHUTDOWN = timedelta(seconds=30)


class WorkerSettings(BaseSettings):
    """The worker's connection and capacity. Field values come from flags, else the environment."""

    # The prefix only guards field names against generic variables (ADDRESS, TLS); the real
    # variables are the aliases (TEMPORAL_*, MESHSHIFT_*).
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_prefix="MESHSHIFT_WORKER_")

    address: str = Field(default="127.0.0.1:7233", validation_alias="TEMPORAL_ADDRESS")
    namespace: str = Field(default="default", validation_alias="TEMPORAL_NAMESPACE")
    api_key: SecretStr | None = Field(default=None, validation_alias="TEMPORAL_API_KEY")
    tls_client_cert_path: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_CLIENT_CERT_PATH")
    tls_client_key_path: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_CLIENT_KEY_PATH")
    tls_server_ca_cert_path: Path | None = Field(default=None, validation_alias="TEMPORAL_TLS_SERVER_CA_CERT_PATH")
    tls_server_name: str | None = Field(default=None, validation_alias="TEMPORAL_TLS_SERVER_NAME")
    tls: bool | None = Field(default=None, validation_alias="TEMPORAL_TLS")
    task_queue: str = Field(default=DEFAULT_TASK_QUEUE, validation_alias="MESHSHIFT_TASK_QUEUE")
    max_concurrent_activities: int = Field(
        default=DEFAULT_MAX_CONCURRENT_ACTIVITIES,
        ge=1,
        validation_alias="MESHSHIFT_MAX_CONCURRENT_ACTIVITIES",
    )

    def tls_config(self) -> TLSConfig | bool:
        """mTLS when cert and key are given; plain TLS for an API key (Temporal Cloud) or TEMPORAL_TLS."""
        cert, key = self.tls_client_cert_path, self.tls_client_key_path
        if (cert is None) != (key is None):
            raise ValueError(
                "TLS needs both TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH "
                f"(got cert={'set' if cert else 'unset'}, key={'set' if key else 'unset'})"
            )
        if cert is not None and key is not None:
            return TLSConfig(
                client_cert=_read(cert, "TEMPORAL_TLS_CLIENT_CERT_PATH"),
                client_private_key=_read(key, "TEMPORAL_TLS_CLIENT_KEY_PATH"),
                server_root_ca_cert=(
                    _read(self.tls_server_ca_cert_path, "TEMPORAL_TLS_SERVER_CA_CERT_PATH")
                    if self.tls_server_ca_cert_path
                    else None
                ),
                domain=self.tls_server_name,
            )
        if self.tls_server_ca_cert_path is not None:
            return TLSConfig(
                server_root_ca_cert=_read(self.tls_server_ca_cert_path, "TEMPORAL_TLS_SERVER_CA_CERT_PATH"),
                domain=self.tls_server_name,
            )
        if self.tls is not None:
            return self.tls
        return self.api_key is not None

    def describe(self) -> str:
        """One line for the log: where and how, never the secrets themselves."""
        auth = "api key" if self.api_key else ("mTLS" if self.tls_client_cert_path else "none")
        return (
            f"Temporal {self.address} namespace {self.namespace} (auth: {auth}), task queue {self.task_queue}, "
            f"max {self.max_concurrent_activities} concurrent activities"
        )


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{variable}: cannot read {path}: {exc.strerror or exc}") from None


async def connect(
    settings: WorkerSettings,
    *,
    interceptors: Sequence[Interceptor] = (),
    runtime: Runtime | None = None,
) -> Client:
    """A client with the pydantic data converter (every payload in meshshift is a pydantic model)."""
    return await Client.connect(
        settings.address,
        namespace=settings.namespace,
        api_key=settings.api_key.get_secret_value() if settings.api_key else None,
        tls=settings.tls_config(),
        data_converter=pydantic_data_converter,
        interceptors=interceptors,
        runtime=runtime,
    )


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


def build_worker(
    client: Client,
    task_queue: str,
    aws: AwsClients,
    max_concurrent_activities: int = DEFAULT_MAX_CONCURRENT_ACTIVITIES,
    *,
    activity_executor: ThreadPoolExecutor | None = None,
    interceptors: Sequence[Any] = (),
) -> Worker:
    """The meshshift worker: the workflow plus every activity, on ``task_queue``.

    Activities are sync boto3 code, run on a thread pool at least ``max_concurrent_activities``
    large (a smaller pool would queue activities that Temporal already counts as started, and
    their heartbeat timeouts would fire). Pass ``activity_executor`` to own its shutdown.
    """
    # The converter instance wraps its payload converter; the configured class is what tells.
    if not issubclass(client.data_converter.payload_converter_class, PydanticPayloadConverter):
        raise ValueError(
            "the Temporal client must use temporalio.contrib.pydantic.pydantic_data_converter "
            "(meshshift's payloads are pydantic models); connect with workers.worker.connect()"
        )
    executor = activity_executor or ThreadPoolExecutor(
        max_workers=max_concurrent_activities, thread_name_prefix="meshshift-activity"
    )
    if executor._max_workers < max_concurrent_activities:
        raise ValueError(
            f"activity_executor has {executor._max_workers} threads; it needs at least "
            f"max_concurrent_activities ({max_concurrent_activities})"
        )
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[MeshMigration],
        activities=activity_methods(activity_objects(client, aws)),
        activity_executor=executor,
        max_concurrent_activities=max_concurrent_activities,
        workflow_runner=workflow_runner(),
        interceptors=interceptors,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


async def run_worker(settings: WorkerSettings, stop: asyncio.Event) -> None:
    """Connect, serve until ``stop`` is set, then shut down gracefully."""
    client = await connect(settings)
    with ThreadPoolExecutor(
        max_workers=settings.max_concurrent_activities, thread_name_prefix="meshshift-activity"
    ) as executor:
        worker = build_worker(
            client,
            settings.task_queue,
            # Chaos-testing switch, off by default: MESHSHIFT_FAULTS injects AWS throttling/5xx/delays
            # (workers/faults.py, docs/reliability.md). Unset, this installs no hook at all.
            AwsClients(hooks=faults.worker_hooks()),
            settings.max_concurrent_activities,
            activity_executor=executor,
        )
        running = asyncio.create_task(worker.run())
        log.info("meshshift worker running: %s", settings.describe())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            log.info("stopping: finishing in-flight tasks (up to %s)", GRACEFUL_SHUTDOWN)
            await worker.shutdown()
        stopped.cancel()
        await running  # re-raises a worker failure


def _serve(settings: WorkerSettings) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

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
        tls_cert: Annotated[
            Path | None, typer.Option(help="mTLS client certificate (env TEMPORAL_TLS_CLIENT_CERT_PATH)")
        ] = None,
        tls_key: Annotated[Path | None, typer.Option(help="mTLS client key (env TEMPORAL_TLS_CLIENT_KEY_PATH)")] = None,
        tls_ca: Annotated[
            Path | None, typer.Option(help="Server CA certificate (env TEMPORAL_TLS_SERVER_CA_CERT_PATH)")
        ] = None,
        log_level: Annotated[str, typer.Option(help="Logging level")] = "INFO",
    ) -> None:
        """Run the meshshift worker (workflows and activities). The API key is read from TEMPORAL_API_KEY
        only, so it never appears in a process listing. AWS comes from boto3's standard configuration."""
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        flags = {
            "address": address,
            "namespace": namespace,
            "task_queue": task_queue,
            "max_concurrent_activities": max_concurrent_activities,
            "tls_client_cert_path": tls_cert,
            "tls_client_key_path": tls_key,
            "tls_server_ca_cert_path": tls_ca,
        }
        try:
            given: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
            settings = WorkerSettings(**given)
            settings.tls_config()  # fail early, with the variable's name, on unreadable TLS files
        except ValueError as exc:
            typer.echo(f"meshshift worker: error: {exc}", err=True)
            raise typer.Exit(code=2) from None
        try:
            _serve(settings)
        except (ConnectionError, RuntimeError) as exc:
            # Connection failures name the address; the message never includes the API key.
            typer.echo(f"meshshift worker: error: cannot run against {settings.address}: {exc}", err=True)
            raise typer.Exit(code=1) from None
