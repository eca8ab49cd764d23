"""Traces of a migration carry the app, phase and step; the metrics endpoint answers; logs hide secrets."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import urllib.request
from uuid import uuid4

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from meshshift.migration.constants import workflow_id
from meshshift.migration.state import Phase, RollbackPayload
from meshshift.workers.telemetry import (
    JsonFormatter,
    RedactingFilter,
    TelemetrySettings,
    metrics_runtime,
    setup_observability,
    traced_workflow_runner,
    tracer_provider,
    tracing_interceptors,
)
from meshshift.workers.worker import paired_worker
from meshshift.workflows.migration import MeshMigration
from tests.netutil import free_port
from tests.operator.conftest import address_of
from tests.workflows.fakes import FakeActivities
from tests.workflows.harness import gate_open, make_spec, start, wait_for, world_for

pytestmark = pytest.mark.integration


async def test_spans_carry_app_phase_and_step(env_local: WorkflowEnvironment, task_queue: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    name = f"traced-{uuid4().hex[:8]}"
    spec = make_spec(name=name, ramp={"approval": "required"})
    world = world_for(spec)
    worker = paired_worker(
        env_local.client,
        task_queue,
        workflows=[MeshMigration],
        activities=FakeActivities(world).all(),
        workflow_runner=traced_workflow_runner(),
        interceptors=tracing_interceptors(provider.get_tracer("test")),
    )
    async with worker:
        try:
            handle = await start(env_local, task_queue, spec, workflow_id(name))
            await wait_for(handle, gate_open(1), "the first gate")
            await handle.signal("approve", {"approver": "alice", "step": 1})
            await wait_for(handle, lambda s: s.green_weight == 1, "step 1 applied")
            await handle.signal("rollback", RollbackPayload(requested_by="bob", reason="trace test"))
            await wait_for(handle, lambda s: s.phase is Phase.ROLLED_BACK, "rolled back")
        finally:
            world.release_all()
    spans = exporter.get_finished_spans()
    names = {s.name for s in spans}
    assert "RunWorkflow:MeshMigration" in names
    assert "HandleSignal:approve" in names

    def run_spans(activity: str) -> list[dict[str, object]]:
        return [dict(s.attributes or {}) for s in spans if s.name == f"RunActivity:{activity}"]

    discover = run_spans("discover_blue_services")
    assert discover and discover[0]["meshshift.app"] == name
    assert discover[0]["meshshift.phase"] == "planning"
    assert discover[0]["meshshift.workflow_id"] == handle.id
    assert discover[0]["temporalWorkflowID"] == handle.id

    shifts = run_spans("set_edge_weights")
    ramp_shift = [a for a in shifts if a.get("meshshift.phase") == "ramping"]
    assert ramp_shift and ramp_shift[0]["meshshift.step"] == 1
    assert any(a.get("meshshift.phase") == "rolling_back" for a in shifts)

    marks = [dict(s.attributes or {}) for s in spans if s.name.startswith("MeshshiftPhase:")]
    assert {m["meshshift.phase"] for m in marks} >= {"planning", "ramping", "rolling_back"}
    assert all(m["meshshift.app"] == name for m in marks)


async def test_metrics_endpoint_answers(env_local: WorkflowEnvironment) -> None:
    port = free_port()
    runtime = metrics_runtime("127.0.0.1", port)
    client = await Client.connect(address_of(env_local), data_converter=pydantic_data_converter, runtime=runtime)
    await client.count_workflows()  # any call; the SDK then has metrics to report

    def scrape() -> tuple[int, str]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            return resp.status, resp.read().decode()

    status, body = await asyncio.to_thread(scrape)
    assert status == 200
    assert "temporal_" in body, body[:500]  # the SDK's metrics, Prometheus text format


def test_tracing_is_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert tracer_provider(TelemetrySettings()) is None
    assert tracer_provider(TelemetrySettings(trace_console=True)) is not None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert TelemetrySettings().otlp_endpoint == "http://127.0.0.1:4318"


def test_json_logs_never_contain_secrets() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(["super-secret-key"]))
    logger = logging.getLogger("meshshift.test.telemetry")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("connecting with key %s", "super-secret-key")
    finally:
        logger.removeHandler(handler)
    entry = json.loads(stream.getvalue())
    assert entry["level"] == "WARNING" and entry["message"] == "connecting with key ***"
    assert "super-secret-key" not in stream.getvalue()


def test_observability_is_off_by_default_and_assembled_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    off = setup_observability(TelemetrySettings())
    assert off.runtime is None and off.interceptors == [] and off.provider is None
    on = setup_observability(TelemetrySettings(trace_console=True))
    assert len(on.interceptors) == 2 and on.provider is not None
    on.shutdown()
