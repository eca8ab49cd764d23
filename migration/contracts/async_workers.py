"""Handing queue consumers over: scaling a service and waiting until ECS has done it."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from meshshift.migration.contracts.base import ActivityDef, AwsContext, Payload


class ScaleServiceInput(Payload):
    aws: AwsContext
    cluster: str
    service: str
    desired_count: int = Field(ge=0)
    wait_stable: bool = True
    timeout: timedelta = timedelta(minutes=15)
    poll_interval: timedelta = timedelta(seconds=10)


class ScaleServiceResult(Payload):
    service: str
    desired_count: int
    running_count: int
    pending_count: int
    stable: bool
    previous_desired_count: int


SCALE_SERVICE = ActivityDef(
    "scale_service", ScaleServiceInput, ScaleServiceResult, start_to_close=timedelta(minutes=20)
)
