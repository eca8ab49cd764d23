"""The migration plan, computed purely from the spec and what discovery found."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from meshshift.migration.contracts.base import Payload
from meshshift.migration.contracts.ecs import (
    CapacityProviderItem,
    LoadBalancerAttachment,
    NetworkConfig,
    ServiceConnectConfiguration,
    TaskDefinition,
)
from meshshift.migration.edge import registry as edge_registry


class GreenServicePlan(Payload):
    blue_service: str
    green_service: str
    cluster: str
    desired_count: int
    task_definition: TaskDefinition
    service_connect: ServiceConnectConfiguration
    load_balancers: list[LoadBalancerAttachment] = Field(default_factory=list)
    network: NetworkConfig | None = None
    launch_type: str | None = None
    capacity_provider_strategy: list[CapacityProviderItem] = Field(default_factory=list)
    platform_version: str | None = None
    is_async_worker: bool = False


# The name of a registered edge mechanism (migration.edge.registry).
MechanismName = Annotated[str, AfterValidator(edge_registry.check_name)]


class ShifterWeights(Payload):
    """Weights in the mechanism's own units (each mechanism's module under migration/edge/ says
    which); ``promoted`` means the mechanism moved all traffic at once (100% green)."""

    shifter_id: str
    mechanism: MechanismName
    blue: float
    green: float
    promoted: bool = False


class PlannedStep(Payload):
    index: int
    percent: int
    bake: timedelta
    approval_required: bool
    weights: list[ShifterWeights]


class UntranslatableItem(Payload):
    """One App Mesh construct that green does not get as blue had it, and what to do instead."""

    service: str | None = Field(description="Blue ECS service it concerns; None = the mesh as a whole")
    app_mesh_construct: str = Field(description="e.g. 'retry policy', 'route match', 'virtual gateway', 'mTLS'")
    resource: str = Field(description="The App Mesh resource, e.g. 'route color-router/color2'")
    detail: str
    next_step: str

    def text(self) -> str:
        """The one-line form kept in ``MigrationPlan.untranslatable``."""
        prefix = f"service {self.service!r}: " if self.service else ""
        return f"{prefix}{self.app_mesh_construct} ({self.resource}): {self.detail}. Next: {self.next_step}"


class PreflightFinding(Payload):
    """One finding of the plan's edge preflight: the edge as it is today against the spec."""

    severity: Literal["error", "warning"]
    field: str = Field(description="The spec field to change, e.g. 'edge[0].rule_arn'")
    expected: str
    found: str
    next_step: str = ""


class MigrationPlan(Payload):
    services: list[GreenServicePlan]
    async_workers: list[GreenServicePlan] = Field(default_factory=list)
    steps: list[PlannedStep]
    rollback_weights: list[ShifterWeights]
    warnings: list[str] = Field(default_factory=list)
    untranslatable: list[str] = Field(default_factory=list)
    untranslatable_items: list[UntranslatableItem] = Field(
        default_factory=list, description="The same findings as untranslatable, structured, each with its next step"
    )
    retired_services: list[str] = Field(
        default_factory=list, description="Blue services that get no green copy (virtual gateways, blue.retire)"
    )
    preflight: list[PreflightFinding] = Field(
        default_factory=list, description="The edge preflight's findings (warnings: an error stops the plan)"
    )
