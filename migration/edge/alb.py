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
    EdgeMechanism,
    EdgeModel,
    EdgeWeights,
    LoadBalancerMetrics,
    RegionalResource,
    TargetGroupPair,
)
from meshshift.migration.errors import rule_error, show
from meshshift.migration.iam_model import IamContext, IamGrant, grant
from meshshift.migration.weights import DEFAULT_WEIGHT_SCALE, IntegerPair, integer_pair

MAX_WEIGHT = 999

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

    def iam_grants(self, edge: AlbEdge, context: IamContext) -> list[IamGrant]:
        # The forward action is replaced whole, on the rule when there is one, else on the
        # listener's default action: only that one resource is written.
        # The read before and after each write (DescribeRules / DescribeListeners) takes only Resource "*".
        if edge.rule_arn:
            return [
                grant("AlbReadRule", ["elasticloadbalancing:DescribeRules"]),
                grant("AlbShiftWeightsOnRule", ["elasticloadbalancing:ModifyRule"], [edge.rule_arn]),
            ]
        return [
            grant("AlbReadListener", ["elasticloadbalancing:DescribeListeners"]),
            grant("AlbShiftWeightsOnListener", ["elasticloadbalancing:ModifyListener"], [edge.listener_arn]),
        ]


ALB = AlbMechanism()
