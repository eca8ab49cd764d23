"""How long to wait between two reads while AWS finishes something (a deployment, a health check,
a Route 53 change, a target draining).

The first reads come quickly and the wait then doubles up to the configured interval: a change
that lands in a second is seen in a second instead of one whole interval later, and a change that
takes minutes costs a handful of extra reads in its first seconds, no more.
"""

from __future__ import annotations

FIRST_WAIT_SECONDS = 0.25


class Backoff:
    """Successive waits: ``first``, doubling, capped at ``interval`` (never above it)."""

    def __init__(self, interval: float, first: float = FIRST_WAIT_SECONDS) -> None:
        self._interval = max(0.0, interval)
        self._next = min(first, self._interval)

    def next(self) -> float:
        wait = self._next
        self._next = min(self._interval, max(wait, 0.001) * 2)
        return wait
