"""How the workflow calls activities: retry policies per retry kind, heartbeats, and the margin a
polling activity gets. Each activity's own timeout and retry kind are in its definition
(migration/contracts/).

Retryability itself is decided inside the activities (a permanent AWS error is raised as a
non-retryable ApplicationError), so the policies here only say how patiently to retry the rest.
Every activity is scheduled with a heartbeat timeout: it is what detects a dead worker within
seconds instead of after the whole start-to-close timeout. Activities that poll heartbeat on each
round themselves; the worker's keepalive (workers/keepalive.py) covers the quiet stretches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

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

# A rollback's first write (a local activity) is tried once and gives up after this: the verified
# write follows on the compensation queue. Longer only under a rate limit so busy that even the
# priority lane waits.
FIRST_WRITE_RETRY = RetryPolicy(maximum_attempts=1)
FIRST_WRITE_TIMEOUT = timedelta(seconds=20)

RETRIES: dict[contracts.Retry, RetryPolicy] = {
    contracts.Retry.STANDARD: STANDARD_RETRY,
    contracts.Retry.WATCH: WATCH_RETRY,
}

REGISTERED_SEARCH_ATTRIBUTES_RETRY = RetryPolicy(maximum_attempts=3)

# A notification is retried for about two minutes (a chat tool's hiccup, SNS throttling), then
# given up and audited: nobody waits on it, and a late "gate opened" is worth little.
NOTIFICATION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
)

# Green services are provisioned this many at a time: a 500-service migration finishes in
# reasonable time without the workflow scheduling 500 activities at once.
PROVISION_CONCURRENCY = 10

# Pages of blue services discovered at a time (issue 22). The ECS token bucket sets the pace; a
# few pages at once keep it busy while one page's result is being recorded.
DISCOVERY_CONCURRENCY = 4


def options_for(
    activity: contracts.ActivityDef[Any, Any],
    *,
    wait: timedelta | None = None,
    compensation: bool = False,
    heartbeat: timedelta | None = None,
) -> CallOptions:
    """How to call ``activity`` (its definition gives its timeout and retry kind); ``wait`` is how long
    the activity itself may poll, ``heartbeat`` overrides the heartbeat timeout
    (RunOptions.activity_heartbeat_timeout)."""
    margin = CallOptions.wait_margin
    start_to_close = activity.start_to_close if wait is None else max(activity.start_to_close, wait + margin)
    retry = COMPENSATION_RETRY if compensation else RETRIES[activity.retry]
    return CallOptions(start_to_close=start_to_close, heartbeat=heartbeat or HEARTBEAT, retry=retry)
