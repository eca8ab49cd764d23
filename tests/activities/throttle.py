"""Throttling faults for activity tests: answer one AWS call with the service's real throttling
error, so botocore's standard retry mode retries it and the activity must still succeed.

The error body is encoded in the client's own wire protocol (json, rest-json, query, rest-xml or
smithy-rpc-v2-cbor), so botocore parses it exactly as it would parse AWS's answer.

In server mode the throttled request never reaches the simulation. Under ``mock_aws`` it still
does (moto's own ``before-send`` handler runs too), which models a request whose answer was lost
after AWS applied it: the activity's retry must then find the change already made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse


def _cbor_text(value: str) -> bytes:
    data = value.encode()
    if len(data) < 24:
        return bytes([0x60 + len(data)]) + data
    if len(data) < 256:
        return bytes([0x78, len(data)]) + data
    return bytes([0x79]) + len(data).to_bytes(2, "big") + data


def _error_body(protocol: str, code: str, message: str) -> tuple[bytes, dict[str, str]]:
    if protocol == "json":
        return json.dumps({"__type": code, "message": message}).encode(), {"Content-Type": "application/x-amz-json-1.1"}
    if protocol == "rest-json":
        return json.dumps({"message": message}).encode(), {
            "Content-Type": "application/json",
            "x-amzn-ErrorType": code,
        }
    if protocol == "smithy-rpc-v2-cbor":
        body = bytes([0xA2]) + _cbor_text("__type") + _cbor_text(code) + _cbor_text("message") + _cbor_text(message)
        return body, {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
    # query and rest-xml
    xml = (
        f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
        "<RequestId>throttle-test</RequestId></ErrorResponse>"
    )
    return xml.encode(), {"Content-Type": "text/xml"}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class ThrottleOnce:
    """A ``before-send`` handler that answers the first ``times`` calls with a throttling error."""

    def __init__(self, protocol: str, code: str, times: int = 1, status: int = 400) -> None:
        self.protocol = protocol
        self.code = code
        self.remaining = times
        self.status = status
        self.fired = 0

    def __call__(self, request: Any = None, **_: Any) -> AWSResponse | None:
        if self.remaining <= 0:
            return None
        self.remaining -= 1
        self.fired += 1
        body, headers = _error_body(self.protocol, self.code, "Rate exceeded")
        return AWSResponse(getattr(request, "url", "https://throttled"), self.status, headers, _Raw(body))


def throttle_once(client: Any, operation: str, code: str, times: int = 1) -> ThrottleOnce:
    """Make ``client``'s next ``times`` calls of ``operation`` fail with ``code`` (then pass)."""
    model = client.meta.service_model
    handler = ThrottleOnce(model.resolved_protocol, code, times)
    service_id = model.service_id.hyphenize()
    client.meta.events.register_first(f"before-send.{service_id}.{operation}", handler)
    return handler


@pytest.fixture
def no_retry_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retries without their exponential sleep (tests stay fast)."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
