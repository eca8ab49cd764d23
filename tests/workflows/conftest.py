"""A time-skipping server per test module: these tests drive the server's clock hard, and a test
that fails mid-migration must not leave the clock locked for the next module."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.fixtures_temporal import time_skipping_binary


@pytest.fixture(scope="module")
async def env_timeskipping() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(time_skipping_binary()), data_converter=pydantic_data_converter
    )
    try:
        yield env
    finally:
        await env.shutdown()
