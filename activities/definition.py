"""Implementing an activity from its one definition (migration/contracts/).

``@implements(DISCOVER_BLUE)`` registers the method under the definition's name, and its type says
the method must take the definition's input model and return its result model: mypy refuses an
implementation whose signature drifts from what the workflow sends and expects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import activity

from meshshift.migration.contracts import ActivityDef

InputT = TypeVar("InputT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)
SelfT = TypeVar("SelfT")


def implements(
    definition: ActivityDef[InputT, ResultT],
) -> Callable[[Callable[[SelfT, InputT], ResultT]], Callable[[SelfT, InputT], ResultT]]:
    """A sync activity method (boto3 work, run on the worker's thread pool)."""

    def register(method: Callable[[SelfT, InputT], ResultT]) -> Callable[[SelfT, InputT], ResultT]:
        return activity.defn(name=definition.name)(method)

    return register


def implements_async(
    definition: ActivityDef[InputT, ResultT],
) -> Callable[[Callable[[SelfT, InputT], Awaitable[ResultT]]], Callable[[SelfT, InputT], Awaitable[ResultT]]]:
    """An async activity method (calls to Temporal itself, not to AWS)."""

    def register(
        method: Callable[[SelfT, InputT], Awaitable[ResultT]],
    ) -> Callable[[SelfT, InputT], Awaitable[ResultT]]:
        registered: Any = activity.defn(name=definition.name)(method)
        return registered  # type: ignore[no-any-return]

    return register
