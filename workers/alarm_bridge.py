"""The alarm bridge: CloudWatch alarm -> SNS -> HTTP(S) -> this endpoint -> `alarm` signal.

It confirms SNS subscriptions, verifies every message (signature, certificate URL, topic
allow-list, age, size) before trusting a byte of it, maps the alarm to the running migrations
whose spec names it, and signals them. Refusals are answered 4xx with one log line each.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import urllib.request
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from datetime import timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any, Protocol

import typer
from pydantic import BaseModel, ValidationError
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from meshshift.migration.constants import QUERY_STATUS, SIGNAL_ALARM, WORKFLOW_TYPE
from meshshift.migration.state import MigrationStatus
from meshshift.workers.connection import TemporalSettings, TemporalUnreachable, connect
from meshshift.workers.sns import MAX_BODY_BYTES, Refused, SnsVerifier, check_subscribe_url, parse_alarm

log = logging.getLogger("meshshift.alarm_bridge")


class AlarmNotice(BaseModel):
    """The contract's `alarm` signal payload."""

    alarm_name: str
    state: str = "ALARM"
    reason: str | None = None
    source: str | None = None


class AlarmRouter(Protocol):
    """Sends an alarm to the migrations that watch it; returns the workflow ids signalled."""

    def route(self, notice: AlarmNotice) -> Awaitable[list[str]]: ...


class BridgeOutcome(BaseModel):
    status: int
    detail: str
    signalled: list[str] = []


def _confirm_via_https(url: str) -> None:
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 (SNS host checked before)
        resp.read(4096)


class AlarmBridge:
    """Protocol-independent core, shared by the HTTP server and the Lambda handler."""

    def __init__(
        self,
        verifier: SnsVerifier,
        router: AlarmRouter,
        confirm: Callable[[str], None] = _confirm_via_https,
    ) -> None:
        self._verifier = verifier
        self._router = router
        self._confirm = confirm

    async def handle(self, body: bytes) -> BridgeOutcome:
        try:
            envelope = self._verifier.verify(body)
            if envelope.Type == "SubscriptionConfirmation":
                url = check_subscribe_url(envelope.SubscribeURL)
                await asyncio.to_thread(self._confirm, url)
                log.info("confirmed SNS subscription to %s", envelope.TopicArn)
                return BridgeOutcome(status=200, detail="subscription confirmed")
            if envelope.Type == "UnsubscribeConfirmation":
                log.warning("SNS topic %s unsubscribed this endpoint", envelope.TopicArn)
                return BridgeOutcome(status=200, detail="unsubscribe noted")
            alarm = parse_alarm(envelope)
        except Refused as refused:
            log.warning("refused SNS request: %s", refused.reason)
            return BridgeOutcome(status=refused.status, detail=refused.reason)
        if alarm.NewStateValue != "ALARM":
            return BridgeOutcome(status=200, detail=f"{alarm.AlarmName} is {alarm.NewStateValue}: nothing to do")
        notice = AlarmNotice(
            alarm_name=alarm.AlarmName,
            reason=alarm.NewStateReason,
            source=f"sns:{envelope.TopicArn}",
        )
        signalled = await self._router.route(notice)
        log.info("alarm %s signalled %d migration(s): %s", alarm.AlarmName, len(signalled), signalled)
        return BridgeOutcome(status=200, detail=f"signalled {len(signalled)}", signalled=signalled)


