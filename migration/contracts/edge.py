"""Moving traffic: weights written to every edge shifter at once, and read back."""

from __future__ import annotations

from datetime import timedelta

from meshshift.migration.contracts.base import ActivityDef, AwsContext, Payload
from meshshift.migration.contracts.plan import MechanismName, ShifterWeights
from meshshift.migration.edge.registry import EdgeSpec


class ShifterTarget(Payload):
    edge: EdgeSpec
    weights: ShifterWeights
    # A change already made towards these weights that may not have propagated yet (a rollback's
    # first write: its Route 53 change id). A shifter that finds the weights in place waits for it
    # instead of making a change of its own; "" for none.
    pending_change: str = ""


class PendingChange(Payload):
    """A change a write made and did not see propagated (it was not waited on)."""

    shifter_id: str
    change_id: str


class SetEdgeWeightsInput(Payload):
    aws: AwsContext
    targets: list[ShifterTarget]
    wait_for_sync: bool = True
    # A rollback's write: its AWS calls take the rate limiter's priority lane even where Temporal's
    # task priority does not say so (a local activity has none).
    rollback: bool = False
    # False: the weights are written but not read back or verified, and the result has no readings.
    # A rollback's first write only: the verified write that follows reads back, and the reads it
    # would save here are calls out of the same per-second AWS budget the verified write waits on.
    read_back: bool = True


class ReadEdgeWeightsInput(Payload):
    aws: AwsContext
    edges: list[EdgeSpec]


class ShifterReading(Payload):
    shifter_id: str
    mechanism: MechanismName
    blue: float
    green: float
    promoted: bool = False
    green_percent: float
    in_sync: bool = True
    detail: str = ""


class EdgeWeightsResult(Payload):
    readings: list[ShifterReading]
    changes: list[PendingChange] = []


# Route 53 waits for INSYNC (usually under a minute) inside the call.
SET_EDGE_WEIGHTS = ActivityDef(
    "set_edge_weights", SetEdgeWeightsInput, EdgeWeightsResult, start_to_close=timedelta(minutes=10)
)
READ_EDGE_WEIGHTS = ActivityDef(
    "read_edge_weights", ReadEdgeWeightsInput, EdgeWeightsResult, start_to_close=timedelta(minutes=2)
)
