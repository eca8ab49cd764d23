"""How the simulated AWS behaves in time: the knobs, the two profiles, and the account's clock.

AWS does things by itself and takes time to do them: ECS starts tasks and registers them in target
groups, health checks pass after a while, deregistered targets drain, Route 53 changes are PENDING
before INSYNC, CloudFront distributions are InProgress for minutes, calls take tens of
milliseconds, and a busy account is throttled. Each of these is a knob here.

Two profiles set them together:

- ``instant``: every side effect still happens (tasks start and register, targets drain...) but
  lands at once; calls are not delayed. For exploring the API by hand.
- ``realistic``: the figures AWS documents or that are commonly observed (see ``REALISTIC``).

``speed`` divides every duration, including the ones a resource sets for itself (a target group's
health check interval x threshold, its deregistration delay) and the per-call latency, and
multiplies the throttling rates: the account runs ``speed`` times faster, nothing is skipped.

The settings are process-wide (moto's state is too): ``configure`` sets them, ``current`` reads
them. A test can swap the clock for a ``ManualClock`` and move time itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Clock = Callable[[], float]

PROFILES = ("instant", "realistic")

# Requests per second and burst, per account and service, above which the service answers with its
# own throttling error. Published figures where AWS gives them (Route 53: five requests per second
# per account; CloudWatch GetMetricData: 50 per second), the order of magnitude of the
# token buckets ECS, ELB and Cloud Map document per action elsewhere.
THROTTLE_RATES: dict[str, tuple[float, float]] = {
    "ecs": (20.0, 50.0),
    "elbv2": (10.0, 40.0),
    "route53": (5.0, 5.0),
    "cloudfront": (10.0, 20.0),
    "cloudwatch": (50.0, 100.0),
    "servicediscovery": (10.0, 20.0),
    "appmesh": (10.0, 20.0),
}


class ManualClock:
    """A clock that moves only when told to: tests step the account through time deterministically."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += max(0.0, seconds)


@dataclass(frozen=True)
class SimSettings:
    """Every knob of the simulated account, in AWS's own seconds (``speed`` divides them)."""

    profile: str = "realistic"
    speed: float = 1.0
    # Per call, uniformly between the two (seconds).
    latency: tuple[float, float] = (0.020, 0.060)
    # ChangeResourceRecordSets is PENDING this long, then GetChange says INSYNC.
    route53_insync: float = 45.0
    # A distribution (or the primary of a continuous deployment policy) is InProgress this long.
    cloudfront_deploy: float = 240.0
    # An ECS task is PROVISIONING then PENDING this long before RUNNING (image pull, ENI attach).
    ecs_task_start: float = 40.0
    # From SIGTERM (after its targets have drained) to STOPPED.
    ecs_task_stop: float = 15.0
    # From every task of a deployment running (and healthy, behind a load balancer) to COMPLETED.
    ecs_steady: float = 15.0
    # Time for a target to turn healthy (or unhealthy); None: the group's HealthyThresholdCount
    # (UnhealthyThresholdCount) x HealthCheckIntervalSeconds, as ELB does.
    health_check: float | None = None
    # How long a deregistered target drains; None: the group's deregistration_delay.timeout_seconds.
    deregistration_delay: float | None = None
    # AWS-side throttling above THROTTLE_RATES (x speed); off unless asked for.
    throttle: bool = False
    clock: Clock = field(default=time.monotonic, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {self.profile!r}")
        if not self.speed > 0:
            raise ValueError(f"speed must be above 0, got {self.speed}")
        low, high = self.latency
        if not 0 <= low <= high:
            raise ValueError(f"latency must be two seconds values 0 <= low <= high, got {self.latency}")
        for name in ("route53_insync", "cloudfront_deploy", "ecs_task_start", "ecs_task_stop", "ecs_steady"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more seconds, got {getattr(self, name)}")
        for name in ("health_check", "deregistration_delay"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be 0 or more seconds (or unset), got {value}")

    def scaled(self, seconds: float) -> float:
        """AWS seconds in this account's time."""
        return max(0.0, seconds) / self.speed

    def now(self) -> float:
        return self.clock()

    def with_overrides(self, **changes: Any) -> SimSettings:
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        """The knobs as JSON-friendly values (the control endpoint answers with this)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "clock"}
        values["latency"] = list(self.latency)
        return values


INSTANT = SimSettings(
    profile="instant",
    latency=(0.0, 0.0),
    route53_insync=0.0,
    cloudfront_deploy=0.0,
    ecs_task_start=0.0,
    ecs_task_stop=0.0,
    ecs_steady=0.0,
    health_check=0.0,
    deregistration_delay=0.0,
)
# Route 53: AWS says changes generally reach every name server within 60 seconds. CloudFront:
# distribution changes deploy in minutes. Fargate tasks: typically 30-60 s from creation to
# RUNNING. Calls within a region: tens of milliseconds. Target groups bring their own health check
# and deregistration timings (ELB's defaults: 5 x 30 s to healthy, 300 s of draining).
REALISTIC = SimSettings(profile="realistic")


def profile(name: str, speed: float = 1.0, **overrides: Any) -> SimSettings:
    """The named profile at ``speed``, with any knob overridden (None values are ignored)."""
    base = {"instant": INSTANT, "realistic": REALISTIC}.get(name)
    if base is None:
        raise ValueError(f"unknown profile {name!r}; expected one of {', '.join(PROFILES)}")
    changes = {key: value for key, value in overrides.items() if value is not None}
    return dataclasses.replace(base, speed=speed, **changes)


def from_mapping(values: Mapping[str, Any], base: SimSettings | None = None) -> SimSettings:
    """Settings from JSON (the control endpoint): ``profile`` first, then any knob by name."""
    known = {f.name for f in dataclasses.fields(SimSettings)} - {"clock"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown simulation knob(s) {unknown}; known: {sorted(known)}")
    start = base or current()
    if "profile" in values:
        start = profile(str(values["profile"]), speed=start.speed).with_overrides(clock=start.clock)
    changes = {key: value for key, value in values.items() if key != "profile"}
    if "latency" in changes:
        changes["latency"] = tuple(float(v) for v in changes["latency"])
    return start.with_overrides(**changes)


_lock = threading.Lock()
_current: SimSettings = REALISTIC
_listeners: list[Callable[[SimSettings], None]] = []


def current() -> SimSettings:
    return _current


def configure(settings: SimSettings) -> SimSettings:
    """Make ``settings`` the simulation's; returns the previous ones."""
    global _current
    with _lock:
        previous, _current = _current, settings
        listeners = list(_listeners)
    for listener in listeners:
        listener(settings)
    return previous


def on_change(listener: Callable[[SimSettings], None]) -> None:
    """Call ``listener`` whenever the settings change (the throttle buckets start afresh)."""
    with _lock:
        _listeners.append(listener)


@contextlib.contextmanager
def configured(settings: SimSettings) -> Iterator[SimSettings]:
    """``settings`` for the duration of the block, then the previous ones again."""
    previous = configure(settings)
    try:
        yield settings
    finally:
        configure(previous)
