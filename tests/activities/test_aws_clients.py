"""The client factory's rate limiter and the one place that decides which AWS errors are retried."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from meshshift.activities.aws import RateLimiter, _heartbeat_while_waiting, aws_errors
from tests.fixtures_aws import VirtualClock


def test_limiter_allows_a_burst_then_the_rate() -> None:
    clock = VirtualClock()
    limiter = RateLimiter(clock=clock, sleep=clock.sleep)
    for _ in range(5):  # the bucket starts full: a burst of `rate` calls
        assert limiter.acquire("route53", "us-east-1", 5.0) == 0.0
    for _ in range(10):
        limiter.acquire("route53", "us-east-1", 5.0)
    assert clock.now == pytest.approx(2.0, abs=1e-6)  # 10 more calls at 5/s


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
