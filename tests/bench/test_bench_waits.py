"""``wait_published`` gives up as soon as the migration cannot get where a benchmark waits for it
(a migration that failed at N = 2,000 must not hold the large benchmark for its hour), and follows
a migration through continue-as-new. Run against a stand-in for the workflow handle whose history
is made of the search-attribute upserts the workflow publishes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from bench.common import MigrationEnded, wait_published
from meshshift.migration.constants import SA_GREEN_WEIGHT, SA_PHASE


def upsert(phase: str, weight: int = 0) -> HistoryEvent:
    event = HistoryEvent(event_type=EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES)
    fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    fields[SA_PHASE].CopyFrom(Payload(data=json.dumps(phase).encode()))
    fields[SA_GREEN_WEIGHT].CopyFrom(Payload(data=json.dumps(weight).encode()))
    return event


@dataclass
class Description:
    status: WorkflowExecutionStatus


class StandIn:
    """Each run is a list of events; a run left open blocks the long poll, as the server does."""

    def __init__(self, runs: list[list[HistoryEvent]], open_last: bool, error: Exception | None = None) -> None:
        self.id = "meshshift-bench"
        self._runs = runs
        self._open_last = open_last
        self._error = error
        self._current = 0
        self.never = asyncio.Event()

    async def _history(self) -> AsyncIterator[HistoryEvent]:
        index = self._current
        for event in self._runs[index]:
            yield event
        if index == len(self._runs) - 1 and self._open_last:
            await self.never.wait()
        self._current = min(index + 1, len(self._runs) - 1)

    def fetch_history_events(self, wait_new_event: bool = False) -> AsyncIterator[HistoryEvent]:
        return self._history()

    async def describe(self) -> Description:
        last = self._current == len(self._runs) - 1
        open_now = not last or self._open_last
        return Description(WorkflowExecutionStatus.RUNNING if open_now else WorkflowExecutionStatus.FAILED)

    async def result(self) -> dict[str, Any]:
        if self._error is not None:
            raise self._error
        return {"outcome": "completed"}


async def test_a_failed_phase_ends_the_wait_while_the_workflow_is_still_open() -> None:
    handle = StandIn([[upsert("planning"), upsert("provisioning"), upsert("rolling_back"), upsert("failed")]], True)
    with pytest.raises(MigrationEnded) as ended:
        await wait_published(handle, phase="ramping", timeout=120)  # type: ignore[arg-type]
    assert ended.value.phase == "failed" and not ended.value.closed


async def test_a_rollback_ends_the_wait_for_a_weight() -> None:
    handle = StandIn([[upsert("ramping", 1), upsert("rolling_back", 1), upsert("rolled_back", 0)]], True)
    with pytest.raises(MigrationEnded, match="rolled_back"):
        await wait_published(handle, weight=25, timeout=120)  # type: ignore[arg-type]


async def test_a_closed_workflow_ends_the_wait_with_its_error() -> None:
    failure = WorkflowFailureError(cause=ApplicationError("The migration failed: green did not stabilise"))
    handle = StandIn([[upsert("planning"), upsert("provisioning")]], False, error=failure)
    with pytest.raises(MigrationEnded, match="green did not stabilise") as ended:
        await wait_published(handle, phase="ramping", timeout=120)  # type: ignore[arg-type]
    assert ended.value.closed and ended.value.phase == "provisioning"


async def test_the_wait_follows_the_migration_through_continue_as_new() -> None:
    handle = StandIn([[upsert("planning"), upsert("provisioning")], [upsert("validating"), upsert("ramping")]], True)
    found = await wait_published(handle, phase="ramping", timeout=120)  # type: ignore[arg-type]
    assert found.phase == "ramping"
