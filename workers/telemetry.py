"""Observability of the worker: Prometheus SDK metrics, OpenTelemetry traces and structured logs.

What carries what:

- ``RunWorkflow:MeshMigration``, ``StartActivity:<name>``, ``HandleSignal:<name>``, ``HandleQuery``,
  ``HandleUpdate:<name>`` (workflow side) and ``RunActivity:<name>`` (activity side) come from
  ``temporalio.contrib.opentelemetry.TracingInterceptor``; each has ``temporalWorkflowID`` and
  ``temporalRunID``. Workflow spans are created replay-safely (never twice for one event).
- ``RunActivity:<name>`` spans also carry ``meshshift.app``, ``meshshift.phase``,
  ``meshshift.step`` (green percent of the current ramp step, while ramping),
  ``meshshift.step_index`` and ``meshshift.green_weight``. The workflow cannot set attributes on
  spans itself, so a workflow interceptor reads the migration's ``status`` (a pure function of
  its state) when it schedules an activity and passes these values in a header; the activity
  interceptor puts them on the span. ``meshshift.app`` falls back to the activity input's spec.
- ``MeshshiftPhase:<phase>`` spans (workflow side, zero length) mark each phase or step change,
  with the same attributes, so a trace shows where the migration was when each activity ran.

Metrics are the SDK's own (task latencies, polls, activity outcomes) on a Prometheus endpoint.
Logs can be JSON lines; secret values registered with ``redact`` never reach a log line.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import opentelemetry.trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.converter import PayloadConverter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from meshshift.workflows.sandbox import workflow_runner

SERVICE_NAME = "meshshift-worker"
SPAN_HEADER = "meshshift-span"
OTLP_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"

LogFormat = Literal["text", "json"]


class TelemetrySettings(BaseSettings):
    """Where metrics are served and where traces go. Everything is off unless asked for."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_prefix="MESHSHIFT_TELEMETRY_")

    metrics_port: int | None = Field(default=None, ge=0, le=65535, validation_alias="MESHSHIFT_METRICS_PORT")
    metrics_host: str = Field(default="127.0.0.1", validation_alias="MESHSHIFT_METRICS_HOST")
    otlp_endpoint: str | None = Field(default=None, validation_alias=OTLP_ENDPOINT_ENV)
    trace_console: bool = Field(default=False, validation_alias="MESHSHIFT_TRACE_CONSOLE")
    log_format: LogFormat = Field(default="text", validation_alias="MESHSHIFT_LOG_FORMAT")

    @property
    def tracing(self) -> bool:
        return bool(self.otlp_endpoint) or self.trace_console


# --- metrics ------------------------------------------------------------------------------------


def metrics_runtime(host: str, port: int) -> Runtime:
    """A Temporal runtime that serves the SDK's metrics at ``http://host:port/metrics``.

    One runtime per process: pass it to ``connect(..., runtime=...)`` for the worker's client.
    """
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}")))


# --- tracing ------------------------------------------------------------------------------------


def tracer_provider(settings: TelemetrySettings) -> TracerProvider | None:
    """A tracer provider exporting over OTLP/HTTP (endpoint and headers from the standard OTEL_*
    variables) and/or to the console; None when tracing is off."""
    if not settings.tracing:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT / _HEADERS itself (headers may hold tokens,
        # so they are never read or logged here).
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if settings.trace_console:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    return provider


def tracing_interceptors(tracer: opentelemetry.trace.Tracer | None = None) -> list[Interceptor]:
    """The interceptors for a traced worker, outermost first: spans, then meshshift's attributes.

    ``always_create_workflow_spans``: migrations are usually started from the `temporal` CLI or
    the Web UI, which send no trace context; without it the workflow would have no spans.
    """
    return [TracingInterceptor(tracer, always_create_workflow_spans=True), MigrationSpanAttributes()]


def traced_workflow_runner() -> SandboxedWorkflowRunner:
    """meshshift's sandbox plus ``opentelemetry`` passed through: the tracing interceptor runs inside
    the sandbox and must share the process's OpenTelemetry context and tracer, not a re-imported copy."""
    base = workflow_runner()
    return SandboxedWorkflowRunner(restrictions=base.restrictions.with_passthrough_modules("opentelemetry"))


def migration_attributes(status: Any) -> dict[str, str | int]:
    """Span attributes from a ``MigrationStatus``-shaped object (duck-typed: this module is used
    inside the workflow sandbox and must not depend on how the status is built)."""
    attributes: dict[str, str | int] = {}
    app = getattr(status, "app", None)
    if isinstance(app, str):
        attributes["meshshift.app"] = app
    phase = getattr(status, "phase", None)
    if phase is not None:
        attributes["meshshift.phase"] = str(getattr(phase, "value", phase))
    step_index = getattr(status, "step_index", None)
    steps = getattr(status, "steps", None)
    if isinstance(step_index, int):
        attributes["meshshift.step_index"] = step_index
        if attributes.get("meshshift.phase") == "ramping" and isinstance(steps, list) and step_index < len(steps):
            attributes["meshshift.step"] = int(steps[step_index])
    weight = getattr(status, "green_weight", None)
    if isinstance(weight, int):
        attributes["meshshift.green_weight"] = weight
    return attributes


class _WorkflowOutbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor, inbound: _WorkflowInbound) -> None:
        super().__init__(next)
        self._inbound = inbound

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = self._inbound.with_span_header(input.headers)
        return super().start_activity(input)

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        input.headers = self._inbound.with_span_header(input.headers)
        return super().start_local_activity(input)


