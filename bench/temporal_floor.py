"""Temporal's own floor under a rollback: how soon after a signal any workflow can start a local
activity, on the same dev server and in the same worker process as meshshift's workflows.

A rollback's first write is a local activity started by the workflow task that takes the alarm
signal (workflows/compensation.py), so no orchestration built on Temporal reacts sooner than this:
the signal's RPC, the server recording it and dispatching a workflow task, the SDK's activation and
the local activity's dispatch. The rollback benchmarks measure it in every trial, beside the boto3
floor, because a ratio target leaves ``(goal - 1) x floor`` for all of the orchestration, and this
says how much of that Temporal itself takes before meshshift's own code runs.

The probe is the bench's instrument, not part of meshshift: ``bench.worker`` runs it on a task
queue of its own (``probe_task_queue``) in the process that runs the migrations' workflows.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle

ENTERED_TIMEOUT = 10.0


def probe_task_queue(task_queue: str) -> str:
    return f"{task_queue}-temporal-floor"


class ProbeKey(BaseModel):
    key: str


class ProbeEntered(BaseModel):
    """time.monotonic() when the local activity began (one clock for every process on Linux)."""

    at: float


class ProbeTimes(BaseModel):
    entered: dict[str, float]


class ProbeDone(BaseModel):
    pokes: int


@activity.defn(name="bench_temporal_floor_entered")
def entered(_: ProbeKey) -> ProbeEntered:
    return ProbeEntered(at=time.monotonic())


@workflow.defn(name="BenchTemporalFloor")
class TemporalFloorWorkflow:
    """Each ``poke`` signal starts one local activity, as an alarm starts the rollback's first write."""

    def __init__(self) -> None:
        self._waiting: list[str] = []
        self._entered: dict[str, float] = {}
        self._finished = False

    @workflow.signal
    def poke(self, key: ProbeKey) -> None:
        self._waiting.append(key.key)

    @workflow.signal
    def finish(self) -> None:
        self._finished = True

    @workflow.query
    def times(self) -> ProbeTimes:
        return ProbeTimes(entered=dict(self._entered))

    @workflow.run
    async def run(self) -> ProbeDone:
        while True:
            await workflow.wait_condition(lambda: bool(self._waiting) or self._finished)
            if not self._waiting:
                return ProbeDone(pokes=len(self._entered))
            key = self._waiting.pop(0)
            answer = await workflow.execute_local_activity(
                entered, ProbeKey(key=key), start_to_close_timeout=timedelta(seconds=ENTERED_TIMEOUT)
            )
            self._entered[key] = answer.at


class TemporalFloor:
    """One probe workflow for a benchmark's run; ``react()`` is one trial."""

    def __init__(self, handle: WorkflowHandle[Any, Any]) -> None:
        self._handle = handle

    @classmethod
    async def start(cls, client: Client, task_queue: str) -> TemporalFloor:
        handle = await client.start_workflow(
            TemporalFloorWorkflow.run, id=f"bench-temporal-floor-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        return cls(handle)

    async def react(self) -> float:
        """Seconds from just before the signal is sent until its local activity began."""
        key = uuid.uuid4().hex
        started = time.monotonic()
        await self._handle.signal(TemporalFloorWorkflow.poke, ProbeKey(key=key))
        deadline = started + ENTERED_TIMEOUT
        while True:
            times: ProbeTimes = await self._handle.query(TemporalFloorWorkflow.times)
            if key in times.entered:
                return times.entered[key] - started
            if time.monotonic() > deadline:
                raise TimeoutError(f"the probe's local activity did not begin within {ENTERED_TIMEOUT:.0f}s")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        await self._handle.signal(TemporalFloorWorkflow.finish)
        await self._handle.result()
