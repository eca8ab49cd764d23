"""Fault injection for AWS calls: a chaos-testing switch, OFF unless ``MESHSHIFT_FAULTS`` is set.

``MESHSHIFT_FAULTS="throttle=0.3,error5xx=0.05,delay=0.1:0.2,seed=7"`` makes a fraction of the
worker's AWS calls fail the way AWS fails them, so the reliability tests can show that
migrations still end in the right state:

- ``throttle=P``: with probability P an HTTP attempt gets the service's own throttling error
  (ECS ``ThrottlingException``; ELBv2, Route 53, CloudFront, CloudWatch ``Throttling``; App Mesh
  ``TooManyRequestsException``; Cloud Map ``RequestLimitExceeded``), in the service's wire
  protocol, so botocore parses and retries it exactly as a real one;
- ``error5xx=P``: with probability P an attempt gets a 503 ``ServiceUnavailable``;
- ``delay=A:B``: every other attempt waits a uniform A..B seconds first (a slow network);
- ``seed=N``: the random sequence, for reproducible runs.

How a fault is injected (why two hooks): botocore emits ``before-send`` to EVERY handler and
uses the first answer, so a handler that only supplies an answer cannot stop another
``before-send`` handler (moto's ``mock_aws`` stubber is one) from executing the call. The fault
is therefore decided earlier, at ``request-created``: the request is re-addressed to a host that
cannot exist (``fault.meshshift.invalid``), so nothing, neither moto nor AWS, ever receives it,
and the ``before-send`` hook answers it. Each HTTP attempt (botocore retries included) is a new
request and gets its own draw.

Install with ``AwsClients(hooks=FaultInjector(config).hooks())``; ``from_environment()`` returns
None when the variable is unset, and the worker then installs nothing.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

FAULTS_ENV = "MESHSHIFT_FAULTS"
_log = logging.getLogger("meshshift.faults")
FAULT_HOST = "fault.meshshift.invalid"
_FAULT_URL = f"https://{FAULT_HOST}/"
_KIND_HEADER = "x-meshshift-fault"

# Per botocore service id (hyphenized): the throttling error code AWS returns.
THROTTLE_CODES: dict[str, str] = {
    "ecs": "ThrottlingException",
    "elastic-load-balancing-v2": "Throttling",
    "route-53": "Throttling",
    "cloudfront": "Throttling",
    "cloudwatch": "Throttling",
    "app-mesh": "TooManyRequestsException",
    "servicediscovery": "RequestLimitExceeded",
    "sqs": "ThrottlingException",
}
# Services whose REST-JSON protocol carries the error code in a header.
_REST_JSON = frozenset({"app-mesh"})
_REST_XML = frozenset({"route-53", "cloudfront", "s3"})


class FaultConfigError(ValueError):
    """``MESHSHIFT_FAULTS`` could not be read; the message names the item and the expected form."""


@dataclass(frozen=True)
class FaultConfig:
    throttle: float = 0.0
    error5xx: float = 0.0
    delay: tuple[float, float] = (0.0, 0.0)
    seed: int | None = None

    @classmethod
    def parse(cls, text: str) -> FaultConfig:
        values: dict[str, Any] = {}
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            key, sep, raw = item.partition("=")
            key = key.strip()
            try:
                if not sep:
                    raise ValueError("no '='")
                if key in ("throttle", "error5xx"):
                    p = float(raw)
                    if not 0.0 <= p <= 1.0:
                        raise ValueError("not in 0..1")
                    values[key] = p
                elif key == "delay":
                    low, _, high = raw.partition(":")
                    pair = (float(low), float(high or low))
                    if not 0.0 <= pair[0] <= pair[1]:
                        raise ValueError("not 0 <= A <= B")
                    values[key] = pair
                elif key == "seed":
                    values[key] = int(raw)
                else:
                    raise ValueError("unknown key")
            except ValueError as exc:
                raise FaultConfigError(
                    f"{FAULTS_ENV}: cannot read {item!r} ({exc}); expected items like "
                    "throttle=0.3, error5xx=0.05, delay=0.1:0.2, seed=7 (probabilities in 0..1, delays in seconds)"
                ) from None
        config = cls(**values)
        if config.throttle + config.error5xx > 1.0:
            raise FaultConfigError(f"{FAULTS_ENV}: throttle + error5xx must be at most 1, got {text!r}")
        return config

    @property
    def active(self) -> bool:
        return self.throttle > 0 or self.error5xx > 0 or self.delay[1] > 0


class FaultInjector:
    """Decides, per HTTP attempt, to throttle, fail with a 5xx, delay, or let the call through.

    ``stats`` counts what was done (``throttle``, ``error5xx``, ``delayed``, ``passed``) per kind
    and per (kind, service); thread-safe, since activities run on a thread pool.
    """

    def __init__(self, config: FaultConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self._random = random.Random(config.seed)
        self._lock = threading.Lock()
        self._sleep = sleep
        self.stats: Counter[str] = Counter()

    def hooks(self) -> list[tuple[str, Callable[..., Any]]]:
        return [("request-created", self._on_request_created), ("before-send", self._on_before_send)]

    def _draw(self) -> tuple[str, float]:
        with self._lock:
            roll = self._random.random()
            low, high = self.config.delay
            pause = self._random.uniform(low, high) if high > 0 else 0.0
        if roll < self.config.throttle:
            return "throttle", 0.0
        if roll < self.config.throttle + self.config.error5xx:
            return "error5xx", 0.0
        return ("delayed" if pause > 0 else "passed"), pause

    def _count(self, kind: str, service: str) -> None:
        with self._lock:
            self.stats[kind] += 1
            self.stats[f"{kind}:{service}"] += 1

    def _on_request_created(self, request: Any, event_name: str = "", **_: Any) -> None:
        service = _service_of(event_name)
        kind, pause = self._draw()
        self._count(kind, service)
        if kind in ("throttle", "error5xx"):
            _log.info("injected %s on %s", kind, event_name.split(".", 1)[-1])
            # Re-addressed so that no endpoint (moto in-process, a server, AWS) can receive it.
            request.url = _FAULT_URL
            request.headers[_KIND_HEADER] = f"{kind};{service}"
        elif pause > 0:
            self._sleep(pause)

    def _on_before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        marker = request.headers.get(_KIND_HEADER)
        if marker is None or FAULT_HOST not in str(request.url):
            return None
        if isinstance(marker, bytes):
            marker = marker.decode()
        kind, _sep, service = str(marker).partition(";")
        return fault_response(kind, service, request.headers)


def _service_of(event_name: str) -> str:
    # "request-created.elastic-load-balancing-v2.ModifyListener" -> "elastic-load-balancing-v2"
    parts = event_name.split(".")
    return parts[1] if len(parts) > 2 else "unknown"


def _header(headers: Mapping[str, Any], name: str) -> str:
    value = headers.get(name) or ""
    return value.decode() if isinstance(value, bytes) else str(value)


def fault_response(kind: str, service: str, request_headers: Mapping[str, Any]) -> AWSResponse:
    """The error AWS would send, in the protocol the client speaks for ``service``."""
    if kind == "throttle":
        code = THROTTLE_CODES.get(service, "Throttling")
        status = 429 if service in _REST_JSON else 400
        message = "Rate exceeded (injected by MESHSHIFT_FAULTS)"
    else:
        code, status, message = "ServiceUnavailable", 503, "Service unavailable (injected by MESHSHIFT_FAULTS)"
    request_id = str(uuid4())
    headers: dict[str, str] = {"x-amzn-requestid": request_id}
    if "rpc-v2-cbor" in _header(request_headers, "Smithy-Protocol"):
        headers |= {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
        body = _cbor_text_map({"__type": code, "message": message})
    elif _header(request_headers, "Content-Type").startswith("application/x-amz-json"):
        headers["Content-Type"] = _header(request_headers, "Content-Type")
        body = json.dumps({"__type": code, "message": message}).encode()
    elif service in _REST_JSON:
        headers |= {"Content-Type": "application/json", "x-amzn-ErrorType": f"{code}:"}
        body = json.dumps({"message": message}).encode()
    else:
        # Query (ELBv2, CloudWatch query) and REST-XML (Route 53, CloudFront) share this shape.
        headers["Content-Type"] = "text/xml"
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
    http_headers = HTTPHeaders()
    for name, value in headers.items():
        http_headers[name] = value
    return AWSResponse(_FAULT_URL, status, http_headers, _Raw(body))


class _Raw:
    """The raw body botocore reads from an AWSResponse."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body

    def read(self, *_: Any) -> bytes:
        body, self._body = self._body, b""
        return body


