"""The migration spec: the workflow's only input.

Field names follow the public contract in the brief (section 4). Unknown fields are errors, so a
typo is never silently ignored. Cross-field rules live in the model validators below; every error
names the field path, what was expected and what arrived.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from migration.durations import Duration


class SpecModel(BaseModel):
    """Base for every spec section: unknown keys are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ProvisionMode(StrEnum):
    CREATE = "create"
    EXISTING = "existing"


class ApprovalMode(StrEnum):
    REQUIRED = "required"
    AUTO = "auto"


class ApprovalTimeoutAction(StrEnum):
    ROLLBACK = "rollback"
    PAUSE = "pause"


class NoDataAction(StrEnum):
    """What the analysis concludes when green has too few requests for a verdict."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


class CloudFrontPromotion(StrEnum):
    """How a CloudFront shifter handles ramp steps above its 15% staging limit."""

    REFUSE = "refuse"  # any step above 15% is a validation error
    PROMOTE_AT_100 = "promote_at_100"  # hold at the cap until 100%, then promote staging to primary
    HOLD_AT_CAP = "hold_at_cap"  # explicitly accept min(step, cap); promote at 100


# --- blue / green -------------------------------------------------------------------------------


class BlueSpec(SpecModel):
    cluster: str = Field(min_length=1, description="ECS cluster name or ARN of today's services")
    services: list[str] = Field(min_length=1, description="Blue ECS service names")
    mesh: str | None = Field(default=None, description="App Mesh mesh whose resources are removed at decommission")
    mesh_owner: str | None = Field(default=None, description="Account id owning a shared mesh")


class GreenSpec(SpecModel):
    cluster: str = Field(min_length=1, description="ECS cluster for green (may be blue's)")
    namespace: str = Field(min_length=1, description="Cloud Map namespace for Service Connect (created if missing)")
    provision: ProvisionMode = ProvisionMode.CREATE
    service_suffix: str = Field(default="-sc", description="green service name = blue service name + suffix")
    subnets: list[str] | None = Field(default=None, description="Override blue's subnets")
    security_groups: list[str] | None = Field(default=None, description="Override blue's security groups")
    assign_public_ip: bool | None = Field(default=None, description="Override blue's assignPublicIp")
    steady_state_timeout: Duration = Field(default=timedelta(minutes=30))


# --- edge ---------------------------------------------------------------------------------------


class AlbEdge(SpecModel):
    type: Literal["alb"]
    listener_arn: str
    rule_arn: str | None = Field(default=None, description="null = the listener's default action")
    blue_target_group_arn: str
    green_target_group_arn: str
    owned_by_meshshift: bool = Field(
        default=False, description="Delete blue's target group at decommission (only if meshshift owns it)"
    )


class WeightedRecord(SpecModel):
    set_identifier: str = Field(min_length=1, max_length=128)
    value: str = Field(min_length=1)


class Route53Edge(SpecModel):
    type: Literal["route53"]
    hosted_zone_id: str
    record_name: str
    record_type: Literal["A", "AAAA", "CNAME"] = "CNAME"
    ttl: int = Field(default=60, ge=0, le=2147483647, description="Record TTL; bakes wait at least this long")
    alias_hosted_zone_id: str | None = Field(
        default=None, description="Set for alias records: the hosted zone of the alias targets"
    )
    blue: WeightedRecord
    green: WeightedRecord
    owned_by_meshshift: bool = Field(default=False, description="Delete blue's record at decommission")


class CloudFrontEdge(SpecModel):
    type: Literal["cloudfront"]
    distribution_id: str = Field(description="Primary distribution (serves blue)")
    staging_distribution_id: str = Field(description="Staging distribution (serves green)")
    continuous_deployment_policy_id: str
    promotion: CloudFrontPromotion = CloudFrontPromotion.REFUSE
    session_stickiness_idle_ttl: Duration | None = None
    session_stickiness_max_ttl: Duration | None = None


EdgeSpec = Annotated[AlbEdge | Route53Edge | CloudFrontEdge, Field(discriminator="type")]


# --- health, ramp, analysis ---------------------------------------------------------------------


class HealthSpec(SpecModel):
    urls: list[str] = Field(default_factory=list, description="Deep health URLs of green")
    consecutive_successes: int = Field(default=3, ge=1)
    interval: Duration = Field(default=timedelta(seconds=5))
    timeout: Duration = Field(default=timedelta(minutes=10))
    expect_status: int = Field(default=200, ge=100, le=599)
    body_contains: str | None = Field(default=None, description="Substring the body must contain")
    json_path: str | None = Field(default=None, description="Dotted path into the JSON body, e.g. status")
    json_equals: str | None = Field(default=None, description="Value that json_path must equal")
    request_timeout: Duration = Field(default=timedelta(seconds=5))
    check_target_health: bool = Field(default=True, description="Require healthy targets in green target groups")


class RampStep(SpecModel):
    weight: int = Field(description="Green percent after this step")
    bake: Duration | None = None
    approval: ApprovalMode | None = None


class RampSpec(SpecModel):
    steps: list[int | RampStep] = Field(default_factory=lambda: list[int | RampStep]([1, 5, 25, 50, 100]))
    bake: Duration = Field(default=timedelta(minutes=10))
    approval: ApprovalMode = ApprovalMode.REQUIRED
    approval_timeout: Duration = Field(default=timedelta(hours=24))
    on_approval_timeout: ApprovalTimeoutAction = ApprovalTimeoutAction.ROLLBACK


class AnalysisSpec(SpecModel):
    max_5xx_rate: float = Field(default=0.01, ge=0, le=1, description="Fraction of green requests")
    max_p99_latency_ms: float | None = Field(default=None, gt=0)
    max_p99_latency_ratio_to_blue: float | None = Field(default=None, gt=0)
    min_request_count: int = Field(default=50, ge=0)
    on_no_data: NoDataAction = NoDataAction.INCONCLUSIVE
    interval: Duration = Field(default=timedelta(minutes=1), description="How often the bake analyses metrics")
    window: Duration = Field(default=timedelta(minutes=5), description="Metric window per analysis")


class DrainSpec(SpecModel):
    max_wait: Duration = Field(default=timedelta(hours=2))
    stickiness_horizon: Duration | None = Field(
        default=None, description="After this long at 100% green, sessions are considered gone"
    )
    idle_threshold: int = Field(default=0, ge=0, description="Blue requests per window considered idle")
    window: Duration = Field(default=timedelta(minutes=5))
    poll_interval: Duration = Field(default=timedelta(seconds=30))
    on_timeout: Literal["rollback", "fail", "proceed"] = "rollback"


class AsyncWorkerSpec(SpecModel):
    blue_service: str
    green_service: str
    desired_count: int = Field(ge=0)
    cluster: str | None = Field(default=None, description="Defaults to blue.cluster / green.cluster")
    stable_timeout: Duration = Field(default=timedelta(minutes=15))


class DecommissionDelete(SpecModel):
    blue_services: bool = True
    target_groups: bool = False
    records: bool = False
    app_mesh: bool = True
    blue_task_definitions: bool = False


class DecommissionSpec(SpecModel):
    after: Duration = Field(default=timedelta(hours=24), description="Soak time before decommission")
    approval: ApprovalMode = ApprovalMode.REQUIRED
    delete: DecommissionDelete = Field(default_factory=DecommissionDelete)
    keep_green_on_rollback: bool = True


class RateLimits(SpecModel):
    """Client-side calls per second per AWS service, so a large migration does not throttle itself."""

    ecs: float = Field(default=20.0, gt=0)
    elbv2: float = Field(default=10.0, gt=0)
    route53: float = Field(default=5.0, gt=0)
    cloudfront: float = Field(default=5.0, gt=0)
    cloudwatch: float = Field(default=20.0, gt=0)
    appmesh: float = Field(default=10.0, gt=0)
    servicediscovery: float = Field(default=10.0, gt=0)


class MigrationSpec(SpecModel):
    name: str = Field(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description="Application name")
    region: str | None = Field(default=None, description="AWS region; default from AWS_REGION")
    blue: BlueSpec
    green: GreenSpec
    edge: list[EdgeSpec] = Field(min_length=1)
    health: HealthSpec = Field(default_factory=HealthSpec)
    ramp: RampSpec = Field(default_factory=RampSpec)
    analysis: AnalysisSpec = Field(default_factory=AnalysisSpec)
    alarms: list[str] = Field(default_factory=list)
    alarm_poll_interval: Duration = Field(default=timedelta(seconds=30))
    drain: DrainSpec = Field(default_factory=DrainSpec)
    async_workers: list[AsyncWorkerSpec] = Field(default_factory=list)
    decommission: DecommissionSpec = Field(default_factory=DecommissionSpec)
    rate_limits: RateLimits = Field(default_factory=RateLimits)
    approvers: list[str] = Field(default_factory=list)
    two_person_rule: bool = True
    requested_by: str = Field(min_length=1)
    dry_run: bool = False
