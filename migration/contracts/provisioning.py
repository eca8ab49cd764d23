"""Creating or adopting green: the Cloud Map namespace and the green services."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from meshshift.migration.contracts.base import ActivityDef, AwsContext, Payload
from meshshift.migration.contracts.ecs import ServiceConnectConfiguration
from meshshift.migration.contracts.plan import GreenServicePlan
from meshshift.migration.spec import ProvisionMode


class EnsureNamespaceInput(Payload):
    aws: AwsContext
    name: str


class NamespaceResult(Payload):
    name: str
    id: str
    arn: str
    created: bool


class ProvisionServiceInput(Payload):
    aws: AwsContext
    plan: GreenServicePlan
    namespace_arn: str
    mode: ProvisionMode
    initial_desired_count: int | None = Field(default=None, description="Override (async workers start at 0)")


class ProvisionedService(Payload):
    service_name: str
    service_arn: str
    task_definition_arn: str
    created: bool
    adopted: bool
    mismatches: list[str] = Field(default_factory=list)


ENSURE_NAMESPACE = ActivityDef(
    "ensure_namespace", EnsureNamespaceInput, NamespaceResult, start_to_close=timedelta(minutes=10)
)
PROVISION_GREEN_SERVICE = ActivityDef(
    "provision_green_service", ProvisionServiceInput, ProvisionedService, start_to_close=timedelta(minutes=10)
)


class GreenServiceRef(Payload):
    cluster: str
    service: str


class ReadServiceConnectInput(Payload):
    """Green services whose Service Connect configuration is read back from ECS (issue 18)."""

    aws: AwsContext
    services: list[GreenServiceRef]


class GreenServiceConnect(Payload):
    cluster: str
    service: str
    found: bool = Field(description="The service exists and is ACTIVE")
    service_connect: ServiceConnectConfiguration | None = Field(
        default=None, description="Of the PRIMARY deployment (what its tasks run), else the service's"
    )


class ReadServiceConnectResult(Payload):
    services: list[GreenServiceConnect] = Field(default_factory=list)


READ_GREEN_SERVICE_CONNECT = ActivityDef(
    "read_green_service_connect",
    ReadServiceConnectInput,
    ReadServiceConnectResult,
    start_to_close=timedelta(minutes=5),
)
