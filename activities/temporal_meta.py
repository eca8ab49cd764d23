"""Questions about the Temporal namespace itself, asked from an activity because workflows do no I/O.

Upserting a search attribute that the namespace has not registered fails the workflow task on a
real cluster, so the workflow asks once which ones exist and upserts only those.

A continue-as-new state too large for one payload waits in holder workflows (migration/state_parts.py);
the next run reads each part back here, with the holder's query.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from meshshift.activities.definition import implements_async
from meshshift.migration import contracts
from meshshift.migration.constants import QUERY_STATE_PART


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

    @implements_async(contracts.READ_STATE_PART)
    async def read_state_part(self, input: contracts.ReadStatePartInput) -> contracts.StatePart:
        handle = self._client.get_workflow_handle(input.workflow_id)
        try:
            part: contracts.StatePart = await handle.query(QUERY_STATE_PART, result_type=contracts.StatePart)
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            # Gone for good (terminated, or past the namespace's retention): no retry brings it back.
            raise ApplicationError(
                f"the continue-as-new state part held by workflow {input.workflow_id} is gone ({err.message}): "
                "the migration cannot read back its plan and provisioning results",
                type="StatePartGone",
                non_retryable=True,
            ) from err
        return part
