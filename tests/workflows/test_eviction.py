"""A worker that stops drops the runs it holds; their coroutines are closed by the garbage collector,
outside any workflow event loop. No workflow code may run then (each workflow API raises there), and
the run goes on from its history on the next worker."""

from __future__ import annotations

import gc
import sys
from typing import Any

from tests.workflows.harness import make_spec, running_worker, start, world_for


async def test_a_run_dropped_in_the_middle_of_a_call_runs_no_workflow_code(env_timeskipping, task_queue) -> None:
    body = make_spec()
    world = world_for(body)
    held = world.block("provision_green_service")
    unraisable: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        async with running_worker(env_timeskipping, world, task_queue):
            await start(env_timeskipping, task_queue, body)
            await held.entered.wait()
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert [f"{u.exc_type.__name__}: {u.exc_value} in {u.object}" for u in unraisable] == []
