"""Route 53 weighted records: two records of one name, each answered weight / sum of the time.

Route 53 allows weights 0-255 per record. Resolvers and clients cache an answer for the record's
TTL, so a change is only fully felt a TTL after it is INSYNC. The I/O side is
``activities/edge/route53.py``; deleting blue's record at decommission is
``activities/decommission.py``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from meshshift.migration.edge.base import BlueResources, EdgeMechanism, EdgeModel, EdgeWeights
from meshshift.migration.errors import rule_error, show
from meshshift.migration.iam_model import ConditionOperator, IamCondition, IamContext, IamGrant, grant
from meshshift.migration.spec_base import SpecModel, StringFormat
from meshshift.migration.weights import DEFAULT_WEIGHT_SCALE, IntegerPair, integer_pair

if TYPE_CHECKING:
    from meshshift.migration.spec import RampSpec

MAX_WEIGHT = 255

HostedZoneId = Annotated[
    str, StringFormat(r"^(/hostedzone/)?[A-Z0-9]{1,32}$", "a Route 53 hosted zone id like 'Z0123456789ABC'")
]
DnsName = Annotated[
    str,
    StringFormat(
        r"^(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$",
        "a DNS name like 'api.shop.example.com'",
    ),
]


class WeightedRecord(SpecModel):
    set_identifier: str = Field(min_length=1, max_length=128, description="SetIdentifier of the weighted record")
    value: str = Field(min_length=1, description="Record value (CNAME target or IP), or the alias target DNS name")


class Route53Edge(EdgeModel):
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
        default=DEFAULT_WEIGHT_SCALE,
        ge=1,
        le=MAX_WEIGHT,
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


def weight_pair(percent: int, scale: int = DEFAULT_WEIGHT_SCALE) -> IntegerPair:
    return integer_pair(percent, scale, max_weight=MAX_WEIGHT)


class Route53Mechanism(EdgeMechanism[Route53Edge]):
    name = "route53"
    model = Route53Edge

    def shifter_id(self, edge: Route53Edge) -> str:
        zone = edge.hosted_zone_id.removeprefix("/hostedzone/")
        return f"route53:{zone}:{edge.record_name.lower().rstrip('.')}:{edge.record_type}"

    def weights(self, edge: Route53Edge, percent: int) -> EdgeWeights:
        pair = weight_pair(percent, edge.weight_scale)
        return EdgeWeights(blue=pair.blue, green=pair.green)

    def hint_at(self, hint: str, path: str) -> str:
        return hint.replace("weight_scale", f"{path}.weight_scale")

    def plan_warnings(self, edge: Route53Edge, path: str, ramp: RampSpec) -> list[str]:
        short = [f"steps[{i}]" for i in range(len(ramp.steps)) if ramp.step_bake(i).total_seconds() < edge.ttl]
        if not short:
            return []
        return [
            f"{path} ({self.name}): the bake of {', '.join(short)} is shorter than the record TTL "
            f"({edge.ttl}s): resolvers may still answer with the old weights when metrics are judged"
        ]

    def propagation_wait(self, edge: Route53Edge) -> timedelta:
        return timedelta(seconds=edge.ttl)

    def blue_resources(self, edge: Route53Edge) -> BlueResources:
        if not edge.owned_by_meshshift:
            return BlueResources()
        return BlueResources(weighted_record_set_identifiers=(edge.blue.set_identifier,))

    def iam_grants(self, edge: Route53Edge, context: IamContext) -> list[IamGrant]:
        zone = context.arns.arn("route53", f"hostedzone/{zone_id(edge)}", regional=False, account="")
        # Route 53 lets a policy name the records and change kinds within a zone: a hosted zone
        # shared by many applications only lets this one's weighted records change.
        changes = ["UPSERT"]
        if context.decommission.records and self.blue_resources(edge).weighted_record_set_identifiers:
            changes.append("DELETE")  # blue's record, at decommission
        each: ConditionOperator = "ForAllValues:StringEquals"  # every record of the change batch must match
        name = normalized_record_name(edge.record_name)
        only_these = (
            IamCondition(each, "route53:ChangeResourceRecordSetsNormalizedRecordNames", (name,)),
            IamCondition(each, "route53:ChangeResourceRecordSetsRecordTypes", (edge.record_type,)),
            IamCondition(each, "route53:ChangeResourceRecordSetsActions", tuple(changes)),
        )
        return [
            grant("Route53ReadRecords", ["route53:ListResourceRecordSets"], [zone]),
            grant("Route53WeightedRecords", ["route53:ChangeResourceRecordSets"], [zone], *only_these),
            # A change's id is only known once it is made.
            grant(
                "Route53WaitForChange",
                ["route53:GetChange"],
                [context.arns.arn("route53", "change/*", regional=False, account="")],
            ),
        ]


def zone_id(edge: Route53Edge) -> str:
    return edge.hosted_zone_id.removeprefix("/hostedzone/")


def normalized_record_name(name: str) -> str:
    """The form IAM's ``route53:ChangeResourceRecordSetsNormalizedRecordNames`` compares: lower
    case, without the trailing dot."""
    return name.lower().rstrip(".")


ROUTE53 = Route53Mechanism()
