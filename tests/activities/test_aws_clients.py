"""The client factory's rate limiter and the one place that decides which AWS errors are retried."""

from __future__ import annotations

import dataclasses
import itertools

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from temporalio.common import Priority
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import (
    ON_WAIT_EVERY,
    AwsClients,
    RateLimiter,
    _heartbeat_while_waiting,
    aws_errors,
    priority_call,
)
from meshshift.activities.edge.activities import EdgeActivities
from meshshift.migration.constants import COMPENSATION_PRIORITY_KEY
from meshshift.migration.contracts import AwsContext
from tests.fixtures_aws import VirtualClock


def test_limiter_allows_a_burst_then_the_rate() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    assert limiter.reserve(5.0) == 4.0  # a rollback's burst on one service
    assert limiter.reserve(20.0) == 4.0
    # The bucket starts full: a burst of `rate` calls less the priority reserve.
    assert limiter.acquire("route53", "us-east-1", 5.0) == 0.0
    for _ in range(10):
        limiter.acquire("route53", "us-east-1", 5.0)
    assert clock.now == pytest.approx(2.0, abs=1e-6)  # 10 more calls at 5/s


def test_priority_calls_find_the_reserve_while_ordinary_calls_queue() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    for _ in range(20):  # a busy ramp: ordinary calls back to back, every one of them waiting
        limiter.acquire("route53", "us-east-1", 5.0)
    assert limiter.acquire("route53", "us-east-1", 5.0) > 0.0  # the next ordinary call queues ...
    # ... while a rollback's calls take the four reserved tokens at once,
    for _ in range(4):
        assert limiter.acquire("route53", "us-east-1", 5.0, priority=True) == 0.0
    # and once the reserve is spent, a priority call needs one token where an ordinary one needs
    # five: the next refill is the priority call's.
    assert limiter.acquire("route53", "us-east-1", 5.0, priority=True) == pytest.approx(0.2)


def test_both_lanes_together_keep_the_overall_rate() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    for calls, i in enumerate(range(200), start=1):
        limiter.acquire("cloudfront", "us-east-1", 5.0, priority=i % 3 == 0)
        # Never more than the bucket (5 tokens) plus what the rate refilled since the start.
        assert calls <= 5 + 5.0 * clock.now + 1e-6


def test_without_the_lane_priority_changes_nothing() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep, reserve=0.0)
    for _ in range(5):  # the whole bucket is for everyone
        assert limiter.acquire("route53", "us-east-1", 5.0) == 0.0
    assert limiter.acquire("route53", "us-east-1", 5.0, priority=True) == pytest.approx(0.2)


def test_a_slow_limit_still_has_a_reserved_token() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    assert limiter.acquire("route53", "us-east-1", 0.5) == 0.0
    assert limiter.acquire("route53", "us-east-1", 0.5, priority=True) == 0.0
    assert limiter.acquire("route53", "us-east-1", 0.5, priority=True) == pytest.approx(2.0)


def test_compensation_priority_puts_an_activity_in_the_priority_lane() -> None:
    rollback = ActivityEnvironment()
    rollback.info = dataclasses.replace(rollback.info, priority=Priority(priority_key=COMPENSATION_PRIORITY_KEY))
    assert rollback.run(priority_call) is True
    assert ActivityEnvironment().run(priority_call) is False  # default priority: the ordinary lane
    low = ActivityEnvironment()
    low.info = dataclasses.replace(low.info, priority=Priority(priority_key=5))
    assert low.run(priority_call) is False
    assert priority_call() is False  # outside an activity


def test_edge_threads_see_the_activity_priority() -> None:
    """The edge activity writes its shifters from a thread pool; each thread must still be in the
    activity, or a rollback's calls would drop back into the ordinary lane."""
    rollback = ActivityEnvironment()
    rollback.info = dataclasses.replace(rollback.info, priority=Priority(priority_key=COMPENSATION_PRIORITY_KEY))
    edges = EdgeActivities(AwsClients())
    seen = rollback.run(lambda: edges._all(list(range(4)), lambda _i: priority_call()))
    assert seen == [True] * 4


def test_limiter_buckets_are_per_service_and_region() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    limiter.acquire("route53", "us-east-1", 1.0)
    assert limiter.acquire("ecs", "us-east-1", 1.0) == 0.0
    assert limiter.acquire("route53", "eu-west-1", 1.0) == 0.0
    assert limiter.acquire("route53", "us-east-1", 1.0) > 0.0


