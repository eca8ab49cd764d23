"""Questions about the Temporal namespace itself, and the parts of a continue-as-new state held by
child workflows, asked from an activity."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from meshshift.migration.contracts.base import ActivityDef, Payload


class RegisteredSearchAttributesInput(Payload):
    """Empty on purpose: the activity asks about the namespace of the workflow that called it."""


class RegisteredSearchAttributes(Payload):
    names: list[str] = Field(default_factory=list, description="Custom search attribute names on the namespace")


# Temporal metadata (not AWS): which custom search attributes the namespace has registered.
REGISTERED_SEARCH_ATTRIBUTES = ActivityDef(
    "registered_search_attributes",
    RegisteredSearchAttributesInput,
    RegisteredSearchAttributes,
    start_to_close=timedelta(seconds=10),
)


class StatePart(Payload):
    """One part of a continue-as-new state's per-service fields (migration/state_parts.py): the
    holder workflow's input, its query's answer and the reading activity's result."""

    data: str = Field(description="A slice of the base64 of the zlib-compressed JSON")


class StatePartHeld(Payload):
    """The holder workflow's result."""

    released: bool = Field(description="False when nobody read the part within the holding time")


class ReadStatePartInput(Payload):
    workflow_id: str = Field(min_length=1, description="The holder workflow")


# Temporal (not AWS): a query to a holder of a continue-as-new state's part. Retried: the holder may be
# waiting for a worker to take its first workflow task.
READ_STATE_PART = ActivityDef(
    "read_state_part",
    ReadStatePartInput,
    StatePart,
    start_to_close=timedelta(seconds=30),
)
