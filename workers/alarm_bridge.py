"""The alarm bridge: CloudWatch alarm -> SNS -> HTTP(S) -> this endpoint -> `alarm` signal.

It confirms SNS subscriptions, verifies every message (signature, certificate URL, topic
allow-list, age, size) before trusting a byte of it, maps the alarm to the running migrations
whose spec names it, and signals them. Refusals are answered 4xx with one log line each.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

import typer
from pydantic import BaseModel

from workers.commands_placeholder import placeholder
from workers.sns import MAX_BODY_BYTES, Refused, SnsVerifier, check_subscribe_url, parse_alarm

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


def register(app: typer.Typer) -> None:
    placeholder(app, "alarm-bridge", "Serve the SNS to alarm-signal bridge for CloudWatch alarms.")
