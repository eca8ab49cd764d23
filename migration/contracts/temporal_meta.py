"""Questions about the Temporal namespace itself, asked from an activity."""

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
