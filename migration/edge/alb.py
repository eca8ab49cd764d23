"""ALB weighted target groups: a listener's forward action sends each target group weight / sum.

ALB allows weights 0-999 per target group. The I/O side is ``activities/edge/alb.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, model_validator

from meshshift.migration.edge.base import (
    BlueResources,
    EdgeFacts,
    EdgeMechanism,
    EdgeModel,
    EdgeWeights,
    FactModel,
    LoadBalancerMetrics,
    PreflightContext,
    PreflightProblem,
    RegionalResource,
    TargetGroupPair,
    preflight_error,
    preflight_warning,
)
from meshshift.migration.errors import rule_error, show
from meshshift.migration.iam_model import IamContext, IamGrant, grant
from meshshift.migration.weights import DEFAULT_WEIGHT_SCALE, IntegerPair, integer_pair

MAX_WEIGHT = 999

# Envoy's admin interface: App Mesh task definitions often health-check it. Green runs no Envoy.
ENVOY_ADMIN_PORT = 9901

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


# --- spec ---------------------------------------------------------------------------------------


class AlbEdge(EdgeModel):
    type: Literal["alb"]
    listener_arn: str = Field(
        examples=[_ELB_EXAMPLES["listener"]], description="ALB listener whose forward action is weighted"
    )
    rule_arn: str | None = Field(default=None, description="null = the listener's default action")
    blue_target_group_arn: str = Field(description="Target group of blue's entry service")
    green_target_group_arn: str = Field(description="Target group of green's entry service")
    weight_scale: int = Field(
        default=DEFAULT_WEIGHT_SCALE,
        ge=1,
        le=MAX_WEIGHT,
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


# --- preflight facts ----------------------------------------------------------------------------


class AlbWeightedTargetGroup(FactModel):
    target_group_arn: str
    weight: int


class AlbActionFacts(FactModel):
    """The listener's default action or one of its rules, as read: what it matches and where it forwards."""

    rule_arn: str | None = Field(default=None, description="None for the listener's default action")
    priority: str = Field(default="default", description="the rule's priority, 'default' for the default action")
    conditions: list[str] = Field(
        default_factory=list, description="one per condition: 'path-pattern /api/* or /v2/*', 'host-header a.com'"
    )
    action_types: list[str] = Field(default_factory=list, description="'forward', 'authenticate-oidc', ...")
    forwards: list[AlbWeightedTargetGroup] = Field(
        default_factory=list, description="target groups of its forward action(s), with their weights"
    )

    def where(self) -> str:
        if self.rule_arn is None:
            return "the listener's default action"
        matches = ", ".join(self.conditions) or "no condition"
        return f"rule {self.rule_arn} (priority {self.priority}, {matches})"

    def forwards_to(self, target_group_arn: str) -> bool:
        return any(f.target_group_arn == target_group_arn for f in self.forwards)

    def sends_to(self, target_group_arn: str) -> bool:
        """Forwards some requests to the target group (a weight above 0)."""
        return any(f.target_group_arn == target_group_arn and f.weight > 0 for f in self.forwards)

    def matches_everything(self) -> bool:
        """A rule whose only conditions are catch-all path patterns takes every request the
        rules before it leave, so nothing reaches the rules after it or the default action."""
        if self.rule_arn is None or not self.conditions:
            return False
        return all(
            c.startswith("path-pattern ") and any(v in CATCH_ALL_PATHS for v in c.split(" ", 1)[1].split(" or "))
            for c in self.conditions
        )


# Path patterns that match every request path.
CATCH_ALL_PATHS = frozenset({"*", "/*"})


class AlbTargetGroupFacts(FactModel):
    target_group_arn: str
    found: bool
    port: int | None = None
    protocol: str | None = None
    health_check_protocol: str | None = None
    health_check_port: str | None = Field(default=None, description="'traffic-port' or a port number")
    health_check_path: str | None = None


class AlbFacts(EdgeFacts):
    """What the ALB shifter read of its listener and target groups before the plan."""

    type: Literal["alb"] = "alb"
    listener_found: bool = True
    default_action: AlbActionFacts | None = None
    rules: list[AlbActionFacts] = Field(default_factory=list, description="the listener's rules, by priority")
    target_groups: list[AlbTargetGroupFacts] = Field(default_factory=list, description="blue's and green's")
    unreadable: str | None = Field(default=None, description="why the edge could not be read (e.g. AccessDenied)")

    def target_group(self, arn: str) -> AlbTargetGroupFacts | None:
        return next((t for t in self.target_groups if t.target_group_arn == arn), None)

    def rule(self, arn: str) -> AlbActionFacts | None:
        return next((r for r in self.rules if r.rule_arn == arn), None)


# --- the mechanism ------------------------------------------------------------------------------


def weight_pair(percent: int, scale: int = DEFAULT_WEIGHT_SCALE) -> IntegerPair:
    return integer_pair(percent, scale, max_weight=MAX_WEIGHT)


