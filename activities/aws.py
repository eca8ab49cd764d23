"""boto3 clients for activities: standard configuration, standard retries, a client-side rate
limit per AWS service, and one place that decides which AWS errors are worth retrying.

Credentials, profile and endpoint come only from boto3's standard chain (``AWS_PROFILE``,
``AWS_REGION``, ``AWS_ENDPOINT_URL`` ...), so a simulated AWS needs no code path of its own.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from meshshift.migration.constants import COMPENSATION_PRIORITY_KEY
from meshshift.migration.contracts import AwsContext
from meshshift.migration.spec import RateLimits

if TYPE_CHECKING:
    from mypy_boto3_appmesh import AppMeshClient
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_servicediscovery import ServiceDiscoveryClient
    from mypy_boto3_sns import SNSClient


# The tokens of each bucket that only priority calls (a rollback's) may take: as many as a rollback
# makes on one service before its write lands (CloudFront: the primary, the staging distribution
# and the policy, read at once, then the write). Ordinary calls leave them in the bucket, so a
# compensation never queues behind ramp traffic on the same worker, while every call still comes
# out of the one bucket and the overall rate holds.
PRIORITY_RESERVE = 4.0
# How often a call queued behind the rate limit reports that it is still waiting (a heartbeat): far
# inside the shortest activity heartbeat timeout a run may set (1 s, RunOptions).
ON_WAIT_EVERY = 0.5


class RateLimiter:
    """A token bucket per (service, region), shared by every activity thread of the worker, with a
    priority lane.

    The rate can change per call (each migration's spec carries its own limits); the bucket
    simply refills at whatever rate the current caller asks for.

    Priority lane: an ordinary call may not take the bucket's last ``reserve`` tokens
    (PRIORITY_RESERVE, at most ``rate - 1`` so that ordinary calls keep a token of burst, and at
    least 1); a priority call may. Under contention ordinary
    callers therefore drain the bucket only down to the reserve, and a priority call finds it
    there; once the reserve is spent, a waiting priority call needs one token where a waiting
    ordinary call needs ``1 + reserve``, so the next refill goes to the priority call first. The
    bucket holds ``max(rate, 1 + reserve)`` tokens: the same burst as without the lane at limits
    of 2 calls/s and more (below that, a burst of 2, still far under AWS's own quotas).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        reserve: float = PRIORITY_RESERVE,
        on_wait_every: float = ON_WAIT_EVERY,
    ):
        self._clock = clock
        self._sleep = sleep
        self._reserve = reserve
        self._on_wait_every = on_wait_every
        self._lock = threading.Lock()
        self._state: dict[tuple[str, str], tuple[float, float]] = {}  # key -> (tokens, last refill)

    def reserve(self, rate: float) -> float:
        """Tokens of a bucket at ``rate`` that only priority calls may take (none with a reserve of
        0: one lane, as before the priority lane existed; the benchmarks compare the two)."""
        if self._reserve <= 0:
            return 0.0
        return min(self._reserve, max(1.0, rate - 1.0))

    def acquire(
        self,
        service: str,
        region: str,
        rate: float,
        on_wait: Callable[[float], None] | None = None,
        *,
        priority: bool = False,
    ) -> float:
        """Block until a call is allowed; returns the seconds waited.

        ``priority`` calls may take the reserved tokens (see the class). ``on_wait(seconds_so_far)``
        runs before the first pause and then every ``on_wait_every`` seconds of waiting: activities
        heartbeat there, so a long queue behind a busy limit (many migrations sharing a 5 calls/s
        Route 53 quota) does not look like a hung activity and time out its heartbeat. Not before
        every pause: fifty queued calls pause at every refill, and fifty heartbeats each time kept
        the worker's event loop busy when a rollback's workflow task needed it.
        """
        reserve = self.reserve(rate)
        burst = max(rate, 1.0 + reserve) if reserve else max(rate, 1.0)
        need = 1.0 if priority else 1.0 + reserve
        waited = 0.0
        reported_at: float | None = None  # ``waited`` when on_wait last ran
        while True:
            with self._lock:
                now = self._clock()
                tokens, last = self._state.get((service, region), (burst, now))
                tokens = min(burst, tokens + (now - last) * rate)
                # Tolerance: refilling by exactly the missing fraction can land a rounding error
                # short of the need, and with a virtual clock that never advances enough, loop forever.
                if tokens >= need - 1e-9:
                    self._state[(service, region)] = (tokens - 1.0, now)
                    return waited
                self._state[(service, region)] = (tokens, now)
                delay = (need - tokens) / rate
            if on_wait is not None and (reported_at is None or waited - reported_at >= self._on_wait_every):
                on_wait(waited)
                reported_at = waited
            self._sleep(delay)
            waited += delay


# Set by an activity that knows from its input that it is a rollback's: a local activity carries
# no task priority of its own.
_ROLLBACK = contextvars.ContextVar("meshshift_rollback_call", default=False)


@contextmanager
def rollback_calls(rollback: bool) -> Iterator[None]:
    """With ``rollback``, the AWS calls made inside (and in threads started with a copy of this
    context) are a rollback's: they take the rate limiter's priority lane."""
    token = _ROLLBACK.set(rollback)
    try:
        yield
    finally:
        _ROLLBACK.reset(token)


def priority_call() -> bool:
    """True inside an activity that Temporal runs at compensation priority (the workflow schedules
    a rollback's activities with ``priority_key`` COMPENSATION_PRIORITY_KEY; lower goes first), or
    inside ``rollback_calls``."""
    if _ROLLBACK.get():
        return True
    if not activity.in_activity():
        return False
    key = activity.info().priority.priority_key
    return key is not None and 0 < key <= COMPENSATION_PRIORITY_KEY


# Per-service attribute name in RateLimits for each boto3 service name.
_RATE_FIELD = {
    "ecs": "ecs",
    "elbv2": "elbv2",
    "route53": "route53",
    "cloudfront": "cloudfront",
    "cloudwatch": "cloudwatch",
    "appmesh": "appmesh",
    "servicediscovery": "servicediscovery",
}


# Connections kept per AWS service: a worker's default activity and compensation slots.
DEFAULT_POOL_CONNECTIONS = 60


class AwsClients:
    """Builds each boto3 client once per (service, region); thread-safe.

    ``hooks`` are extra botocore event handlers (event name -> handler) installed on every
    client: the fault-injection layer of the reliability tests and the IAM call recorder use it.
    """

    def __init__(
        self,
        session: boto3.Session | None = None,
        limiter: RateLimiter | None = None,
        max_attempts: int = 10,
        hooks: list[tuple[str, Callable[..., Any]]] | None = None,
        max_pool_connections: int = DEFAULT_POOL_CONNECTIONS,
    ) -> None:
        self._session = session or boto3.Session()
        self._limiter = limiter or RateLimiter()
        # One client per AWS service is shared by every activity thread: with botocore's default
        # pool of 10 connections, an 11th concurrent call opens a new connection and the pool
        # discards one after it (a new TLS handshake per call on AWS). The worker passes its slots.
        self._config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts}, max_pool_connections=max_pool_connections
        )
        self._hooks = list(hooks or [])
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        # The spec's limits for the call in flight on this thread (set by client()).
        self._local = threading.local()

    def region_for(self, ctx: AwsContext) -> str:
        region = ctx.region or self._session.region_name
        if not region:
            raise ApplicationError(
                "No AWS region: set `region` in the spec or AWS_REGION in the worker's environment.",
                type="MissingRegion",
                non_retryable=True,
            )
        return region

    def warm(self, services: Sequence[str]) -> str | None:
        """Build the clients of ``services`` now, in the worker's default region, instead of on their
        first call (each takes tens of milliseconds to load its service model: a rollback's first
        call should not pay that). Returns the region, or None when the worker has no default region
        (specs then name their own, and the clients are built on first use as before)."""
        region = self._session.region_name
        if not region:
            return None
        ctx = AwsContext(region=region)
        for service in services:
            self._client(service, ctx)
        return region

    def _client(self, service: str, ctx: AwsContext) -> Any:
        region = self.region_for(ctx)
        key = (service, region)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._session.client(service, region_name=region, config=self._config)  # type: ignore[call-overload]
                client.meta.events.register("before-send", self._rate_limit_hook(service, region))
                for event, handler in self._hooks:
                    client.meta.events.register(event, handler)
                self._clients[key] = client
        self._local.limits = ctx.rate_limits
        return client

    def _rate_limit_hook(self, service: str, region: str) -> Callable[..., None]:
        field = _RATE_FIELD.get(service)

        def hook(**_: Any) -> None:
            # Fires once per HTTP attempt, so botocore's own retries are rate limited too.
            limits: RateLimits = getattr(self._local, "limits", None) or RateLimits()
            rate = float(getattr(limits, field)) if field else 50.0
            self._limiter.acquire(service, region, rate, on_wait=_heartbeat_while_waiting, priority=priority_call())

        return hook

    def ecs(self, ctx: AwsContext) -> ECSClient:
        return self._client("ecs", ctx)  # type: ignore[no-any-return]

    def elbv2(self, ctx: AwsContext) -> ElasticLoadBalancingv2Client:
        return self._client("elbv2", ctx)  # type: ignore[no-any-return]

    def route53(self, ctx: AwsContext) -> Route53Client:
        return self._client("route53", ctx)  # type: ignore[no-any-return]

    def cloudfront(self, ctx: AwsContext) -> CloudFrontClient:
        return self._client("cloudfront", ctx)  # type: ignore[no-any-return]

    def cloudwatch(self, ctx: AwsContext) -> CloudWatchClient:
        return self._client("cloudwatch", ctx)  # type: ignore[no-any-return]

    def appmesh(self, ctx: AwsContext) -> AppMeshClient:
        return self._client("appmesh", ctx)  # type: ignore[no-any-return]

    def servicediscovery(self, ctx: AwsContext) -> ServiceDiscoveryClient:
        return self._client("servicediscovery", ctx)  # type: ignore[no-any-return]

    def sns(self, ctx: AwsContext) -> SNSClient:
        return self._client("sns", ctx)  # type: ignore[no-any-return]

    def secretsmanager(self, ctx: AwsContext) -> Any:
        # No type stubs for Secrets Manager in the dev install; one call (GetSecretValue) is used.
        return self._client("secretsmanager", ctx)


