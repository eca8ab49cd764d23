"""The session test environments start from the packaged binaries and carry meshshift's settings."""

from __future__ import annotations

from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from meshshift.migration.constants import SA_APP, SA_GREEN_WEIGHT, SA_PHASE


async def test_time_skipping_environment_starts(env_timeskipping: WorkflowEnvironment) -> None:
    assert env_timeskipping.supports_time_skipping
    assert env_timeskipping.client.data_converter is pydantic_data_converter
    assert await env_timeskipping.client.service_client.check_health()


async def test_local_environment_has_search_attributes(env_local: WorkflowEnvironment) -> None:
    assert env_local.client.data_converter is pydantic_data_converter
    listed = await env_local.client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=env_local.client.namespace)
    )
    assert {SA_APP, SA_PHASE, SA_GREEN_WEIGHT} <= set(listed.custom_attributes)


def test_task_queue_is_fresh_per_test(task_queue: str) -> None:
    assert task_queue.startswith("tq-")
