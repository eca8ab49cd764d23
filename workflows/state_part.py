"""MeshMigrationStatePart: holds one part of a continue-as-new state until the next run has read it.

A migration of thousands of services has more per-service state than one payload should carry
(migration/state_parts.py). Before it continues as new, the run starts one of these per part, as a
child that outlives it (ParentClosePolicy.ABANDON); the next run reads each part with the query,
then releases the holder with the signal, and the holder completes. Its history is its input and a
signal, so it costs nothing to keep and replays at once.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from meshshift.migration import contracts
    from meshshift.migration.constants import QUERY_STATE_PART, SIGNAL_RELEASE_STATE_PART, STATE_PART_WORKFLOW_TYPE

# The next run reads its parts in its first workflow task; this only ends a holder whose migration was
# terminated between two runs. Long enough for any outage of the workers.
HOLD_FOR = timedelta(days=90)


@workflow.defn(name=STATE_PART_WORKFLOW_TYPE)
class MeshMigrationStatePart:
    @workflow.init
    def __init__(self, part: contracts.StatePart) -> None:
        self._part = part
        self._released = False

    @workflow.run
    async def run(self, part: contracts.StatePart) -> contracts.StatePartHeld:
        try:
            await workflow.wait_condition(lambda: self._released, timeout=HOLD_FOR)
        except TimeoutError:
            return contracts.StatePartHeld(released=False)
        return contracts.StatePartHeld(released=True)

    @workflow.query(name=QUERY_STATE_PART)
    def state_part(self) -> contracts.StatePart:
        return self._part

    @workflow.signal(name=SIGNAL_RELEASE_STATE_PART)
    def release(self) -> None:
        self._released = True
