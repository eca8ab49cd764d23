"""A time-skipping server per test (it starts in about 0.1 s). These tests drive the server's clock
hard, and the clock is server-wide: a test that cancels an activity no worker had started yet leaves
the test server's clock locked for good (a test-server defect), and every later test on that server
then waits for its timers in real time. Sharing one server per module made a test's verdict depend on
which tests ran before it on the same server; one server per test does not.

A stuck test fails inside the event loop, after TEST_LIMIT, well before pytest-timeout's 300 s.
pytest-timeout stops a test from a signal handler: its exception lands in whatever code is running,
the test's or one of a Temporal worker's own tasks, and the test's task is left pending with its
worker and workflow until the session's loop closes, long after this module's test server is gone;
closing the loop then waits on it for good. Failed from inside the loop, the test unwinds like any
other (``running_worker`` shuts its worker down while the server is still there), and any task it
left running is cancelled and awaited right after it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.fixtures_temporal import time_skipping_binary

# Each test here takes seconds (tens on a loaded machine).
TEST_LIMIT = 120.0
# How long the tasks that a test left running get to end once cancelled.
REAP_LIMIT = 30.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if (
            isinstance(item, pytest.Function)
            and item.path.is_relative_to(here)
            and inspect.iscoroutinefunction(item.obj)
        ):
            item.obj = _bounded(item.obj, item.nodeid)


def _bounded(test: Callable[..., Coroutine[Any, Any, None]], name: str) -> Callable[..., Coroutine[Any, Any, None]]:
    @functools.wraps(test)
    async def bounded(*args: Any, **kwargs: Any) -> None:
        limit = asyncio.timeout(TEST_LIMIT)
        try:
            async with limit:
                await test(*args, **kwargs)
        except TimeoutError as err:
            if not limit.expired():
                raise
            raise AssertionError(
                f"{name} did not end within {TEST_LIMIT:g} s; the traceback shows where it waited"
            ) from err

    return bounded


@pytest.fixture(autouse=True)
async def no_task_outlives_its_test() -> AsyncIterator[None]:
    """Cancel and await whatever the test left running (nothing, unless it was stopped by force)."""
    before = asyncio.all_tasks()
    yield
    this = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() - before if t is not this and not t.done()]
    if not left:
        return
    for task in left:
        task.cancel()
    _, stuck = await asyncio.wait(left, timeout=REAP_LIMIT)
    pytest.fail(
        f"the test left {len(left)} task(s) running: {left!r}; cancelled, "
        + (f"{len(stuck)} still running after {REAP_LIMIT:g} s: {stuck!r}" if stuck else "they ended")
    )


@pytest.fixture
async def env_timeskipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_binary()), data_converter=pydantic_data_converter
    )
    try:
        yield env
    finally:
        await env.shutdown()
