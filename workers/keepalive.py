"""Liveness heartbeats for every activity, so a dead worker is noticed in seconds.

Temporal learns that a worker died only from an activity's timeouts. Every meshshift activity is
scheduled with a heartbeat timeout; this interceptor heartbeats on the activity's behalf whenever
the activity itself has been quiet for a third of that timeout. A worker that is SIGKILLed (or
loses an activity task while shutting down) therefore costs one heartbeat timeout, not the whole
start-to-close timeout of up to 35 minutes.

The keepalive repeats the activity's own last details, so what the Web UI shows as the last
heartbeat stays meaningful. It runs on the worker's event loop: a sync activity wedged in its
thread keeps being reported alive, which start-to-close still bounds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio.worker import (
    ActivityInboundInterceptor,
    ActivityOutboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)


class KeepaliveInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _KeepaliveInbound(next)


class _RecordingOutbound(ActivityOutboundInterceptor):
    """Remembers when the activity last heartbeat, and with what."""

    def __init__(self, next: ActivityOutboundInterceptor) -> None:
        super().__init__(next)
        self.last_beat = time.monotonic()
        self.last_details: tuple[Any, ...] = ()

    def heartbeat(self, *details: Any) -> None:
        self.last_beat = time.monotonic()
        self.last_details = details
        super().heartbeat(*details)


class _KeepaliveInbound(ActivityInboundInterceptor):
    _outbound: _RecordingOutbound

    def init(self, outbound: ActivityOutboundInterceptor) -> None:
        self._outbound = _RecordingOutbound(outbound)
        super().init(self._outbound)

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        timeout = self._outbound.info().heartbeat_timeout
        if not timeout:  # local activities, and activities scheduled without one
            return await super().execute_activity(input)
        keepalive = asyncio.create_task(self._beat(timeout.total_seconds() / 3))
        try:
            return await super().execute_activity(input)
        finally:
            keepalive.cancel()

    async def _beat(self, interval: float) -> None:
        outbound = self._outbound
        while True:
            quiet_for = time.monotonic() - outbound.last_beat
            if quiet_for >= interval:
                outbound.heartbeat(*outbound.last_details)
                quiet_for = 0.0
            await asyncio.sleep(interval - quiet_for)
