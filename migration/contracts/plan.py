"""The migration plan, computed purely from the spec and what discovery found."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from meshshift.migration.contracts.base import Payload
from meshshift.migration.contracts.discovery import FactSource
from meshshift.migration.contracts.ecs import (
    CapacityProviderItem,
    LoadBalancerAttachment,
    NetworkConfig,
    ServiceConnectConfiguration,
    TaskDefinition,
)
from meshshift.migration.edge import registry as edge_registry


class PlanFact(Payload):
    """Where one planned value of a green service comes from (issue 18): the spec, App Mesh, a
    snapshot, Cloud Map or the task definitions, and the evidence."""

    field: str = Field(description="e.g. 'client_aliases', 'discovery_name', 'desired_count'")
    value: str
    source: FactSource
    evidence: str = ""


class BackendCheck(Payload):
    """A backend blue's client calls, and whether green answers it under the same name and port."""

    client: str = Field(description="Blue service that calls it")
    host: str
    port: int | None = Field(default=None, description="None: App Mesh names the backend without a port")
    source: FactSource
    evidence: str
    answered: bool = Field(description="A green Service Connect client alias answers host:port")
    answered_by: str | None = Field(default=None, description="The green service holding that alias")
    allowed_missing: bool = Field(default=False, description="Listed in green.allow_missing_backends")
    outside_spec: bool = Field(
        default=False,
        description="App Mesh says no service of the spec provides it: green calls it by DNS (see untranslatable)",
    )


class ServedPortRef(Payload):
    """A port green serves, as the translation chose it: enough to name green's port mappings again."""

    port: int
    app_protocol: Literal["http", "http2", "grpc"] | None = None
    from_listener: bool = Field(
        default=False, description="An App Mesh listener described it (its mapping then gets appProtocol)"
    )


class PortMappingRef(Payload):
    """A port mapping of green's task definition as the plan left it (after green.services overrides)."""

    container: str
    index: int = Field(description="Position in the container's portMappings")
    name: str | None = None
    app_protocol: Literal["http", "http2", "grpc"] | None = None


class GreenTaskSource(Payload):
    """How green's task definition is made from blue's (issue 22): the provisioning activity reads
    blue's revision again and translates it, so the workflow carries this instead of the definition."""

    blue_task_definition_arn: str = Field(description="Blue's revision: it cannot change, so the translation repeats")
    family: str = Field(description="Green's task definition family")
    family_suffix: str
    served_ports: list[ServedPortRef] = Field(default_factory=list)
    port_mappings: list[PortMappingRef] = Field(
        default_factory=list, description="Names and protocols the plan set (an override can rename a port)"
    )
    digest: str = Field(description="Hash of the planned green task definition (the meshshift:spec-hash tag)")


class GreenServicePlan(Payload):
    blue_service: str
    green_service: str
    cluster: str
    desired_count: int
    # None in the workflow's plan since issue 22 (patch paged-discovery): green_task says how to make it.
    task_definition: TaskDefinition | None = None
    service_connect: ServiceConnectConfiguration
    load_balancers: list[LoadBalancerAttachment] = Field(default_factory=list)
    network: NetworkConfig | None = None
    launch_type: str | None = None
    capacity_provider_strategy: list[CapacityProviderItem] = Field(default_factory=list)
    platform_version: str | None = None
    is_async_worker: bool = False
    facts: list[PlanFact] = Field(
        default_factory=list, description="Where client aliases and overridden values come from"
    )
    backends: list[BackendCheck] = Field(
        default_factory=list, description="Backends blue's copy of this service calls, and whether green answers them"
    )
    green_task: GreenTaskSource | None = Field(
        default=None, description="Blue's revision and the translation's choices, to make green's task definition"
    )

    @property
    def planned_task_definition(self) -> TaskDefinition:
        """Green's task definition, in a plan that still carries it (``build_plan``'s, the CLI's)."""
        assert self.task_definition is not None, "the workflow's plan keeps the source, not the definition"
        return self.task_definition

    @property
    def green_family(self) -> str:
        """Green's task definition family, whether the plan carries the definition or its source."""
        if self.task_definition is not None:
            return self.task_definition.family
        assert self.green_task is not None, "a green service plan carries its task definition or its source"
        return self.green_task.family


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
    missing_backends: list[BackendCheck] = Field(
        default_factory=list,
        description="Backends blue's clients call that green would not answer: the migration stops before "
        "provisioning (issue 18)",
    )
    appmesh_resources: list[str] = Field(
        default_factory=list,
        description="blue.mesh's resources as discovery knew them (live API or snapshot), in deletion order",
    )
    backend_gate: str | None = Field(
        default=None, description="The backend gate's message when missing_backends is not empty (client, backend, fix)"
    )