def _heartbeat_while_waiting(waited: float) -> None:
    if activity.in_activity():
        activity.heartbeat(f"waiting {waited:.1f}s for the client-side AWS rate limit")


# --- errors -------------------------------------------------------------------------------------

# Throttling and transient server errors: retried by botocore first, then by Temporal.
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "PriorRequestNotComplete",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "ServerException",
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
        "ConcurrentModification",  # Route 53 / CloudFront optimistic locking: re-read and retry
        "PreconditionFailed",  # CloudFront IfMatch lost a race: re-read the ETag and retry
    }
)

_HINTS = {
    "AccessDenied": "grant the worker's IAM role this action (see docs/iam-policy.json)",
    "AccessDeniedException": "grant the worker's IAM role this action (see docs/iam-policy.json)",
    "UnauthorizedOperation": "grant the worker's IAM role this action (see docs/iam-policy.json)",
    "ExpiredToken": "refresh the worker's AWS credentials",
    "ExpiredTokenException": "refresh the worker's AWS credentials",
    "InvalidClientTokenId": "check the worker's AWS credentials",
}


def is_transient(err: ClientError) -> bool:
    code = err.response.get("Error", {}).get("Code", "")
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return code in TRANSIENT_CODES or status >= 500


@contextmanager
def aws_errors(action: str, hint: str | None = None) -> Iterator[None]:
    """Turn boto errors into Temporal errors that say what failed and what to do.

    Transient errors stay retryable (Temporal's retry policy takes over after botocore's own
    retries); everything else is permanent, because retrying an AccessDenied or a validation
    error for hours helps no one at 3 a.m.
    """
    try:
        yield
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "Unknown")
        message = err.response.get("Error", {}).get("Message", str(err))
        if is_transient(err):
            raise ApplicationError(f"{action}: transient AWS error {code}: {message}", type=code) from err
        advice = hint or _HINTS.get(code) or "fix the resource or the spec, then retry the migration"
        raise ApplicationError(
            f"{action} failed: {code}: {message}. Next: {advice}.", type=code, non_retryable=True
        ) from err
    except BotoCoreError as err:
        # Connection and endpoint errors: usually the network or a restarting endpoint.
        raise ApplicationError(f"{action}: {type(err).__name__}: {err}", type=type(err).__name__) from err


def error_code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))
