"""The migration spec: the workflow's only input.

Field names follow the public contract in the brief (section 4). Unknown fields are errors, so a
typo is never silently ignored. Cross-field rules live in the model validators below; every error
names the field path, what was expected and what arrived (see ``migration.errors``), so a wrong
spec is refused before anything touches AWS.

Each edge mechanism's model and rules are in its module under ``migration/edge/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    PlainSerializer,
    StrictInt,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    model_validator,
)

from meshshift.migration.appmesh_snapshot import AppMeshSnapshot, decode_embedded, embedded_or_path
from meshshift.migration.durations import Duration, WaitDuration
from meshshift.migration.edge import registry as edge_registry
from meshshift.migration.edge.registry import EdgeSpec
from meshshift.migration.errors import format_problems, problem, rule_error, rule_error_from_problems, show
from meshshift.migration.spec_base import NonEmpty, SpecModel, StringFormat


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


# --- string formats -----------------------------------------------------------------------------


AppName = Annotated[
    str,
    StringFormat(
        r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        "1-63 lowercase letters, digits or hyphens, starting and ending with a letter or digit "
        "(it becomes the workflow id mesh-migration-<name>)",
    ),
]
RegionName = Annotated[str, StringFormat(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$", "an AWS region like 'us-east-1'")]
EcsName = Annotated[
    str, StringFormat(r"^[A-Za-z0-9_-]{1,255}$", "an ECS service name: 1-255 letters, digits, hyphens or underscores")
]
ClusterRef = Annotated[
    str,
    StringFormat(
        r"^([A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:cluster/[A-Za-z0-9_-]{1,255})$",
        "an ECS cluster name (letters, digits, hyphens, underscores) or cluster ARN",
    ),
]
ServiceSuffix = Annotated[
    str, StringFormat(r"^[A-Za-z0-9_-]{0,64}$", "up to 64 letters, digits, hyphens or underscores")
]
NamespaceName = Annotated[
    str,
    StringFormat(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,1022}[A-Za-z0-9])?$", "a Cloud Map namespace name like 'shop.local'"),
]
HttpUrl = Annotated[str, StringFormat(r"^https?://[^\s/]+(/\S*)?$", "an http:// or https:// URL")]


# --- blue / green -------------------------------------------------------------------------------


def cluster_name(cluster: str) -> str:
    """``arn:aws:ecs:...:cluster/shop`` and ``shop`` both name the cluster ``shop``."""
    return cluster.rsplit("cluster/", 1)[-1] if cluster.startswith("arn:") else cluster


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
    retire: list[EcsName] = Field(
        default_factory=list,
        description="Services of blue.services that get no green copy (e.g. an App Mesh virtual gateway's Envoy-only "
        "service); decommission deletes them with blue",
    )
    appmesh_snapshot: Annotated[
        NonEmpty | AppMeshSnapshot | None,
        BeforeValidator(decode_embedded),
        PlainSerializer(embedded_or_path, when_used="json"),
    ] = Field(
        default=None,
        description="An App Mesh snapshot (meshshift snapshot appmesh): a file path, which meshshift start and plan "
        "replace with the file's content (compressed when large), or that content; discovery uses it when the App "
        "Mesh API refuses",
    )

    @model_validator(mode="after")
    def _unique_services(self) -> BlueSpec:
        dups = _duplicates(self.services)
        if dups:
            raise rule_error(
                (f"services[{i}]", f"each service listed once (already at services[{j}])", show(self.services[i]))
                for i, j in dups
            )
        unlisted = [(i, name) for i, name in enumerate(self.retire) if name not in self.services]
        if unlisted:
            raise rule_error((f"retire[{i}]", "a service listed in blue.services", show(name)) for i, name in unlisted)
        snapshot = self.appmesh_snapshot
        if isinstance(snapshot, AppMeshSnapshot) and snapshot.mesh_name != self.mesh:
            raise rule_error(
                [
                    (
                        "appmesh_snapshot.mesh_name",
                        f"the mesh named in blue.mesh ({show(self.mesh)}): a snapshot describes one mesh",
                        show(snapshot.mesh_name),
                    )
                ]
            )
        return self


DnsName = Annotated[
    str,
    StringFormat(
        r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
        "a DNS name clients call, like 'api.acme.local'",
    ),
]
ServiceConnectName = Annotated[
    str,
    StringFormat(
        r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        "1-64 letters, digits, hyphens or underscores, starting with a letter or digit",
    ),
]
BackendRef = Annotated[
    str,
    StringFormat(
        r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})(:\d{1,5})?$",
        "a backend as 'host' (every port) or 'host:port', like 'payments.acme.local:7070'",
    ),
]


class ClientAliasSpec(SpecModel):
    port: int = Field(ge=1, le=65535, description="Port clients call")
    dns_name: DnsName = Field(description="Name clients call, e.g. api.acme.local")


class ServiceTimeoutsSpec(SpecModel):
    idle: Duration | None = Field(default=None, description="Service Connect idle timeout (0 disables it)")
    per_request: Duration | None = Field(
        default=None, description="Service Connect per-request timeout (0 disables it)"
    )


class GreenServiceOverride(SpecModel):
    """What discovery cannot know, or got wrong, for one green service: wins over every discovery
    source (App Mesh, a snapshot, Cloud Map, the task definitions); the plan marks it source 'spec'."""

    client_aliases: list[ClientAliasSpec] | None = Field(
        default=None,
        description="Exactly these client aliases, one per Service Connect port in port order ([] = none)",
    )
    discovery_name: ServiceConnectName | None = Field(
        default=None, description="Service Connect discovery name of the first port"
    )
    port_name: ServiceConnectName | None = Field(
        default=None, description="Name of the first served port mapping (and its Service Connect portName)"
    )
    app_protocol: Literal["http", "http2", "grpc"] | None = Field(
        default=None, description="appProtocol of the first served port mapping (gives request metrics)"
    )
    timeouts: ServiceTimeoutsSpec | None = Field(default=None, description="Service Connect timeouts, first port")
    desired_count: int | None = Field(default=None, ge=0, description="Tasks of the green service")


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
    services: dict[str, GreenServiceOverride] = Field(
        default_factory=dict,
        description="Overrides per green service, keyed by blue service name (blue.services or "
        "async_workers[].blue_service)",
    )
    allow_missing_backends: list[BackendRef] = Field(
        default_factory=list,
        description="Backends blue's clients call that green may leave unanswered ('host' or 'host:port'); "
        "otherwise such a backend stops the migration before provisioning",
    )


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


# --- notifications ------------------------------------------------------------------------------

# Only variables with this prefix: a spec (which anyone allowed to start a migration writes) must
# not be able to make the worker send requests to whatever URL some other variable of its holds.
WEBHOOK_ENV_PREFIX = "MESHSHIFT_WEBHOOK_"
WebhookEnvName = Annotated[
    str,
    StringFormat(
        rf"^{WEBHOOK_ENV_PREFIX}[A-Z0-9_]{{1,64}}$",
        f"an environment variable name starting with {WEBHOOK_ENV_PREFIX} (uppercase letters, digits, underscores)",
    ),
]
SecretArn = Annotated[
    str,
    StringFormat(
        r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$",
        "a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)",
    ),
]
TopicArn = Annotated[
    str,
    StringFormat(
        r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$",
        "an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>)",
    ),
]


class WebhookSpec(SpecModel):
    """A webhook whose URL (it usually carries a secret, as Slack's do) is given by reference only,
    so it is never written to the workflow's history, logs or traces."""

    url_env: WebhookEnvName | None = Field(
        default=None, description="Environment variable of the worker that holds the https:// URL"
    )
    url_secret_arn: SecretArn | None = Field(
        default=None,
        description="Secrets Manager secret whose string is the https:// URL (or JSON with a 'url' key)",
    )

    @model_validator(mode="after")
    def _one_reference(self) -> WebhookSpec:
        if (self.url_env is None) == (self.url_secret_arn is None):
            both = "both" if self.url_env is not None else "neither"
            raise rule_error(
                [("", "exactly one of url_env or url_secret_arn (the URL itself is never in a spec)", both)]
            )
        return self


class NotificationsSpec(SpecModel):
    sns_topic_arn: TopicArn | None = Field(default=None, description="SNS topic that receives every notification")
    webhook: WebhookSpec | None = Field(
        default=None, description='HTTPS webhook that receives a JSON body {"text": ...} (a Slack incoming webhook)'
    )

    @model_validator(mode="after")
    def _some_target(self) -> NotificationsSpec:
        if self.sns_topic_arn is None and self.webhook is None:
            raise rule_error([("", "sns_topic_arn, webhook or both", "neither")])
        return self


class MigrationSpec(SpecModel):
    name: AppName = Field(description="Application name")
    region: RegionName | None = Field(default=None, description="AWS region; default from AWS_REGION")
    blue: BlueSpec = Field(description="Today's services, in App Mesh")
    green: GreenSpec = Field(description="Where and how the Service Connect copy runs")
    edge: list[EdgeSpec] = Field(
        min_length=1,
        description=f"Traffic shifters ({', '.join(edge_registry.names())}), all set together at each step",
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
    notifications: NotificationsSpec | None = Field(
        default=None,
        description="Where to announce gates, refusals, rollbacks, failures and completion (sent by the worker)",
    )

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
            ({"blue", "green", "async_workers"}, self._override_problems),
        ]
        for needs, rule in rules:
            if not needs & failed:
                yield from rule()

    def _override_problems(self) -> Iterable[tuple[str, str, str]]:
        known = [*self.blue.services, *(w.blue_service for w in self.async_workers)]
        for key in self.green.services:
            if key not in known:
                yield (
                    f"green.services.{key}",
                    f"a blue service name from blue.services or async_workers[].blue_service ({', '.join(known)})",
                    show(key),
                )
        for i, j in _duplicates(self.green.allow_missing_backends):
            yield (
                f"green.allow_missing_backends[{i}]",
                f"each backend listed once (already at green.allow_missing_backends[{j}])",
                show(self.green.allow_missing_backends[i]),
            )

    def _alarm_problems(self) -> Iterable[tuple[str, str, str]]:
        for i, j in _duplicates(self.alarms):
            yield (f"alarms[{i}]", f"each alarm listed once (already at alarms[{j}])", show(self.alarms[i]))

    # -- rules (each yields (path, expected, got)) --

    def _edge_problems(self) -> Iterable[tuple[str, str, str]]:
        seen: dict[str, int] = {}
        regions: dict[str, tuple[str, str]] = {}  # region -> (first path, its ARN)
        for i, edge in enumerate(self.edge):
            mechanism = edge_registry.mechanism_of(edge)
            sid = mechanism.shifter_id(edge)
            if sid in seen:
                yield (
                    f"edge[{i}]",
                    f"each shifter listed once (edge[{seen[sid]}] is the same {edge.type} shifter)",
                    sid,
                )
            seen.setdefault(sid, i)
            for name, region, value in mechanism.regional_resources(edge):
                regions.setdefault(region, (f"edge[{i}].{name}", value))
                if self.region is not None and region != self.region:
                    yield (f"edge[{i}].{name}", f"an ARN in the spec's region {self.region}", show(value))
        if self.region is None and len(regions) > 1:
            (first_region, (first_path, _)), *others = regions.items()
            for _region, (path, arn) in others:
                yield (path, f"an ARN in the same region as {first_path} ({first_region}); set 'region'", show(arn))

    def _step_problems(self) -> Iterable[tuple[str, str, str]]:
        for i, percent in enumerate(self.ramp.weights()):
            for j, edge in enumerate(self.edge):
                err = edge_registry.mechanism_of(edge).percent_problem(edge, percent, f"edge[{j}]")
                if err is None:
                    continue
                yield (
                    f"ramp.steps[{i}]",
                    f"{err.expected} on edge[{j}] ({edge.type})",
                    err.got + (f"; {err.hint}" if err.hint else ""),
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
