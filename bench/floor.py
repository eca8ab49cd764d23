"""The floor: the AWS calls a step or a rollback makes, made directly with boto3 and no Temporal.

It runs meshshift's own shifters (activities/edge: the same describe/modify/UPSERT/get_change/
IfMatch calls, in the same order and with the same concurrency as ``set_edge_weights``, whose
read-back the workflow accepts as its verification), with no client-side rate limiter, from the
bench process. Whatever a benchmark measures above this floor is the cost of the orchestration.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from bench.worker import CallCounter, WriteClock, bench_hooks
from bench.world import REGION
from meshshift.activities.aws import AwsClients, RateLimiter
from meshshift.activities.edge.base import Shifter
from meshshift.activities.edge.registry import shifter_class
from meshshift.migration.contracts import AwsContext, ShifterWeights
from meshshift.migration.spec import EdgeSpec

T = TypeVar("T")
R = TypeVar("R")


class NoLimit(RateLimiter):
    """The floor is what AWS itself costs: no client-side rate limit."""

    def acquire(
        self, service: str, region: str, rate: float, on_wait: object = None, *, priority: bool = False
    ) -> float:
        return 0.0


class Floor:
    def __init__(self, aws_latency_ms: float) -> None:
        self.counter = CallCounter()
        # The calls of roll_back alone (a trial also sets its twin up with set_weights).
        self.rollback_calls: Counter[str] = Counter()
        self.writes = WriteClock()
        self.clients = AwsClients(limiter=NoLimit(), hooks=bench_hooks(self.counter, aws_latency_ms, self.writes))
        self.ctx = AwsContext(region=REGION)
        self._pool = ThreadPoolExecutor(max_workers=8)

    def _all(self, items: Sequence[T], fn: Callable[[T], R]) -> list[R]:
        return [f.result() for f in [self._pool.submit(fn, item) for item in items]]

    def shifters(self, edges: Sequence[EdgeSpec]) -> list[Shifter]:
        return [shifter_class(edge.type)(edge, self.clients, self.ctx) for edge in edges]

    def set_weights(self, edges: Sequence[EdgeSpec], weights: Sequence[ShifterWeights]) -> float:
        """set_edge_weights with its propagation wait and read-back, as one step does; returns the
        seconds taken."""
        started = time.monotonic()
        self._write(edges, weights)
        return time.monotonic() - started

    def _write(
        self,
        edges: Sequence[EdgeSpec],
        weights: Sequence[ShifterWeights],
        *,
        wait_for_sync: bool = True,
        read_back: bool = True,
        pending: Sequence[str] = (),
    ) -> list[str]:
        """set_edge_weights' calls (activities/edge/activities.py); returns each shifter's pending change."""
        shifters = self.shifters(edges)
        if not read_back:
            for shifter in shifters:
                shifter.write_only()
        for shifter, change in zip(shifters, pending, strict=False):
            if change:
                shifter.adopt_change(change)
        pairs = list(zip(shifters, weights, strict=True))
        for shifter, wanted in pairs:
            shifter.check_weights(wanted)
        self._all(pairs, lambda p: p[0].set_weights(p[1]))
        if wait_for_sync:
            self._all(shifters, lambda s: s.wait_in_sync())
        if read_back:
            readings = self._all(shifters, lambda s: s.read_back())
            for (shifter, wanted), reading in zip(pairs, readings, strict=True):
                shifter.verify(wanted, reading)
        return [s.pending_change() for s in shifters]

    def roll_back(self, edges: Sequence[EdgeSpec], weights: Sequence[ShifterWeights]) -> float:
        """A rollback's calls: its first write (no propagation wait, no read-back), then its
        verified write, which waits for the first write's pending changes
        (workflows/compensation.py); returns the seconds taken."""
        before = self.counter.snapshot()
        started = time.monotonic()
        pending = self._write(edges, weights, wait_for_sync=False, read_back=False)
        self._write(edges, weights, pending=pending)
        taken = time.monotonic() - started
        self.rollback_calls.update({k: v - before.get(k, 0) for k, v in self.counter.snapshot().items()})
        return taken

    def close(self) -> None:
        self._pool.shutdown()
