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

from meshshift.migration.edge.base import (
    BlueResources,
    EdgeFacts,
    EdgeMechanism,
    EdgeModel,
    EdgeWeights,
    FactModel,
    PreflightContext,
    PreflightProblem,
    preflight_error,
    preflight_warning,
)
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


# --- preflight facts ----------------------------------------------------------------------------


class Route53RecordFacts(FactModel):
    """The record of one set identifier (of the spec's name and type), as read."""

    set_identifier: str
    found: bool
    routing: str | None = Field(
        default=None, description="'weighted', or the other policy the record uses ('failover', 'latency', ...)"
    )
    weight: int | None = None
    value: str | None = Field(default=None, description="the record's value, or its alias target's DNS name")


class Route53Facts(EdgeFacts):
    """What the Route 53 shifter read of the hosted zone before the plan."""

    type: Literal["route53"] = "route53"
    zone_found: bool = True
    records: list[Route53RecordFacts] = Field(default_factory=list, description="blue's and green's")
    simple_record: bool = Field(
        default=False, description="a record of the name and type without a set identifier (simple routing) exists"
    )
    other_set_identifiers: list[str] = Field(
        default_factory=list, description="set identifiers of the name and type's other records"
    )
    unreadable: str | None = Field(default=None, description="why the zone could not be read (e.g. AccessDenied)")

    def record(self, set_identifier: str) -> Route53RecordFacts | None:
        return next((r for r in self.records if r.set_identifier == set_identifier), None)


def _none_of(others: list[str]) -> str:
    if not others:
        return "none"
    return f"none (the name's records have set identifiers {', '.join(map(repr, others))})"


def _same_target(a: str, b: str) -> bool:
    # Route 53 answers names in lower case with the final dot; an alias to a load balancer may carry
    # the ``dualstack.`` prefix the console adds: the same target.
    def plain(name: str) -> str:
        return name.lower().rstrip(".").removeprefix("dualstack.")

    return plain(a) == plain(b)


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

    facts_model = Route53Facts

    def preflight(
        self, edge: Route53Edge, path: str, facts: EdgeFacts | None, context: PreflightContext
    ) -> list[PreflightProblem]:
        if not isinstance(facts, Route53Facts):
            return []
        if facts.unreadable:
            return [
                preflight_warning(
                    path,
                    "the hosted zone's records readable before the plan",
                    facts.unreadable,
                    "grant route53:ListResourceRecordSets on the zone (`meshshift iam-policy`)",
                )
            ]
        if not facts.zone_found:
            return [
                preflight_error(
                    f"{path}.hosted_zone_id", "an existing hosted zone", f"no hosted zone {edge.hosted_zone_id}"
                )
            ]
        where = f"{edge.record_type} {edge.record_name}"
        problems: list[PreflightProblem] = []
        if facts.simple_record:
            # Route 53 refuses weighted records beside a simple record of the same name and type.
            problems.append(
                preflight_error(
                    f"{path}.record_name",
                    f"weighted {where} records only",
                    "a simple (not weighted) record of that name and type",
                    "replace it by a weighted record with blue's set identifier, or shift another name",
                )
            )
        for side in ("blue", "green"):
            wanted: WeightedRecord = getattr(edge, side)
            record = facts.record(wanted.set_identifier)
            field = f"{path}.{side}.set_identifier"
            if record is None:
                continue
            if not record.found:
                problems.append(
                    preflight_warning(
                        field,
                        f"a weighted {where} record with set identifier {wanted.set_identifier!r}",
                        _none_of(facts.other_set_identifiers),
                        "the first ramp step creates it; if blue's traffic reaches this name by another record, "
                        "fix the set identifier instead",
                    )
                )
            elif record.routing != "weighted":
                problems.append(
                    preflight_error(
                        field,
                        f"a weighted record ({where}, set identifier {wanted.set_identifier!r})",
                        f"a {record.routing or 'non-weighted'} record",
                        "make the record weighted, or name the weighted records in the spec",
                    )
                )
            elif record.value is not None and not _same_target(record.value, wanted.value):
                # The shifter writes the spec's value: blue's record would be repointed at the first step.
                make = preflight_error if side == "blue" else preflight_warning
                problems.append(
                    make(
                        f"{path}.{side}.value",
                        f"{record.value} (where the {side} record points today)",
                        f"{wanted.value} in the spec",
                        f"set {side}.value to {record.value}, or the first ramp step repoints that record",
                    )
                )
        return problems

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
