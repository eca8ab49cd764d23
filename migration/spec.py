"""The migration spec: the workflow's only input.

Field names follow the public contract in the brief (section 4). Unknown fields are errors, so a
typo is never silently ignored. Cross-field rules live in the model validators below; every error
names the field path, what was expected and what arrived (see ``migration.errors``), so a wrong
spec is refused before anything touches AWS.

CloudFront promotion rules (a staging weight can never exceed 15%):

- ``refuse`` (default): any ramp step above 15 is an error, including 100, so a spec with a
  CloudFront shifter must choose one of the two rules below before it can finish a migration;
- ``promote_at_100``: steps up to 15 set the staging weight; 100 promotes the staging config to
  the primary; any step in 16..99 is an error (the shifter cannot express it);
- ``hold_at_cap``: steps up to 15 set the staging weight; steps in 16..99 keep it at 15% while
  the other shifters move on (the plan warns that this shifter lags); 100 promotes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictInt,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from meshshift.migration import weights
from meshshift.migration.durations import Duration, WaitDuration, format_duration
from meshshift.migration.errors import format_problems, problem, rule_error, rule_error_from_problems, show


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
    """How a CloudFront shifter handles ramp steps above its 15% staging limit (module docstring)."""

    REFUSE = "refuse"
    PROMOTE_AT_100 = "promote_at_100"
    HOLD_AT_CAP = "hold_at_cap"


# --- string formats -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Format:
    """String metadata: checked against ``pattern`` with a message saying what was expected.

    The pattern also goes into the JSON Schema, so editors flag the same mistakes.
    """

    pattern: str
    expected: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        compiled = re.compile(self.pattern)
        expected = self.expected

        def check(value: str) -> str:
            if not compiled.fullmatch(value):
                raise rule_error([("", expected, show(value))])
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out["pattern"] = self.pattern
        return out


AppName = Annotated[
    str,
    _Format(
        r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        "1-63 lowercase letters, digits or hyphens, starting and ending with a letter or digit "
        "(it becomes the workflow id mesh-migration-<name>)",
    ),
]
RegionName = Annotated[str, _Format(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$", "an AWS region like 'us-east-1'")]
EcsName = Annotated[
    str, _Format(r"^[A-Za-z0-9_-]{1,255}$", "an ECS service name: 1-255 letters, digits, hyphens or underscores")
]
ClusterRef = Annotated[
    str,
    _Format(
        r"^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9_-]{1,255})$",
        "an ECS cluster name (letters, digits, hyphens, underscores) or cluster ARN",
    ),
]
ServiceSuffix = Annotated[str, _Format(r"^[A-Za-z0-9_-]{0,64}$", "up to 64 letters, digits, hyphens or underscores")]
NamespaceName = Annotated[
    str, _Format(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,1022}[A-Za-z0-9])?$", "a Cloud Map namespace name like 'shop.local'")
]
HostedZoneId = Annotated[
    str, _Format(r"^(/hostedzone/)?[A-Z0-9]{1,32}$", "a Route 53 hosted zone id like 'Z0123456789ABC'")
]
DnsName = Annotated[
    str,
    _Format(
        r"^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$",
        "a DNS name like 'api.shop.example.com'",
    ),
]
CloudFrontId = Annotated[
    str, _Format(r"^[A-Z0-9]{1,32}$", "a CloudFront id like 'E2QWRUHAPOMQZL' (uppercase letters, digits)")
]
HttpUrl = Annotated[str, _Format(r"^https?://[^\s/]+(/\S*)?$", "an http:// or https:// URL")]
NonEmpty = Annotated[str, Field(min_length=1)]


# --- ARNs ---------------------------------------------------------------------------------------

_ARN_HEAD = (
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov|aws-iso(-[a-z])?):elasticloadbalancing:"
    r"(?P<region>[a-z]{2}(-[a-z]+)+-\d{1,2}):(?P<account>\d{12}):"
)
_ELB_RESOURCES = {
    "listener": r"listener/app/(?P<lb_name>[A-Za-z0-9-]{1,32})/(?P<lb_id>[A-Za-z0-9]+)/(?P<listener_id>[A-Za-z0-9]+)$",
    "listener-rule": (
        r"listener-rule/app/(?P<lb_name>[A-Za-z0-9-]{1,32})/(?P<lb_id>[A-Za-z0-9]+)/"
        r"(?P<listener_id>[A-Za-z0-9]+)/(?P<rule_id>[A-Za-z0-9]+)$"
    ),
    "targetgroup": r"targetgroup/(?P<tg_name>[A-Za-z0-9-]{1,32})/(?P<tg_id>[A-Za-z0-9]+)$",
}
_ELB_EXAMPLES = {
    "listener": (
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2"
    ),
    "listener-rule": (
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
        "listener-rule/app/shop/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
    ),
    "targetgroup": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-blue/73e2d6bc24d8a067",
}


@dataclass(frozen=True)
class ElbArn:
    """The parts of an Application Load Balancer ARN that meshshift uses."""

    kind: str
    partition: str
    region: str
    account: str
    lb_name: str = ""
    lb_id: str = ""
    listener_id: str = ""
    rule_id: str = ""
    tg_name: str = ""
    tg_id: str = ""

    @property
    def load_balancer_dimension(self) -> str:
        """CloudWatch ``LoadBalancer`` dimension: ``app/<name>/<id>``."""
        return f"app/{self.lb_name}/{self.lb_id}"

    @property
    def target_group_dimension(self) -> str:
        """CloudWatch ``TargetGroup`` dimension: ``targetgroup/<name>/<id>``."""
        return f"targetgroup/{self.tg_name}/{self.tg_id}"


def parse_elb_arn(arn: str, kind: str) -> ElbArn | None:
    """Parse an ALB ``listener``, ``listener-rule`` or ``targetgroup`` ARN; None if malformed."""
    m = re.match(_ARN_HEAD + _ELB_RESOURCES[kind], arn)
    if not m:
        return None
    parts = {k: v for k, v in m.groupdict().items() if v is not None}
    return ElbArn(kind=kind, **parts)


def cluster_name(cluster: str) -> str:
    """``arn:aws:ecs:...:cluster/shop`` and ``shop`` both name the cluster ``shop``."""
    return cluster.rsplit("cluster/", 1)[-1] if cluster.startswith("arn:") else cluster


# --- blue / green -------------------------------------------------------------------------------


def _duplicates(values: Iterable[str]) -> list[tuple[int, int]]:
    """(index of a repeat, index of its first occurrence) for each repeated value."""
    first: dict[str, int] = {}
    out: list[tuple[int, int]] = []
    for i, value in enumerate(values):
        if value in first:
            out.append((i, first[value]))
        else:
            first[value] = i
    return out


class BlueSpec(SpecModel):
    cluster: ClusterRef = Field(description="ECS cluster name or ARN of today's services")
    services: list[EcsName] = Field(min_length=1, description="Blue ECS service names")
    mesh: NonEmpty | None = Field(default=None, description="App Mesh mesh whose resources are removed at decommission")
    mesh_owner: Annotated[str, Field(pattern=r"^\d{12}$")] | None = Field(
        default=None, description="Account id owning a shared mesh"
    )

    @model_validator(mode="after")
    def _unique_services(self) -> BlueSpec:
        dups = _duplicates(self.services)
        if dups:
            raise rule_error(
                (f"services[{i}]", f"each service listed once (already at services[{j}])", show(self.services[i]))
                for i, j in dups
            )
        return self


class GreenSpec(SpecModel):
    cluster: ClusterRef = Field(description="ECS cluster for green (may be blue's)")
    namespace: NamespaceName = Field(description="Cloud Map namespace for Service Connect (created if missing)")
    provision: ProvisionMode = Field(
        default=ProvisionMode.CREATE,
        description="create: meshshift creates the green services; existing: adopt green services that IaC made",
    )
    service_suffix: ServiceSuffix = Field(default="-sc", description="green service name = blue service name + suffix")
    subnets: list[Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{1,32}$")]] | None = Field(
        default=None, min_length=1, description="Override blue's subnets"
    )
    security_groups: list[Annotated[str, Field(pattern=r"^sg-[0-9a-f]{1,32}$")]] | None = Field(
        default=None, min_length=1, description="Override blue's security groups"
    )
    assign_public_ip: bool | None = Field(default=None, description="Override blue's assignPublicIp")
    steady_state_timeout: Duration = Field(
        default=timedelta(minutes=30), description="How long green services may take to reach ECS steady state"
    )


# --- edge ---------------------------------------------------------------------------------------


class AlbEdge(SpecModel):
    type: Literal["alb"]
    listener_arn: str = Field(
        examples=[_ELB_EXAMPLES["listener"]], description="ALB listener whose forward action is weighted"
    )
    rule_arn: str | None = Field(default=None, description="null = the listener's default action")
    blue_target_group_arn: str = Field(description="Target group of blue's entry service")
    green_target_group_arn: str = Field(description="Target group of green's entry service")
    weight_scale: int = Field(
        default=weights.DEFAULT_WEIGHT_SCALE,
        ge=1,
        le=weights.ALB_MAX_WEIGHT,
        description="Blue weight + green weight (ALB allows 0-999 each); 100 makes weights read as percents",
    )
    owned_by_meshshift: bool = Field(
        default=False, description="Delete blue's target group at decommission (only if meshshift owns it)"
    )

    def parsed(self) -> dict[str, ElbArn]:
        """The parsed ARNs by field name (only those that are well-formed)."""
        fields = {
            "listener_arn": (self.listener_arn, "listener"),
            "rule_arn": (self.rule_arn, "listener-rule"),
            "blue_target_group_arn": (self.blue_target_group_arn, "targetgroup"),
            "green_target_group_arn": (self.green_target_group_arn, "targetgroup"),
        }
        out: dict[str, ElbArn] = {}
        for name, (arn, kind) in fields.items():
            parsed = parse_elb_arn(arn, kind) if arn is not None else None
            if parsed is not None:
                out[name] = parsed
        return out

    @model_validator(mode="after")
    def _arns(self) -> AlbEdge:
        problems: list[tuple[str, str, str]] = []
        parsed = self.parsed()
        for name, kind in (
            ("listener_arn", "listener"),
            ("rule_arn", "listener-rule"),
            ("blue_target_group_arn", "targetgroup"),
            ("green_target_group_arn", "targetgroup"),
        ):
            value = getattr(self, name)
            if value is not None and name not in parsed:
                problems.append(
                    (name, f"an Application Load Balancer {kind} ARN like {_ELB_EXAMPLES[kind]}", show(value))
                )
        listener, rule = parsed.get("listener_arn"), parsed.get("rule_arn")
        if (
            listener
            and rule
            and (rule.lb_name, rule.lb_id, rule.listener_id)
            != (
                listener.lb_name,
                listener.lb_id,
                listener.listener_id,
            )
        ):
            problems.append(("rule_arn", "a rule of the listener in listener_arn", show(self.rule_arn)))
        if self.blue_target_group_arn == self.green_target_group_arn:
            problems.append(
                (
                    "green_target_group_arn",
                    "a target group different from blue_target_group_arn",
                    show(self.green_target_group_arn),
                )
            )
        if listener:
            for name, arn in parsed.items():
                if (arn.region, arn.account) != (listener.region, listener.account):
                    problems.append(
                        (
                            name,
                            f"the listener's region and account ({listener.region}, {listener.account})",
                            f"{arn.region}, {arn.account}",
                        )
                    )
        if problems:
            raise rule_error(problems)
        return self


class WeightedRecord(SpecModel):
    set_identifier: str = Field(min_length=1, max_length=128, description="SetIdentifier of the weighted record")
    value: str = Field(min_length=1, description="Record value (CNAME target or IP), or the alias target DNS name")


class Route53Edge(SpecModel):
    type: Literal["route53"]
    hosted_zone_id: HostedZoneId = Field(description="Hosted zone holding the weighted records")
    record_name: DnsName = Field(description="Name shared by the blue and green weighted records")
    record_type: Literal["A", "AAAA", "CNAME"] = Field(default="CNAME", description="A or AAAA for alias records")
    ttl: int = Field(default=60, ge=0, le=2147483647, description="Record TTL; bakes should last at least this long")
    alias_hosted_zone_id: HostedZoneId | None = Field(
        default=None, description="Set for alias records: the hosted zone of the alias targets"
    )
    blue: WeightedRecord = Field(description="The weighted record that points at blue")
    green: WeightedRecord = Field(description="The weighted record that points at green")
    weight_scale: int = Field(
        default=weights.DEFAULT_WEIGHT_SCALE,
        ge=1,
        le=weights.ROUTE53_MAX_WEIGHT,
        description="Blue weight + green weight (Route 53 allows 0-255 each); 100 makes weights read as percents",
    )
    owned_by_meshshift: bool = Field(default=False, description="Delete blue's record at decommission")

    @model_validator(mode="after")
    def _records(self) -> Route53Edge:
        problems: list[tuple[str, str, str]] = []
        if self.blue.set_identifier == self.green.set_identifier:
            problems.append(
                (
                    "green.set_identifier",
                    "a set identifier different from blue.set_identifier (each weighted record needs its own)",
                    show(self.green.set_identifier),
                )
            )
        if self.blue.value == self.green.value:
            problems.append(("green.value", "a target different from blue.value", show(self.green.value)))
        if self.alias_hosted_zone_id is not None and self.record_type == "CNAME":
            problems.append(("record_type", "'A' or 'AAAA' for an alias record", show(self.record_type)))
        if problems:
            raise rule_error(problems)
        return self


class CloudFrontEdge(SpecModel):
    type: Literal["cloudfront"]
    distribution_id: CloudFrontId = Field(description="Primary distribution (serves blue)")
    staging_distribution_id: CloudFrontId = Field(description="Staging distribution (serves green)")
    continuous_deployment_policy_id: NonEmpty = Field(
        description="Continuous deployment policy attached to the primary"
    )
    promotion: CloudFrontPromotion = Field(
        default=CloudFrontPromotion.REFUSE,
        description="Steps above the 15% staging cap: refuse them, promote staging at 100 (promote_at_100), "
        "or stay at 15% until 100 and then promote (hold_at_cap)",
    )
    session_stickiness_idle_ttl: Duration | None = Field(
        default=None, description="SingleWeight session stickiness idle TTL, 300-3600 s (set both TTLs or neither)"
    )
    session_stickiness_max_ttl: Duration | None = Field(
        default=None, description="SingleWeight session stickiness maximum TTL, 300-3600 s"
    )

    @model_validator(mode="after")
    def _distributions(self) -> CloudFrontEdge:
        problems: list[tuple[str, str, str]] = []
        if self.distribution_id == self.staging_distribution_id:
            problems.append(
                (
                    "staging_distribution_id",
                    "a distribution different from distribution_id",
                    show(self.staging_distribution_id),
                )
            )
        idle, most = self.session_stickiness_idle_ttl, self.session_stickiness_max_ttl
        if (idle is None) != (most is None):
            missing = "session_stickiness_max_ttl" if most is None else "session_stickiness_idle_ttl"
            problems.append((missing, "both stickiness TTLs or neither", "only one"))
        for name, ttl in (("session_stickiness_idle_ttl", idle), ("session_stickiness_max_ttl", most)):
            if ttl is not None and not 300 <= ttl.total_seconds() <= 3600:
                problems.append((name, "300 to 3600 seconds (CloudFront's range)", format_duration(ttl)))
        if idle is not None and most is not None and idle > most:
            problems.append(
                ("session_stickiness_idle_ttl", "at most session_stickiness_max_ttl", format_duration(idle))
            )
        if problems:
            raise rule_error(problems)
        return self


EdgeSpec = Annotated[AlbEdge | Route53Edge | CloudFrontEdge, Field(discriminator="type")]


# --- health, ramp, analysis ---------------------------------------------------------------------


class HealthSpec(SpecModel):
    urls: list[HttpUrl] = Field(default_factory=list, description="Deep health URLs of green")
    consecutive_successes: int = Field(default=3, ge=1, description="Successes in a row each URL needs")
    interval: Duration = Field(default=timedelta(seconds=5), description="Time between checks of a URL")
    timeout: Duration = Field(
        default=timedelta(minutes=10),
        description="How long the target health check and the deep health checks may each take",
    )
    expect_status: int = Field(default=200, ge=100, le=599, description="HTTP status a healthy answer has")
    body_contains: str | None = Field(default=None, description="Substring the body must contain")
    json_path: str | None = Field(default=None, description="Dotted path into the JSON body, e.g. status")
    json_equals: str | None = Field(default=None, description="Value that json_path must equal")
    request_timeout: Duration = Field(default=timedelta(seconds=5), description="Timeout of one health request")
    check_target_health: bool = Field(default=True, description="Require healthy targets in green target groups")


class RampStep(SpecModel):
    weight: StrictInt = Field(
        description="Green percent after this step, in 1..100", json_schema_extra={"minimum": 1, "maximum": 100}
    )
    bake: WaitDuration | None = Field(default=None, description="Overrides ramp.bake for this step")
    approval: ApprovalMode | None = Field(default=None, description="Overrides ramp.approval for this step")


def _step_kind(value: Any) -> str:
    return "step" if isinstance(value, dict | RampStep) else "percent"


StepInput = Annotated[
    Annotated[StrictInt, Tag("percent"), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": 100})]
    | Annotated[RampStep, Tag("step")],
    Discriminator(_step_kind),
]


def step_weight(step: int | RampStep) -> int:
    return step.weight if isinstance(step, RampStep) else step


class RampSpec(SpecModel):
    steps: list[StepInput] = Field(
        default_factory=lambda: list[int | RampStep]([1, 5, 25, 50, 100]),
        description="Green percents, strictly increasing, ending at 100; an int or {weight, bake, approval}",
    )
    bake: WaitDuration = Field(
        default=timedelta(minutes=10), description="Watch time after each weight change (alarms and analysis)"
    )
    approval: ApprovalMode = Field(
        default=ApprovalMode.REQUIRED,
        description="required: each step waits for an `approve` before its weights change; auto: no gate",
    )
    approval_timeout: Duration = Field(
        default=timedelta(hours=24), description="How long a gate waits for approval (time not paused)"
    )
    on_approval_timeout: ApprovalTimeoutAction = Field(
        default=ApprovalTimeoutAction.ROLLBACK,
        description="rollback: roll back to 100% blue; pause: pause, and a resume reopens the gate",
    )

    @model_validator(mode="after")
    def _ramp(self) -> RampSpec:
        problems: list[tuple[str, str, str]] = []
        if not self.steps:
            raise rule_error([("steps", "at least one step, ending at 100", "[]")])
        previous: tuple[int, int] | None = None
        for i, step in enumerate(self.steps):
            weight = step_weight(step)
            path = f"steps[{i}].weight" if isinstance(step, RampStep) else f"steps[{i}]"
            if not 0 < weight <= 100:
                problems.append((path, "a green percent greater than 0 and at most 100", show(weight)))
            if previous is not None and weight <= previous[1]:
                problems.append(
                    (
                        path,
                        f"more than the previous step (steps[{previous[0]}] is {previous[1]}): steps strictly increase",
                        show(weight),
                    )
                )
            previous = (i, weight)
        last = step_weight(self.steps[-1])
        if last != 100:
            path = f"steps[{len(self.steps) - 1}]"
            problems.append((path, "the last step to be 100 (all traffic on green before drain)", show(last)))
        if problems:
            raise rule_error(problems)
        return self

    def weights(self) -> list[int]:
        return [step_weight(s) for s in self.steps]

    def step_bake(self, index: int) -> timedelta:
        step = self.steps[index]
        return step.bake if isinstance(step, RampStep) and step.bake is not None else self.bake

    def step_approval(self, index: int) -> ApprovalMode:
        step = self.steps[index]
        return step.approval if isinstance(step, RampStep) and step.approval is not None else self.approval


class AnalysisSpec(SpecModel):
    max_5xx_rate: float = Field(default=0.01, ge=0, le=1, description="Fraction of green requests")
    max_p99_latency_ms: float | None = Field(default=None, gt=0, description="Green p99 latency limit")
    max_p99_latency_ratio_to_blue: float | None = Field(
        default=None, gt=0, description="Green p99 limit as a multiple of blue's p99 (skipped when blue has none)"
    )
    min_request_count: int = Field(
        default=50, ge=0, description="Fewer green requests in the window than this gives no verdict from the numbers"
    )
    on_no_data: NoDataAction = Field(
        default=NoDataAction.INCONCLUSIVE,
        description="Verdict when there is too little traffic or no latency figure; fail rolls back",
    )
    interval: Duration = Field(default=timedelta(minutes=1), description="How often the bake analyses metrics")
    window: Duration = Field(default=timedelta(minutes=5), description="Metric window per analysis")


class DrainSpec(SpecModel):
    max_wait: Duration = Field(
        default=timedelta(hours=2), description="Longest wait for blue to go idle; then on_timeout applies"
    )
    stickiness_horizon: Duration | None = Field(
        default=None, description="After this long at 100% green, sessions are considered gone"
    )
    idle_threshold: int = Field(default=0, ge=0, description="Blue requests per window considered idle")
    window: Duration = Field(
        default=timedelta(minutes=5), description="Metric window per drain poll and for the final zero-traffic check"
    )
    poll_interval: Duration = Field(default=timedelta(seconds=30), description="Time between drain polls")
    on_timeout: Literal["rollback", "fail", "proceed"] = Field(
        default="rollback",
        description="Blue still busy: roll back; fail (weights stay at 100% green, blue intact); or proceed with a "
        "warning",
    )


class AsyncWorkerSpec(SpecModel):
    blue_service: EcsName = Field(description="Blue queue consumer, scaled to 0 after green is up")
    green_service: EcsName = Field(description="Green queue consumer (created at 0 tasks, scaled up at the flip)")
    desired_count: int = Field(ge=0, description="Tasks of the green consumer after the flip")
    cluster: ClusterRef | None = Field(default=None, description="Defaults to blue.cluster / green.cluster")
    stable_timeout: Duration = Field(
        default=timedelta(minutes=15), description="How long each scaling may take to become stable"
    )


class DecommissionDelete(SpecModel):
    blue_services: bool = Field(default=True, description="Delete blue's ECS services (async workers included)")
    target_groups: bool = Field(
        default=False, description="Delete blue target groups of ALB shifters with owned_by_meshshift: true"
    )
    records: bool = Field(
        default=False, description="Delete blue records of Route 53 shifters with owned_by_meshshift: true"
    )
    app_mesh: bool = Field(
        default=True, description="Delete blue.mesh's App Mesh resources (skipped with a warning if App Mesh is gone)"
    )
    blue_task_definitions: bool = Field(default=False, description="Deregister blue's task definitions")


class DecommissionSpec(SpecModel):
    after: WaitDuration = Field(default=timedelta(hours=24), description="Soak time before decommission")
    approval: ApprovalMode = Field(
        default=ApprovalMode.REQUIRED, description="required: an `approve` (step 100) is needed after the soak"
    )
    delete: DecommissionDelete = Field(default_factory=DecommissionDelete, description="What decommission deletes")
    keep_green_on_rollback: bool = Field(
        default=True, description="false: a rollback also deletes the green services meshshift created"
    )


class RateLimits(SpecModel):
    """Client-side calls per second per AWS service, so a large migration does not throttle itself."""

    ecs: float = Field(default=20.0, gt=0, description="ECS calls per second")
    elbv2: float = Field(default=10.0, gt=0, description="Elastic Load Balancing calls per second")
    route53: float = Field(default=5.0, gt=0, description="Route 53 calls per second")
    cloudfront: float = Field(default=5.0, gt=0, description="CloudFront calls per second")
    cloudwatch: float = Field(default=20.0, gt=0, description="CloudWatch calls per second")
    appmesh: float = Field(default=10.0, gt=0, description="App Mesh calls per second")
    servicediscovery: float = Field(default=10.0, gt=0, description="Cloud Map calls per second")


def edge_weights_problem(edge: AlbEdge | Route53Edge | CloudFrontEdge, percent: int) -> weights.WeightError | None:
    """Why ``edge`` cannot express ``percent`` green, or None when it can."""
    try:
        if isinstance(edge, AlbEdge):
            weights.alb_pair(percent, edge.weight_scale)
        elif isinstance(edge, Route53Edge):
            weights.route53_pair(percent, edge.weight_scale)
        else:
            weights.cloudfront_weight(percent, edge.promotion.value)
    except weights.WeightError as exc:
        return exc
    return None


class MigrationSpec(SpecModel):
    name: AppName = Field(description="Application name")
    region: RegionName | None = Field(default=None, description="AWS region; default from AWS_REGION")
    blue: BlueSpec = Field(description="Today's services, in App Mesh")
    green: GreenSpec = Field(description="Where and how the Service Connect copy runs")
    edge: list[EdgeSpec] = Field(
        min_length=1, description="Traffic shifters (alb, route53, cloudfront), all set together at each step"
    )
    health: HealthSpec = Field(default_factory=HealthSpec, description="Green's validation before any traffic")
    ramp: RampSpec = Field(default_factory=RampSpec, description="Steps, bakes and approval gates")
    analysis: AnalysisSpec = Field(
        default_factory=AnalysisSpec, description="Metric thresholds judged during bakes and the soak"
    )
    alarms: list[NonEmpty] = Field(
        default_factory=list, description="CloudWatch alarms that roll back (polled, and accepted as `alarm` signals)"
    )
    alarm_poll_interval: Duration = Field(
        default=timedelta(seconds=30), description="How often the workflow itself polls the alarms"
    )
    drain: DrainSpec = Field(default_factory=DrainSpec, description="Waiting for blue's traffic to end at 100% green")
    async_workers: list[AsyncWorkerSpec] = Field(
        default_factory=list, description="Queue consumers handed over from blue to green after the drain"
    )
    decommission: DecommissionSpec = Field(
        default_factory=DecommissionSpec, description="Soak length, the last approval, what is deleted"
    )
    rate_limits: RateLimits = Field(
        default_factory=RateLimits, description="Client-side AWS calls per second per service and region"
    )
    approvers: list[NonEmpty] = Field(
        default_factory=list, description="Who may approve or reject; needed when any gate requires approval"
    )
    two_person_rule: bool = Field(default=True, description="requested_by may not approve their own migration")
    requested_by: NonEmpty = Field(description="Who asked for the migration (recorded in the audit trail)")
    dry_run: bool = Field(default=False, description="Stop after the plan; nothing is changed in AWS")

    @model_validator(mode="wrap")
    @classmethod
    def _cross_checks(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> MigrationSpec:
        """Cross-field rules, also when some sections are invalid on their own.

        Pydantic skips "after" validators once a field fails, so a user would fix one batch of
        problems only to meet the next. Here every rule whose inputs are valid still runs, and
        all problems are reported together.
        """
        try:
            spec = handler(data)
        except ValidationError as exc:
            partial = _partial_spec(cls, data, exc)
            extra = [] if partial is None else list(partial._rule_problems(_failed_fields(exc)))
            if not extra:
                raise
            found = [p.model_dump() for p in format_problems(exc, cls)]
            found += [problem(path, expected, got).model_dump() for path, expected, got in extra]
            raise rule_error_from_problems(found) from None
        assert isinstance(spec, MigrationSpec)
        problems = list(spec._rule_problems(frozenset()))
        if problems:
            raise rule_error(problems)
        return spec

    def _rule_problems(self, failed: frozenset[str]) -> Iterable[tuple[str, str, str]]:
        """Every cross-field rule whose input fields are not among ``failed``."""
        rules: list[tuple[set[str], Callable[[], Iterable[tuple[str, str, str]]]]] = [
            ({"edge", "region"}, self._edge_problems),
            ({"ramp", "edge"}, self._step_problems),
            ({"approvers", "ramp", "decommission", "requested_by", "two_person_rule"}, self._approval_problems),
            ({"blue", "green", "async_workers"}, self._name_problems),
            ({"alarms"}, self._alarm_problems),
        ]
        for needs, rule in rules:
            if not needs & failed:
                yield from rule()

    def _alarm_problems(self) -> Iterable[tuple[str, str, str]]:
        for i, j in _duplicates(self.alarms):
            yield (f"alarms[{i}]", f"each alarm listed once (already at alarms[{j}])", show(self.alarms[i]))

    # -- rules (each yields (path, expected, got)) --

    def _edge_problems(self) -> Iterable[tuple[str, str, str]]:
        from meshshift.migration.plan import shifter_id  # the plan owns shifter identity; imported late (cycle)

        seen: dict[str, int] = {}
        regions: dict[str, tuple[str, str]] = {}  # region -> (first path, its ARN)
        for i, edge in enumerate(self.edge):
            sid = shifter_id(edge)
            if sid in seen:
                yield (
                    f"edge[{i}]",
                    f"each shifter listed once (edge[{seen[sid]}] is the same {edge.type} shifter)",
                    sid,
                )
            seen.setdefault(sid, i)
            if isinstance(edge, AlbEdge):
                for name, parsed in edge.parsed().items():
                    regions.setdefault(parsed.region, (f"edge[{i}].{name}", getattr(edge, name)))
                    if self.region is not None and parsed.region != self.region:
                        yield (
                            f"edge[{i}].{name}",
                            f"an ARN in the spec's region {self.region}",
                            show(getattr(edge, name)),
                        )
        if self.region is None and len(regions) > 1:
            (first_region, (first_path, _)), *others = regions.items()
            for _region, (path, arn) in others:
                yield (path, f"an ARN in the same region as {first_path} ({first_region}); set 'region'", show(arn))

    def _step_problems(self) -> Iterable[tuple[str, str, str]]:
        for i, percent in enumerate(self.ramp.weights()):
            for j, edge in enumerate(self.edge):
                err = edge_weights_problem(edge, percent)
                if err is None:
                    continue
                hint = err.hint.replace("the shifter's promotion", f"edge[{j}].promotion")
                hint = hint.replace("weight_scale", f"edge[{j}].weight_scale")
                yield (
                    f"ramp.steps[{i}]",
                    f"{err.expected} on edge[{j}] ({edge.type})",
                    err.got + (f"; {hint}" if hint else ""),
                )

    def approval_required_at(self) -> list[str]:
        """Where the spec asks for a human approval (field paths)."""
        where = [
            f"ramp.steps[{i}]"
            for i in range(len(self.ramp.steps))
            if self.ramp.step_approval(i) is ApprovalMode.REQUIRED
        ]
        if self.decommission.approval is ApprovalMode.REQUIRED:
            where.append("decommission.approval")
        return where

    def eligible_approvers(self) -> list[str]:
        """Approvers whose approval counts: under the two-person rule, never the requester."""
        return [a for a in dict.fromkeys(self.approvers) if not (self.two_person_rule and a == self.requested_by)]

    def _approval_problems(self) -> Iterable[tuple[str, str, str]]:
        for i, j in _duplicates(self.approvers):
            yield (f"approvers[{i}]", f"each approver listed once (already at approvers[{j}])", show(self.approvers[i]))
        where = self.approval_required_at()
        if not where:
            return
        needed_by = ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
        if not self.approvers:
            yield ("approvers", f"at least one approver, because approval is required at {needed_by}", "[]")
        elif not self.eligible_approvers():
            yield (
                "approvers",
                f"at least one approver other than requested_by {self.requested_by!r} (two_person_rule is on: "
                "the requester cannot approve their own migration); add a second person, or set "
                "two_person_rule: false",
                show(self.approvers),
            )

    def _name_problems(self) -> Iterable[tuple[str, str, str]]:
        blue_cluster, green_cluster = cluster_name(self.blue.cluster), cluster_name(self.green.cluster)
        suffix = self.green.service_suffix
        if suffix == "" and blue_cluster == green_cluster:
            yield (
                "green.service_suffix",
                f"a non-empty suffix, because green runs in blue's cluster {green_cluster!r} "
                "(green names would equal blue names)",
                "''",
            )
            return
        # Every ECS service name either side will use, by cluster: a name used twice in one
        # cluster is a collision (duplicates, two-to-one mappings, green taking a blue name).
        used: dict[tuple[str, str], str] = {}
        names: list[tuple[str, str, str, str]] = []  # (cluster, name, path, how it arises)
        for i, service in enumerate(self.blue.services):
            names.append((blue_cluster, service, f"blue.services[{i}]", f"blue service {service!r}"))
        for k, worker in enumerate(self.async_workers):
            cluster = cluster_name(worker.cluster) if worker.cluster else blue_cluster
            names.append(
                (
                    cluster,
                    worker.blue_service,
                    f"async_workers[{k}].blue_service",
                    f"blue worker {worker.blue_service!r}",
                )
            )
        for i, service in enumerate(self.blue.services):
            green = service + suffix
            if len(green) > 255:
                yield (
                    f"blue.services[{i}]",
                    "a green name (name + green.service_suffix) of at most 255 characters",
                    f"{len(green)} characters",
                )
            names.append(
                (green_cluster, green, f"blue.services[{i}]", f"green name {green!r} ({service!r} + {suffix!r})")
            )
        for k, worker in enumerate(self.async_workers):
            cluster = cluster_name(worker.cluster) if worker.cluster else green_cluster
            names.append(
                (
                    cluster,
                    worker.green_service,
                    f"async_workers[{k}].green_service",
                    f"green worker {worker.green_service!r}",
                )
            )
        for cluster, name, path, how in names:
            key = (cluster, name)
            if key in used:
                yield (
                    path,
                    f"a service name not already used in cluster {cluster!r}",
                    f"{how}, which is also {used[key]}",
                )
            else:
                used[key] = f"{how} ({path})"


def _failed_fields(exc: ValidationError) -> frozenset[str]:
    """Top-level fields with a problem (an error at the top itself taints every field)."""
    failed: set[str] = set()
    for err in exc.errors():
        loc = err.get("loc", ())
        if not loc:
            return frozenset(MigrationSpec.model_fields)
        failed.add(str(loc[0]))
    return frozenset(failed)


_FIELD_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def _partial_spec(cls: type[MigrationSpec], data: Any, exc: ValidationError) -> MigrationSpec | None:
    """The spec built from its valid fields only (failed ones left at defaults), or None."""
    if not isinstance(data, dict):
        return None
    failed = _failed_fields(exc)
    values: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if name in failed or name not in data:
            continue
        adapter = _FIELD_ADAPTERS.get(name)
        if adapter is None:
            assert field.annotation is not None
            adapter = _FIELD_ADAPTERS[name] = TypeAdapter(field.annotation)
        try:
            values[name] = adapter.validate_python(data[name])
        except ValidationError:
            return None
    return cls.model_construct(**values)
