"""Simulated-AWS fixtures (a pytest plugin, listed in tests/conftest.py).

No test ever reaches real AWS: fake credentials are forced for the whole session, the user's
``~/.aws`` files and ``AWS_PROFILE`` are hidden, and every AWS call goes either to moto in-process
(``aws_inprocess``) or to a local moto server (``aws_server_env``). Both carry meshshift's
extensions (``meshshift.sim.aws``).

Fixture names are stable; other test modules rely on them:

- ``aws_inprocess``: moto's ``mock_aws`` around the test, extensions installed;
- ``moto_server``: session-wide ThreadedMotoServer on a free 127.0.0.1 port; yields its endpoint;
- ``aws_server_env``: points ``AWS_ENDPOINT_URL`` at ``moto_server`` and resets moto's state first;
- ``aws_clients``: an ``AwsClients`` whose every call is recorded for the IAM policy check;
- ``sim_clock``: the simulated account on a ``ManualClock`` (realistic timings, speed 1), for
  tests that step through PENDING/INSYNC, initial/healthy, draining... one moment at a time.

The simulation behaves like an account (sim/aws/settings.py): tasks start and register, changes
take time. Every test runs it on the ``realistic`` profile sped up ``TEST_SPEED`` times, so each
behaviour still happens, in milliseconds; nothing is switched off.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import pytest

from meshshift.activities.aws import AwsClients, RateLimiter
from meshshift.sim.aws import SimulatedAwsServer, install_extensions, serve
from meshshift.sim.aws import settings as sim_settings
from tests import iam_recorder

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # Never read a developer's real profiles or config.
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_CONFIG_FILE": os.devnull,
}
HIDDEN_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL")


def pytest_configure(config: pytest.Config) -> None:
    # Session-wide, before any fixture (including session-scoped ones) builds a boto3 client.
    os.environ.update(FAKE_AWS_ENV)
    for name in HIDDEN_AWS_ENV:
        os.environ.pop(name, None)


@pytest.fixture(autouse=True)
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Re-assert the fake credentials for every test, in case a test or library changed them."""
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)
    for name in HIDDEN_AWS_ENV:
        monkeypatch.delenv(name, raising=False)


# Realistic timings, this many times faster: Route 53 INSYNC in 45 ms, a task RUNNING in 40 ms,
# a default target group healthy in 150 ms and drained in 300 ms.
TEST_SPEED = 1000.0
TEST_SETTINGS = sim_settings.profile("realistic", speed=TEST_SPEED)


@pytest.fixture(autouse=True)
def sim_settings_for_tests() -> Iterator[sim_settings.SimSettings]:
    """Every test starts on ``TEST_SETTINGS`` (a test or the demo may change them; they come back)."""
    with sim_settings.configured(TEST_SETTINGS) as settings:
        yield settings


@pytest.fixture
def sim_clock() -> Iterator[sim_settings.ManualClock]:
    """The simulated account on a clock that moves only when the test advances it."""
    clock = sim_settings.ManualClock()
    with sim_settings.configured(sim_settings.profile("realistic", latency=(0.0, 0.0)).with_overrides(clock=clock)):
        yield clock


@pytest.fixture
def aws_inprocess() -> Iterator[None]:
    """moto in-process (``mock_aws``) with meshshift's extensions; fresh state for each test."""
    from moto import mock_aws

    install_extensions()
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The simulated AWS as a real HTTP server (ThreadedMotoServer + extensions) on a free
    127.0.0.1 port, shared by the session. Yields the endpoint URL, e.g. ``http://127.0.0.1:PORT``.
    Use ``aws_server_env`` in tests: it also resets the state."""
    server: SimulatedAwsServer = serve(port=0)
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture
def aws_server_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Points boto3 at ``moto_server`` (``AWS_ENDPOINT_URL``) with moto's state reset before the
    test, so tests do not see each other's resources. Yields the endpoint URL."""
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(reset, timeout=30) as response:  # local test server only
        response.read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    yield moto_server


class VirtualClock:
    """Time for the rate limiter in tests: sleeping advances the clock instead of waiting, so
    rate limiting is exercised without slowing tests down."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def aws_clients() -> AwsClients:
    """``AwsClients`` for activity tests: every boto3 operation is recorded for the IAM policy
    check (tests/iam_recorder.py); the rate limiter runs on a virtual clock. Clients are built
    lazily, so the endpoint is whatever ``aws_inprocess`` / ``aws_server_env`` set up."""
    clock = VirtualClock()
    return AwsClients(
        limiter=RateLimiter(clock=clock, sleep=clock.sleep),
        hooks=[("before-call", iam_recorder.record)],
    )