class _WorkflowInbound(WorkflowInboundInterceptor):
    def __init__(self, next: WorkflowInboundInterceptor) -> None:
        super().__init__(next)
        self._last_mark: tuple[Any, ...] | None = None

    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound, self))

    def current_attributes(self) -> dict[str, str | int]:
        status_of = getattr(workflow.instance(), "status", None)
        if not callable(status_of):
            return {}
        try:
            return migration_attributes(status_of())
        except Exception:
            # Telemetry must never fail a workflow task (e.g. a status built before the state is).
            return {}

    def with_span_header(self, headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
        attributes = self.current_attributes()
        if not attributes:
            return headers
        mark = (attributes.get("meshshift.phase"), attributes.get("meshshift.step_index"))
        if mark != self._last_mark:
            self._last_mark = mark
            # Replay-safe: the SDK only records this span when the workflow is not replaying.
            from temporalio.contrib.opentelemetry import workflow as otel_workflow

            otel_workflow.completed_span(f"MeshshiftPhase:{attributes.get('meshshift.phase')}", attributes=attributes)
        return {**headers, SPAN_HEADER: PayloadConverter.default.to_payloads([attributes])[0]}


class _ActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        span = opentelemetry.trace.get_current_span()
        if span.is_recording():
            span.set_attributes(activity_attributes(input))
        return await super().execute_activity(input)


def activity_attributes(input: ExecuteActivityInput) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {}
    payload = input.headers.get(SPAN_HEADER)
    if payload is not None:
        try:
            decoded = PayloadConverter.default.from_payloads([payload], [dict])[0]
        except Exception:
            decoded = {}
        if isinstance(decoded, dict):
            attributes.update({k: v for k, v in decoded.items() if isinstance(v, str | int)})
    if "meshshift.app" not in attributes:
        spec = next((getattr(arg, "spec", None) for arg in input.args if hasattr(arg, "spec")), None)
        name = getattr(spec, "name", None)
        if isinstance(name, str):
            attributes["meshshift.app"] = name
    info = activity.info()
    if info.workflow_id:
        attributes["meshshift.workflow_id"] = info.workflow_id
    return attributes


class MigrationSpanAttributes(Interceptor):
    """Puts the migration's app, phase and step on activity spans (see the module docstring)."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(self, input: WorkflowInterceptorClassInput) -> type[WorkflowInboundInterceptor]:
        return _WorkflowInbound


# --- everything a worker needs, in one call ----------------------------------------------------


@dataclass
class Observability:
    """What ``meshshift worker`` passes on: ``runtime`` to ``connect``, ``interceptors`` and
    ``workflow_runner`` to the ``Worker``; ``shutdown()`` flushes spans on exit."""

    runtime: Runtime | None
    interceptors: list[Interceptor]
    workflow_runner: SandboxedWorkflowRunner
    provider: TracerProvider | None

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def setup_observability(settings: TelemetrySettings) -> Observability:
    """Metrics runtime (when a port is set) and tracing (when OTLP or the console is asked for)."""
    runtime = (
        metrics_runtime(settings.metrics_host, settings.metrics_port) if settings.metrics_port is not None else None
    )
    provider = tracer_provider(settings)
    if provider is None:
        return Observability(runtime, [], workflow_runner(), None)
    tracer = provider.get_tracer("meshshift")
    return Observability(runtime, tracing_interceptors(tracer), traced_workflow_runner(), provider)


# --- logs ---------------------------------------------------------------------------------------


class RedactingFilter(logging.Filter):
    """Replaces registered secret values in every record, whatever logged them."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s and len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secrets:
            message = record.getMessage()
            for secret in self._secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and exception text if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        for key in ("workflow_id", "activity", "app"):
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", log_format: LogFormat = "text", secrets: Sequence[str] = ()) -> None:
    """Root logging for a meshshift process; ``secrets`` are masked in every line."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())


def secrets_from_environment() -> list[str]:
    """Values that must never be logged, whichever library would log them."""
    names = ("TEMPORAL_API_KEY", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "OTEL_EXPORTER_OTLP_HEADERS")
    return [value for name in names if (value := os.environ.get(name))]