class AlbMechanism(EdgeMechanism[AlbEdge]):
    name = "alb"
    model = AlbEdge

    def shifter_id(self, edge: AlbEdge) -> str:
        return f"alb:{edge.rule_arn or edge.listener_arn}"

    def weights(self, edge: AlbEdge, percent: int) -> EdgeWeights:
        pair = weight_pair(percent, edge.weight_scale)
        return EdgeWeights(blue=pair.blue, green=pair.green)

    def hint_at(self, hint: str, path: str) -> str:
        return hint.replace("weight_scale", f"{path}.weight_scale")

    def target_groups(self, edge: AlbEdge) -> list[TargetGroupPair]:
        return [TargetGroupPair(blue=edge.blue_target_group_arn, green=edge.green_target_group_arn)]

    def health_checked_target_groups(self, edge: AlbEdge) -> list[str]:
        return [edge.green_target_group_arn]

    def load_balancer_metrics(self, edge: AlbEdge) -> list[LoadBalancerMetrics]:
        listener = parse_elb_arn(edge.listener_arn, "listener")
        blue_tg = parse_elb_arn(edge.blue_target_group_arn, "targetgroup")
        green_tg = parse_elb_arn(edge.green_target_group_arn, "targetgroup")
        if listener is None or blue_tg is None or green_tg is None:
            return []  # a validated spec always parses; a hand-built one is skipped rather than guessed
        return [
            LoadBalancerMetrics(
                load_balancer=listener.load_balancer_dimension,
                blue_target_group=blue_tg.target_group_dimension,
                green_target_group=green_tg.target_group_dimension,
            )
        ]

    def regional_resources(self, edge: AlbEdge) -> list[RegionalResource]:
        return [RegionalResource(name, arn.region, getattr(edge, name)) for name, arn in edge.parsed().items()]

    def blue_resources(self, edge: AlbEdge) -> BlueResources:
        # Only a target group meshshift made may go: anything else may serve more than this app.
        if not edge.owned_by_meshshift:
            return BlueResources()
        return BlueResources(target_group_arns=(edge.blue_target_group_arn,))

    # --- preflight ----------------------------------------------------------------------------

    facts_model = AlbFacts

    def preflight(
        self, edge: AlbEdge, path: str, facts: EdgeFacts | None, context: PreflightContext
    ) -> list[PreflightProblem]:
        if not isinstance(facts, AlbFacts):
            return []
        if facts.unreadable:
            return [
                preflight_warning(
                    path,
                    "the listener, its rules and the target groups readable before the plan",
                    facts.unreadable,
                    "grant elasticloadbalancing:DescribeListeners, DescribeRules and DescribeTargetGroups "
                    "(`meshshift iam-policy`): the plan could not check which rule carries blue's traffic",
                )
            ]
        if not facts.listener_found:
            return [
                preflight_error(
                    f"{path}.listener_arn",
                    "an existing ALB listener",
                    f"no listener {edge.listener_arn}",
                    "set listener_arn to the listener in front of blue",
                )
            ]
        shifted_elsewhere = {
            e.rule_arn for e in context.edges if isinstance(e, AlbEdge) and e.listener_arn == edge.listener_arn
        }
        return [*_shifted_action(edge, path, facts, shifted_elsewhere), *_target_groups(edge, path, facts, context)]

    def iam_grants(self, edge: AlbEdge, context: IamContext) -> list[IamGrant]:
        # The forward action is replaced whole, on the rule when there is one, else on the
        # listener's default action: only that one resource is written.
        # The read before and after each write (DescribeRules / DescribeListeners) takes only Resource "*".
        # The plan's preflight (``AlbShifter.inspect``) reads the listener, all its rules and both
        # target groups, whichever of the two the shifter writes.
        reads = grant(
            "AlbReadEdge",
            [
                "elasticloadbalancing:DescribeListeners",
                "elasticloadbalancing:DescribeRules",
                "elasticloadbalancing:DescribeTargetGroups",
            ],
        )
        if edge.rule_arn:
            return [reads, grant("AlbShiftWeightsOnRule", ["elasticloadbalancing:ModifyRule"], [edge.rule_arn])]
        return [reads, grant("AlbShiftWeightsOnListener", ["elasticloadbalancing:ModifyListener"], [edge.listener_arn])]


def _rank(action: AlbActionFacts) -> float:
    """Evaluation order: rules by priority, the default action last."""
    return float(action.priority) if action.priority.isdigit() else float("inf")


def _shadowing(facts: AlbFacts, action: AlbActionFacts) -> AlbActionFacts | None:
    """The first catch-all rule evaluated before ``action``: no request reaches ``action``."""
    return next(
        (r for r in sorted(facts.rules, key=_rank) if r.matches_everything() and _rank(r) < _rank(action)), None
    )