def test_waiting_heartbeats_inside_an_activity() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    beats: list[object] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details)

    def run() -> None:
        for _ in range(4):
            limiter.acquire("cloudfront", "us-east-1", 1.0, on_wait=_heartbeat_while_waiting)

    env.run(run)
    assert len(beats) == 3  # one per pause; the first call used the burst


def test_a_long_wait_reports_itself_twice_a_second_not_at_every_pause() -> None:
    """A call queued behind others pauses at every refill (every 0.2 s at 5 calls/s) while they
    take the tokens; it reports at its first pause, then every ON_WAIT_EVERY seconds of waiting."""
    clock = VirtualClock()
    steals = 20

    def others_take_the_refill(seconds: float) -> None:
        nonlocal steals
        clock.sleep(seconds)
        if steals:
            steals -= 1
            limiter.acquire("route53", "us-east-1", 5.0, priority=True)

    limiter = RateLimiter(clock=clock, sleep=others_take_the_refill, reserve=0.0)
    for _ in range(5):
        limiter.acquire("route53", "us-east-1", 5.0)  # the burst, spent
    reports: list[float] = []

    waited = limiter.acquire("route53", "us-east-1", 5.0, on_wait=reports.append)

    assert waited == pytest.approx(4.2)  # 21 pauses of 0.2 s
    gaps = [b - a for a, b in itertools.pairwise(reports)]
    assert reports[0] == 0.0 and len(reports) == 7
    assert all(ON_WAIT_EVERY <= gap <= ON_WAIT_EVERY + 0.2 + 1e-9 for gap in gaps)


def test_waiting_outside_an_activity_does_not_heartbeat() -> None:
    _heartbeat_while_waiting(1.0)  # no activity context: must be a no-op, not an error


def _client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


@pytest.mark.parametrize(
    "code", ["Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"]
)
def test_throttling_stays_retryable(code: str) -> None:
    with pytest.raises(ApplicationError) as info, aws_errors("set weights"):
        raise _client_error(code)
    assert not info.value.non_retryable and info.value.type == code


def test_server_errors_stay_retryable() -> None:
    with pytest.raises(ApplicationError) as info, aws_errors("describe"):
        raise _client_error("SomethingOdd", status=503)
    assert not info.value.non_retryable


def test_access_denied_is_permanent_and_says_what_to_do() -> None:
    with pytest.raises(ApplicationError) as info, aws_errors("modify listener L"):
        raise _client_error("AccessDenied", status=403)
    assert info.value.non_retryable
    assert "modify listener L failed: AccessDenied" in str(info.value)
    assert "iam-policy.json" in str(info.value)


def test_connection_errors_are_retryable() -> None:
    with pytest.raises(ApplicationError) as info, aws_errors("describe"):
        raise EndpointConnectionError(endpoint_url="https://ecs.us-east-1.amazonaws.com")
    assert not info.value.non_retryable


def test_each_client_keeps_a_connection_for_every_concurrent_call() -> None:
    """botocore keeps 10 connections per client by default: an 11th concurrent activity call on
    the shared client would open (on AWS: handshake) a new connection and have it thrown away."""
    clients = AwsClients(max_pool_connections=75)
    assert clients.ecs(AwsContext(region="us-east-1")).meta.config.max_pool_connections == 75
    assert AwsClients().route53(AwsContext(region="us-east-1")).meta.config.max_pool_connections == 60


def test_warm_builds_the_clients_before_their_first_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """A compensation worker builds a rollback's clients at start (workers/worker.py); the calls
    later get the very same clients, in the worker's default region."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    session = boto3.Session()
    built: list[str] = []
    make = session.client
    monkeypatch.setattr(session, "client", lambda service, **kw: built.append(service) or make(service, **kw))
    clients = AwsClients(session=session)
    assert clients.warm(["ecs", "route53"]) == "eu-west-1"
    assert built == ["ecs", "route53"]
    assert clients.ecs(AwsContext()).meta.region_name == "eu-west-1"
    assert built == ["ecs", "route53"]  # the call got the client built at start


def test_warm_without_a_default_region_builds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    clients = AwsClients(session=boto3.Session())
    assert clients.warm(["route53"]) is None
