"""Issue 18: a backend blue's clients call that green would not answer stops the migration in
planning, before anything is created (patch backend-gate-stops-planning)."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from meshshift.migration import contracts as c
from meshshift.migration.state import Phase
from tests.workflows.harness import make_spec, running_worker, start, status, world_for

PAYMENTS = c.BackendCall(
    client="frontend",
    host="payments.shop.local",
    port=7443,
    source=c.FactSource.TASK_DEFINITION,
    evidence="task definition 'frontend', container 'app' environment PAYMENTS_URL=https://payments.shop.local:7443",
)


async def test_missing_backend_fails_planning_before_anything_is_created(env_timeskipping, task_queue) -> None:
    body = make_spec()
    world = world_for(body)
    world.backend_calls = [PAYMENTS]
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        final = await status(handle)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert "client 'frontend' calls payments.shop.local:7443" in cause.message
    assert "green.allow_missing_backends" in cause.message
    assert final.phase is Phase.FAILED
    assert final.plan is not None and [b.host for b in final.plan.missing_backends] == ["payments.shop.local"]
    assert set(world.calls) == {c.REGISTERED_SEARCH_ATTRIBUTES.name, c.DISCOVER_BLUE.name}


async def test_allowed_missing_backend_goes_on(env_timeskipping, task_queue) -> None:
    body = make_spec(dry_run=True)
    body["green"]["allow_missing_backends"] = ["payments.shop.local:7443"]
    world = world_for(body)
    world.backend_calls = [PAYMENTS]
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        report = await handle.result()
    assert report.outcome == "dry_run"
    assert report.plan is not None and report.plan.missing_backends == []
    assert any("allowed by green.allow_missing_backends" in w for w in report.warnings)
