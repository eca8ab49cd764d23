"""Issue 18: a backend blue's clients call that green would not answer stops the migration in
planning, before anything is created (patch backend-gate-stops-planning)."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from meshshift.migration import contracts as c
from meshshift.migration.state import Phase
from tests.workflows.fakes import FakeWorld
from tests.workflows.harness import make_spec, running_worker, start, status, wait_for, world_for

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
    assert set(world.calls) == {
        c.REGISTERED_SEARCH_ATTRIBUTES.name,
        c.DISCOVER_BLUE_MESH.name,
        c.DISCOVER_BLUE_SERVICES.name,
    }


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


USER_API = c.BackendCall(
    client="frontend",
    host="user-api.shop.local",
    port=8080,
    source=c.FactSource.TASK_DEFINITION,
    evidence="task definition 'frontend', container 'app' environment USER_API=http://user-api.shop.local:8080",
)
USER_API_ALIAS = c.InferredAlias(
    blue_service="user-api",
    dns_name="user-api.shop.local",
    port=8080,
    container_port=8080,
    source=c.FactSource.CLOUD_MAP,
    evidence="ECS serviceRegistries -> Cloud Map service 'user-api' in namespace 'shop.local' (A)",
)


async def test_green_read_back_from_ecs_is_checked_before_the_first_weight_change(env_timeskipping, task_queue) -> None:
    body = make_spec()
    world = world_for(body)
    world.backend_calls = [USER_API]
    world.inferred_aliases = [USER_API_ALIAS]

    def drop_alias(w: FakeWorld) -> None:
        # Someone (IaC, a console edit) removed the alias after the plan: green no longer answers.
        for config in w.service_connect.values():
            for service in config.services:
                service.clientAliases = []

    world.hooks[c.READ_GREEN_SERVICE_CONNECT.name] = drop_alias
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
        final = await status(handle)
    cause = failure.value.cause
    assert isinstance(cause, ApplicationError)
    assert "read back from ECS, before the first weight change" in cause.message
    assert "client 'frontend' calls user-api.shop.local:8080" in cause.message
    assert final.phase is Phase.FAILED
    assert world.calls[c.READ_GREEN_SERVICE_CONNECT.name] == 1
    assert world.calls[c.SET_EDGE_WEIGHTS.name] == 0
    assert world.all_blue()


async def test_green_that_answers_every_backend_goes_on_to_the_ramp(env_timeskipping, task_queue) -> None:
    body = make_spec()
    world = world_for(body)
    world.backend_calls = [USER_API]
    world.inferred_aliases = [USER_API_ALIAS]
    async with running_worker(env_timeskipping, world, task_queue):
        handle = await start(env_timeskipping, task_queue, body)
        final = await wait_for(handle, lambda s: s.phase is Phase.RAMPING, "the ramp")
        await handle.terminate("test done")
    assert world.calls[c.READ_GREEN_SERVICE_CONNECT.name] == 1
    assert final.plan is not None
    frontend = next(p for p in final.plan.services if p.blue_service == "frontend")
    assert [(b.host, b.answered_by) for b in frontend.backends] == [("user-api.shop.local", "user-api-sc")]
    assert any(e.kind == "backends" for e in final.events)