def make_http_server(bridge: AlarmBridge, loop: asyncio.AbstractEventLoop, host: str, port: int) -> ThreadingHTTPServer:
    """A small threaded HTTP server; each request is handed to the bridge on the asyncio loop."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "meshshift-alarm-bridge"

        def do_GET(self) -> None:
            # Health check for load balancers and the container HEALTHCHECK.
            self._answer(200, "ok") if self.path in ("/health", "/healthz") else self._answer(404, "not found")

        def do_POST(self) -> None:
            try:
                length = int(self.headers.get("Content-Length", "-1"))
            except ValueError:
                length = -1
            if length < 0:
                self._answer(411, "Content-Length required")
                return
            if length > MAX_BODY_BYTES:
                log.warning("refused SNS request: body of %d bytes exceeds %d", length, MAX_BODY_BYTES)
                self._answer(413, "too large")
                return
            body = self.rfile.read(length)
            future: Future[BridgeOutcome] = asyncio.run_coroutine_threadsafe(bridge.handle(body), loop)
            try:
                outcome = future.result(timeout=30)
            except Exception:
                log.exception("alarm bridge failed to handle a request")
                self._answer(503, "could not reach Temporal; SNS will retry")
                return
            self._answer(outcome.status, outcome.detail)

        def _answer(self, status: int, text: str) -> None:
            data = (text + "\n").encode()
            self.send_response(status, HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "")
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s " + format, self.address_string(), *args)

    return ThreadingHTTPServer((host, port), Handler)


# --- routing to Temporal ------------------------------------------------------------------------

TOPICS_ENV = "MESHSHIFT_ALARM_TOPICS"
ROUTER_QUERY_TIMEOUT = timedelta(seconds=10)


class TemporalAlarmRouter:
    """Signals ``alarm`` to every running MeshMigration whose spec lists the alarm.

    Which alarms a migration watches is read from its ``status`` query (``alarms``), so the
    bridge needs no state of its own and follows continue-as-new. A migration whose query does
    not answer (no worker right now) is signalled anyway: the signal waits in its history and the
    workflow itself refuses, with an audit event, an alarm its spec does not list. Missing a real
    alarm is worse than an audited refusal. Each migration is signalled as soon as its own query
    answers, so one that takes the whole timeout holds up no other.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    async def running_migrations(self) -> list[str]:
        query = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'"
        return [execution.id async for execution in self._client.list_workflows(query)]

    async def _watches(self, workflow_id: str, alarm_name: str) -> bool:
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            raw = await handle.query(QUERY_STATUS, result_type=MigrationStatus, rpc_timeout=ROUTER_QUERY_TIMEOUT)
            return alarm_name in MigrationStatus.model_validate(raw).alarms
        # A run whose status cannot be read (no worker, a worker that fails the query, a status this
        # build cannot read) still gets the alarm; an error here would also keep it from every other
        # migration, since all are asked together.
        except (RPCError, WorkflowQueryFailedError, ValidationError) as exc:
            log.warning("status query of %s failed (%s); signalling the alarm anyway", workflow_id, exc)
            return True

    async def _signal_if_watched(self, workflow_id: str, notice: AlarmNotice) -> bool:
        if not await self._watches(workflow_id, notice.alarm_name):
            return False
        try:
            await self._client.get_workflow_handle(workflow_id).signal(SIGNAL_ALARM, notice)
        except RPCError as exc:
            # It may have ended between the listing and the signal; nothing to roll back then.
            log.warning("could not signal alarm %s to %s: %s", notice.alarm_name, workflow_id, exc.message)
            return False
        return True

    async def route(self, notice: AlarmNotice) -> list[str]:
        candidates = await self.running_migrations()
        # Each migration is signalled as soon as its own answer says it watches the alarm: one whose
        # query waits out ROUTER_QUERY_TIMEOUT (its worker gone) delays nobody's rollback but its own.
        sent = await asyncio.gather(*(self._signal_if_watched(wf_id, notice) for wf_id in candidates))
        signalled = [wf_id for wf_id, ok in zip(candidates, sent, strict=True) if ok]
        if not signalled:
            log.info("alarm %s is watched by no running migration", notice.alarm_name)
        return signalled


def topics_from(flags: list[str] | None, environ: dict[str, str] | None = None) -> set[str]:
    """The TopicArn allow-list: ``--topic`` flags, else ``MESHSHIFT_ALARM_TOPICS`` (comma-separated)."""
    if flags:
        return {t.strip() for t in flags if t.strip()}
    raw = (environ if environ is not None else dict(os.environ)).get(TOPICS_ENV, "")
    return {t.strip() for t in raw.split(",") if t.strip()}


async def serve_bridge(settings: TemporalSettings, topics: set[str], host: str, port: int, stop: asyncio.Event) -> None:
    """Connect to Temporal and serve the HTTP endpoint until ``stop`` is set."""
    client = await connect(settings)
    bridge = AlarmBridge(SnsVerifier(allowed_topics=topics), TemporalAlarmRouter(client))
    server = make_http_server(bridge, asyncio.get_running_loop(), host, port)
    thread = threading.Thread(target=server.serve_forever, name="alarm-bridge-http", daemon=True)
    thread.start()
    log.info(
        "alarm bridge listening on http://%s:%d for topics %s (%s)",
        host,
        server.server_address[1],
        ", ".join(sorted(topics)),
        settings.describe(),
    )
    try:
        await stop.wait()
    finally:
        await asyncio.to_thread(server.shutdown)
        server.server_close()


def register(app: typer.Typer) -> None:
    @app.command(name="alarm-bridge")
    def alarm_bridge(
        topic: Annotated[
            list[str] | None,
            typer.Option("--topic", help=f"Allowed SNS TopicArn (repeatable; env {TOPICS_ENV}, comma-separated)"),
        ] = None,
        host: Annotated[str, typer.Option("--host", help="Interface to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="Port to listen on")] = 8080,
        address: Annotated[
            str | None, typer.Option("--address", help="Temporal host:port (env TEMPORAL_ADDRESS)")
        ] = None,
        namespace: Annotated[str | None, typer.Option("--namespace", help="Namespace (env TEMPORAL_NAMESPACE)")] = None,
        log_level: Annotated[str, typer.Option("--log-level", help="Logging level")] = "INFO",
    ) -> None:
        """Serve the SNS -> `alarm` signal bridge for CloudWatch alarms.

        Subscribe the endpoint (HTTPS in front of it) to the alarm topics; only messages from the
        allowed topics, signed by SNS, are acted on. Refusals are answered 4xx with one log line."""
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        topics = topics_from(topic)
        if not topics:
            typer.echo(
                f"meshshift alarm-bridge: error: no SNS topics allowed; pass --topic ARN (repeatable) or set "
                f"{TOPICS_ENV}. The bridge refuses to trust any topic by default.",
                err=True,
            )
            raise typer.Exit(2)
        given: dict[str, Any] = {"address": address, "namespace": namespace}
        try:
            settings = TemporalSettings.model_validate({key: v for key, v in given.items() if v is not None})
        except ValueError as exc:
            typer.echo(f"meshshift alarm-bridge: error: {exc}", err=True)
            raise typer.Exit(2) from None

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await serve_bridge(settings, topics, host, port, stop)

        try:
            asyncio.run(main())
        except (TemporalUnreachable, OSError, ValueError) as exc:
            typer.echo(f"meshshift alarm-bridge: error: {exc}", err=True)
            raise typer.Exit(1) from None