def _cbor_text_map(values: dict[str, str]) -> bytes:
    """CBOR (RFC 8949) for a small map of text to text: all the rpc-v2-cbor error body needs."""

    def head(major: int, length: int) -> bytes:
        if length < 24:
            return bytes([major << 5 | length])
        if length < 256:
            return bytes([major << 5 | 24, length])
        return bytes([major << 5 | 25]) + length.to_bytes(2, "big")

    out = bytearray(head(5, len(values)))
    for key, value in values.items():
        for text in (key, value):
            data = text.encode()
            out += head(3, len(data)) + data
    return bytes(out)


def from_environment(environ: Mapping[str, str]) -> FaultInjector | None:
    """The injector configured by ``MESHSHIFT_FAULTS``, or None when it is unset or empty."""
    text = environ.get(FAULTS_ENV, "").strip()
    if not text:
        return None
    config = FaultConfig.parse(text)
    return FaultInjector(config) if config.active else None


def worker_hooks(environ: Mapping[str, str] | None = None) -> list[tuple[str, Callable[..., Any]]]:
    """The botocore hooks for the worker's AwsClients: none unless ``MESHSHIFT_FAULTS`` is set."""
    import os

    injector = from_environment(os.environ if environ is None else environ)
    if injector is None:
        return []
    _log.warning(
        "%s is set: injecting AWS faults (%s); this is a chaos-testing switch, never use it in production",
        FAULTS_ENV,
        injector.config,
    )
    return injector.hooks()
