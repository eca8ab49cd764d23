"""What every payload and every activity definition is made of.

An activity is defined once, here in its area's module: its stable name, its one input model, its
one result model, and how long a call may take. The workflow calls it through the definition
(mypy checks the input it passes and the result it gets), the activity implements it through the
same definition (activities/definition.py; mypy checks the method's signature), and tests register
fakes under its name. Renaming an activity breaks running workflows: names never change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from meshshift.migration.spec import RateLimits


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AwsShaped(BaseModel):
    """AWS API shapes: camelCase keys, unknown keys preserved."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class AwsContext(Payload):
    """Where an activity's AWS calls go. Credentials always come from boto3's standard chain."""

    region: str | None = None
    rate_limits: RateLimits = Field(default_factory=RateLimits)


class Retry(StrEnum):
    """How patiently a failed call is retried (the policies are in workflows/activity_options.py).
    Whether an error can be retried at all is decided inside the activity."""

    # Transient AWS trouble (throttling that outlasted botocore's retries, 5xx): minutes, then the step fails.
    STANDARD = "standard"
    # Watching (alarm polls, metric reads) is repeated on a schedule anyway: fail fast, try next time.
    WATCH = "watch"


InputT = TypeVar("InputT", bound=BaseModel)
ResultT = TypeVar("ResultT", bound=BaseModel)


@dataclass(frozen=True)
class ActivityDef(Generic[InputT, ResultT]):
    """One activity: name, input type, result type and call options, in one place."""

    name: str
    input: type[InputT]
    result: type[ResultT]
    start_to_close: timedelta
    retry: Retry = Retry.STANDARD

    def __str__(self) -> str:
        return self.name
