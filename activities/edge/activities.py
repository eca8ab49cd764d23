"""Edge activities: set the weights on every shifter of the spec at once, and read them back.

All shifters are written concurrently (a small thread pool), so a rollback moves every
mechanism back to blue at the same moment instead of one after another; a failure on one
shifter does not stop the others from being written. Then each is waited on (propagation),
read back and verified; the activity fails with what it found if any reading differs.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from meshshift.activities.aws import AwsClients, rollback_calls
from meshshift.activities.definition import implements
from meshshift.activities.edge.base import READBACK_MISMATCH, Shifter, ShifterOptions, refuse
from meshshift.activities.edge.registry import check_shifters, shifter_class
from meshshift.migration.contracts import (
    READ_EDGE_WEIGHTS,
    SET_EDGE_WEIGHTS,
    AwsContext,
    EdgeWeightsResult,
    PendingChange,
    ReadEdgeWeightsInput,
    SetEdgeWeightsInput,
    ShifterReading,
)
from meshshift.migration.edge.registry import EdgeSpec

T = TypeVar("T")
R = TypeVar("R")


class _Heartbeat:
    """Heartbeats from the pool's threads: they run in the activity's context, one at a time."""

    def __init__(self) -> None:
        self._context = contextvars.copy_context()
        self._lock = threading.Lock()

    def __call__(self, detail: str) -> None:
        with self._lock:
            self._context.run(activity.heartbeat, detail)


def _pending(shifters: Sequence[Shifter]) -> list[PendingChange]:
    return [PendingChange(shifter_id=s.shifter_id, change_id=c) for s in shifters if (c := s.pending_change())]


class EdgeActivities:
    def __init__(self, clients: AwsClients, options: ShifterOptions | None = None, max_parallel: int = 8) -> None:
        check_shifters()  # a worker must not accept an edge type it has nothing to write with
        self._clients = clients
        self._options = options or ShifterOptions()
        self._max_parallel = max_parallel

    def _shifter(self, edge: EdgeSpec, aws: AwsContext, heartbeat: Callable[[str], None]) -> Shifter:
        return shifter_class(edge.type)(edge, self._clients, aws, heartbeat=heartbeat, options=self._options)

    def _all(self, items: Sequence[T], fn: Callable[[T], R]) -> list[R]:
        """``fn`` over every item concurrently; every item is attempted even if some fail, then
        the first failure (in item order) is raised."""
        if not items:
            return []
        if len(items) == 1:
            # Most applications have one edge: a thread for it would cost more than the call it makes.
            return [fn(items[0])]
        with ThreadPoolExecutor(max_workers=min(len(items), self._max_parallel)) as pool:
            # Each item runs in a copy of the activity's context, so the pool's threads see the
            # activity (its task priority decides the rate limiter's lane, activities/aws.py).
            futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
        return [f.result() for f in futures]

    @implements(SET_EDGE_WEIGHTS)
    def set_edge_weights(self, input: SetEdgeWeightsInput) -> EdgeWeightsResult:
        with rollback_calls(input.rollback):
            return self._set_edge_weights(input)

    def _set_edge_weights(self, input: SetEdgeWeightsInput) -> EdgeWeightsResult:
        heartbeat = _Heartbeat()
        shifters = [self._shifter(t.edge, input.aws, heartbeat) for t in input.targets]
        ids = [s.shifter_id for s in shifters]
        if len(set(ids)) != len(ids):
            raise refuse(f"The same edge shifter appears twice in one step: {ids}. Next: fix the spec's `edge` list.")
        pairs = list(zip(shifters, [t.weights for t in input.targets], strict=True))
        # Check every target before writing any, so bad input touches nothing.
        for shifter, weights in pairs:
            shifter.check_weights(weights)
        if not input.read_back:
            for shifter in shifters:
                shifter.write_only()
        # A retry writes afresh: the change it would wait for may be what made the attempt fail.
        if activity.info().attempt == 1:
            for shifter, target in zip(shifters, input.targets, strict=True):
                if target.pending_change:
                    shifter.adopt_change(target.pending_change)
        self._all(pairs, lambda p: p[0].set_weights(p[1]))
        heartbeat("weights written; waiting for propagation")
        if input.wait_for_sync:
            self._all(shifters, lambda s: s.wait_in_sync())
        if not input.read_back:
            return EdgeWeightsResult(readings=[], changes=_pending(shifters))
        readings = self._all(shifters, lambda s: s.read_back())
        mismatches: list[str] = []
        for (shifter, weights), reading in zip(pairs, readings, strict=True):
            try:
                shifter.verify(weights, reading)
            except ApplicationError as err:
                mismatches.append(str(err))
        if mismatches:
            raise refuse(" | ".join(mismatches), type=READBACK_MISMATCH)
        return EdgeWeightsResult(readings=readings, changes=_pending(shifters))

    @implements(READ_EDGE_WEIGHTS)
    def read_edge_weights(self, input: ReadEdgeWeightsInput) -> EdgeWeightsResult:
        heartbeat = _Heartbeat()
        shifters = [self._shifter(edge, input.aws, heartbeat) for edge in input.edges]
        readings: list[ShifterReading] = self._all(shifters, lambda s: s.read_weights())
        return EdgeWeightsResult(readings=readings)
