"""Timeouts and retry policies per activity, in one table.

Retryability itself is decided inside the activities (a permanent AWS error is raised as a
non-retryable ApplicationError), so the policies here only say how patiently to retry the rest.
Every activity is scheduled with a heartbeat timeout: it is what detects a dead worker within
seconds instead of after the whole start-to-close timeout. Activities that poll heartbeat on each
round themselves; the worker's keepalive (workers/keepalive.py) covers the quiet stretches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.common import RetryPolicy

from meshshift.migration import contracts

# Heartbeats are also how a rollback's cancellation reaches a running call: the SDK sends them at
# most every 0.8 x this timeout, which bounds how long a rollback waits for a call to stop.
HEARTBEAT = timedelta(seconds=30)


@dataclass(frozen=True)
class CallOptions:
    start_to_close: timedelta
    heartbeat: timedelta = HEARTBEAT
    retry: RetryPolicy | None = None
    # A polling activity gets its own wait time plus this margin as start-to-close.
    wait_margin: timedelta = timedelta(minutes=5)


# Transient AWS trouble (throttling that outlasted botocore's retries, 5xx) usually clears within
# minutes; after that a person should look, so the step fails (and, with traffic moved, rolls back).
STANDARD_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=8,
)

# Watching (alarm polls, metric reads) is repeated on a schedule anyway: fail fast, try next time.
WATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
)

# A rollback must finish: retry until it succeeds or an activity says the error is permanent.
COMPENSATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
)

OPTIONS: dict[str, CallOptions] = {
    contracts.DISCOVER_BLUE: CallOptions(start_to_close=timedelta(minutes=15)),
    contracts.ENSURE_NAMESPACE: CallOptions(start_to_close=timedelta(minutes=10)),
    contracts.PROVISION_GREEN_SERVICE: CallOptions(start_to_close=timedelta(minutes=10)),
    contracts.WAIT_SERVICES_STABLE: CallOptions(start_to_close=timedelta(minutes=35)),
    contracts.CHECK_TARGET_HEALTH: CallOptions(start_to_close=timedelta(minutes=15)),
    contracts.DEEP_HEALTH_CHECK: CallOptions(start_to_close=timedelta(minutes=15)),
    # Route 53 waits for INSYNC (usually under a minute) inside the call.
    contracts.SET_EDGE_WEIGHTS: CallOptions(start_to_close=timedelta(minutes=10)),
    contracts.READ_EDGE_WEIGHTS: CallOptions(start_to_close=timedelta(minutes=2)),
    contracts.COLLECT_METRICS: CallOptions(start_to_close=timedelta(minutes=2), retry=WATCH_RETRY),
    contracts.POLL_ALARMS: CallOptions(start_to_close=timedelta(minutes=1), retry=WATCH_RETRY),
    contracts.SCALE_SERVICE: CallOptions(start_to_close=timedelta(minutes=20)),
    contracts.DELETE_ECS_SERVICES: CallOptions(start_to_close=timedelta(minutes=20)),
    # Waits for the groups' draining targets first (at most ELB's 3600 s deregistration delay).
    contracts.DELETE_TARGET_GROUPS: CallOptions(start_to_close=timedelta(minutes=65)),
    contracts.DELETE_WEIGHTED_RECORD: CallOptions(start_to_close=timedelta(minutes=10)),
    contracts.DELETE_APP_MESH: CallOptions(start_to_close=timedelta(minutes=20)),
    contracts.DEREGISTER_TASK_DEFINITIONS: CallOptions(start_to_close=timedelta(minutes=10)),
}

REGISTERED_SEARCH_ATTRIBUTES_TIMEOUT = timedelta(seconds=10)
REGISTERED_SEARCH_ATTRIBUTES_RETRY = RetryPolicy(maximum_attempts=3)

# Green services are provisioned this many at a time: a 500-service migration finishes in
# reasonable time without the workflow scheduling 500 activities at once.
PROVISION_CONCURRENCY = 10


def options_for(
    name: str, *, wait: timedelta | None = None, compensation: bool = False, heartbeat: timedelta | None = None
) -> CallOptions:
    """The call options of activity ``name``; ``wait`` is how long the activity itself may poll,
    ``heartbeat`` overrides the heartbeat timeout (RunOptions.activity_heartbeat_timeout)."""
    base = OPTIONS[name]
    start_to_close = base.start_to_close if wait is None else max(base.start_to_close, wait + base.wait_margin)
    retry = COMPENSATION_RETRY if compensation else (base.retry or STANDARD_RETRY)
    return CallOptions(start_to_close=start_to_close, heartbeat=heartbeat or base.heartbeat, retry=retry)