def _shifted_action(
    edge: AlbEdge, path: str, facts: AlbFacts, shifted_elsewhere: set[str | None]
) -> list[PreflightProblem]:
    """The action the shifter writes must be the one that carries blue's traffic today.

    ``shifted_elsewhere``: the rules of this listener (None: its default action) that edges of the
    spec shift, this one included."""
    field = f"{path}.rule_arn"
    blue = edge.blue_target_group_arn
    actions = [*facts.rules, *([facts.default_action] if facts.default_action else [])]
    carriers = [a for a in actions if a.sends_to(blue)]
    carrier_arns = ", ".join(a.rule_arn or "null (the default action)" for a in carriers)
    shifted = facts.rule(edge.rule_arn) if edge.rule_arn else facts.default_action
    if shifted is None:
        return [
            preflight_error(
                field,
                f"a rule of listener {edge.listener_arn}",
                f"no rule {edge.rule_arn} on it",
                f"set rule_arn to the rule that forwards to blue's target group ({carrier_arns or 'none does'})",
            )
        ]
    problems: list[PreflightProblem] = []
    where = shifted.where()
    first_catch_all = _shadowing(facts, shifted)
    if first_catch_all is not None:
        # Nothing reaches the shifted action: the ramp would move no traffic, and decommission
        # would empty blue's group while the catch-all still sends requests to it.
        problems.append(
            preflight_error(
                field,
                f"{where} to receive requests",
                f"{first_catch_all.where()} is evaluated first and matches every request",
                f"set rule_arn to {first_catch_all.rule_arn}"
                if first_catch_all.sends_to(blue)
                else f"point the edge at the rule that carries the traffic ({carrier_arns or 'none forwards to blue'})",
            )
        )
    forwards = shifted.action_types.count("forward")
    if forwards != 1:
        problems.append(
            preflight_error(
                field,
                f"{where} to have exactly one forward action (the one the shifter weights)",
                f"actions: {', '.join(shifted.action_types) or 'none'}",
                "point the edge at a listener or rule that forwards to blue's target group",
            )
        )
    elif not shifted.forwards_to(blue):
        groups = ", ".join(f.target_group_arn for f in shifted.forwards) or "nothing"
        problems.append(
            preflight_error(
                field,
                f"{where} to forward to blue_target_group_arn {blue}",
                f"it forwards to {groups}",
                f"set rule_arn to the rule that forwards to blue ({carrier_arns})"
                if carriers
                else "set blue_target_group_arn to the group blue's entry service is registered in",
            )
        )
        return problems  # the error names the rules that carry blue already
    for other in carriers:
        if other is shifted or other is first_catch_all or other.rule_arn in shifted_elsewhere:
            continue  # another edge of the spec shifts it
        if _shadowing(facts, other) is not None:
            continue  # a rule no request reaches carries nothing
        problems.append(
            preflight_warning(
                path,
                "every rule that sends requests to blue's target group to be shifted",
                f"{other.where()} sends to it as well",
                f"its requests stay on blue during the ramp and fail once blue is decommissioned: add an alb edge "
                f"with rule_arn {other.rule_arn}"
                if other.rule_arn
                else "its requests stay on blue: add an alb edge for the listener's default action (rule_arn null)",
            )
        )
    return problems


def _target_groups(edge: AlbEdge, path: str, facts: AlbFacts, context: PreflightContext) -> list[PreflightProblem]:
    problems: list[PreflightProblem] = []
    for name in ("blue_target_group_arn", "green_target_group_arn"):
        arn = getattr(edge, name)
        found = facts.target_group(arn)
        if found is not None and not found.found:
            problems.append(
                preflight_error(f"{path}.{name}", "an existing target group", f"no target group {arn}", f"fix {name}")
            )
    green = facts.target_group(edge.green_target_group_arn)
    if green is None or not green.found or not (green.health_check_port or "").isdigit():
        return problems  # 'traffic-port' checks the port each target is registered on: green's own
    port = int(green.health_check_port or "0")
    attached = context.attached_to(edge.green_target_group_arn)
    served = frozenset(p for s in attached for p in s.ports) if attached else context.green_ports()
    fix = (
        f"aws elbv2 modify-target-group --target-group-arn {edge.green_target_group_arn} "
        "--health-check-port traffic-port (and a health check path green's app answers)"
    )
    if port == ENVOY_ADMIN_PORT:
        problems.append(
            preflight_error(
                f"{path}.green_target_group_arn",
                "a health check on a port green serves (traffic-port)",
                f"health check port {port}{_hc_path(green)}, Envoy's admin port: green runs no Envoy, so every "
                "green target would be unhealthy",
                fix,
            )
        )
    elif served and port not in served:
        problems.append(
            preflight_error(
                f"{path}.green_target_group_arn",
                f"a health check on a port green serves (traffic-port, or one of {_ports(served)})",
                f"health check port {port}{_hc_path(green)}",
                fix,
            )
        )
    return problems


def _ports(ports: frozenset[int]) -> str:
    return ", ".join(map(str, sorted(ports)))


def _hc_path(group: AlbTargetGroupFacts) -> str:
    return f" path {group.health_check_path}" if group.health_check_path else ""


ALB = AlbMechanism()
