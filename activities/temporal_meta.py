"""Questions about the Temporal namespace itself, asked from an activity because workflows do no I/O.

Upserting a search attribute that the namespace has not registered fails the workflow task on a
real cluster, so the workflow asks once which ones exist and upserts only those.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from meshshift.activities.definition import implements_async
from meshshift.migration import contracts


class TemporalMetaActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @implements_async(contracts.REGISTERED_SEARCH_ATTRIBUTES)
    async def registered_search_attributes(
        self, _: contracts.RegisteredSearchAttributesInput
    ) -> contracts.RegisteredSearchAttributes:
        namespace = activity.info().workflow_namespace or self._client.namespace
        response = await self._client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        return contracts.RegisteredSearchAttributes(names=sorted(response.custom_attributes.keys()))
