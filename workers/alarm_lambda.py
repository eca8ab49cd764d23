"""The alarm bridge as an AWS Lambda handler (CloudWatch alarm -> SNS -> Lambda -> `alarm` signal).

Set the function's handler to ``meshshift.workers.alarm_lambda.handler`` and its environment to
``MESHSHIFT_ALARM_TOPICS`` (the allowed TopicArns, comma-separated) and the usual ``TEMPORAL_*``
variables (``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY`` or the mTLS paths).

Each SNS record is verified exactly as the HTTP bridge verifies a request (signature, certificate
URL rule, topic allow-list, age) before it is routed. Lambda's SNS records differ from HTTP
deliveries in two key names (``SigningCertUrl``, ``UnsubscribeUrl``); they are mapped back.
A refused record is logged and dropped (retrying cannot make it valid); a failure to reach
Temporal raises, so Lambda retries the invocation.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from pydantic import BaseModel

from meshshift.workers.alarm_bridge import AlarmBridge, BridgeOutcome, TemporalAlarmRouter, topics_from
from meshshift.workers.connection import TemporalSettings, connect
from meshshift.workers.sns import SnsVerifier

log = logging.getLogger("meshshift.alarm_lambda")

# Lambda's SNS event record spells these differently from the HTTP delivery that SNS signs.
_LAMBDA_KEYS = {"SigningCertUrl": "SigningCertURL", "UnsubscribeUrl": "UnsubscribeURL"}


class LambdaResult(BaseModel):
    outcomes: list[BridgeOutcome]


def sns_body(record: dict[str, Any]) -> bytes:
    """One Lambda SNS record as the JSON body an HTTP subscriber would have received."""
    sns = record.get("Sns")
    if not isinstance(sns, dict):
        # Verification refuses it with a clear reason; nothing in it is trusted.
        return json.dumps({"Record": "without Sns"}).encode()
    envelope = {_LAMBDA_KEYS.get(key, key): value for key, value in sns.items()}
    # Lambda sends "Subject": null when the message had none; SNS signed it without the key.
    envelope = {key: value for key, value in envelope.items() if value is not None}
    envelope.pop("MessageAttributes", None)
    return json.dumps(envelope).encode()


async def handle_event(event: dict[str, Any], bridge: AlarmBridge) -> LambdaResult:
    records = event.get("Records")
    if not isinstance(records, list):
        log.warning("refused Lambda event: no Records list")
        return LambdaResult(outcomes=[BridgeOutcome(status=400, detail="no Records")])
    outcomes = [await bridge.handle(sns_body(r if isinstance(r, dict) else {})) for r in records]
    return LambdaResult(outcomes=outcomes)


class _Runtime:
    """State kept across warm invocations: one event loop and one Temporal client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.bridge: AlarmBridge | None = None

    async def get_bridge(self) -> AlarmBridge:
        if self.bridge is None:
            topics = topics_from(None)
            if not topics:
                raise RuntimeError("MESHSHIFT_ALARM_TOPICS is empty: the alarm bridge trusts no topic by default")
            client = await connect(TemporalSettings())
            self.bridge = AlarmBridge(SnsVerifier(allowed_topics=topics), TemporalAlarmRouter(client))
        return self.bridge

    async def run(self, event: dict[str, Any]) -> LambdaResult:
        return await handle_event(event, await self.get_bridge())


_runtime: _Runtime | None = None


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point."""
    global _runtime
    if _runtime is None:
        logging.getLogger().setLevel(logging.INFO)
        _runtime = _Runtime()
    result = _runtime.loop.run_until_complete(_runtime.run(event))
    for outcome in result.outcomes:
        if outcome.status >= 500:
            raise RuntimeError(f"alarm bridge could not deliver: {outcome.detail}")
    return result.model_dump()
