"""Route 53 weighted records: both records in one ChangeBatch, then wait for INSYNC.

One ChangeBatch makes the pair change atomically, so resolvers never see a moment where both
records are missing or both are heavy. UPSERT is idempotent. The record's value, TTL or alias
target come from the spec; a health check id or ``EvaluateTargetHealth`` already on a record is
kept. Writing 0 to both records is refused: Route 53 treats all-zero weights as an equal split,
which is the opposite of "no traffic". ``PriorRequestNotComplete`` (one change in flight per zone)
and ``Throttling`` are retried by botocore's standard mode and then by Temporal.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from meshshift.activities.aws import aws_errors, error_code
from meshshift.activities.edge.base import Shifter, percent_of, refuse
from meshshift.migration.contracts import ShifterReading, ShifterWeights
from meshshift.migration.edge.route53 import (
    MAX_WEIGHT,
    ROUTE53,
    Route53Edge,
    Route53Facts,
    Route53RecordFacts,
    WeightedRecord,
)

# The key that marks each routing policy other than simple in a ResourceRecordSet.
_ROUTING_KEYS = (
    ("Weight", "weighted"),
    ("Failover", "failover"),
    ("Region", "latency"),
    ("GeoLocation", "geolocation"),
    ("GeoProximityLocation", "geoproximity"),
    ("MultiValueAnswer", "multivalue"),
    ("CidrRoutingConfig", "IP-based"),
)


def routing_policy(record: dict[str, Any]) -> str:
    return next((name for key, name in _ROUTING_KEYS if key in record), "simple")


def record_value(record: dict[str, Any]) -> str | None:
    alias = record.get("AliasTarget") or {}
    if alias.get("DNSName"):
        return str(alias["DNSName"])
    values = record.get("ResourceRecords") or []
    return str(values[0]["Value"]) if values else None


def _dns_name(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _listed_name(name: str) -> str:
    # Route 53 answers with a trailing dot, lower case, and '*' escaped as \052.
    return name.rstrip(".").lower().replace("\\052", "*")


def records_of_name(r53: Any, zone: str, name: str, record_type: str) -> list[dict[str, Any]]:
    """Every record set of ``name`` and ``record_type`` in ``zone``, all pages (botocore errors are
    the caller's). The listing is sorted by name, then type, and starts at ours."""
    wanted = _listed_name(name)
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"HostedZoneId": zone, "StartRecordName": name, "StartRecordType": record_type}
    while True:
        page = r53.list_resource_record_sets(**kwargs)
        for record in page.get("ResourceRecordSets", []):
            if _listed_name(record["Name"]) != wanted or record["Type"] != record_type:
                if found or _listed_name(record["Name"]) > wanted:
                    return found  # past ours, nothing more can match
                continue
            found.append(dict(record))
        if not page.get("IsTruncated"):
            return found
        kwargs.update(StartRecordName=page["NextRecordName"], StartRecordType=page["NextRecordType"])
        if page.get("NextRecordIdentifier"):
            kwargs["StartRecordIdentifier"] = page["NextRecordIdentifier"]


class Route53Shifter(Shifter):
    mechanism = ROUTE53
    edge: Route53Edge
    _change_id: str | None = None
    _change_seen_in_sync = False  # INSYNC is final for a change: no need to ask again
    _adopted: str = ""

    def _check_range(self, weights: ShifterWeights) -> None:
        for side, value in (("blue", weights.blue), ("green", weights.green)):
            if value != int(value) or not 0 <= value <= MAX_WEIGHT:
                raise refuse(
                    f"Route 53 shifter {self.shifter_id}: {side} weight must be an integer 0-{MAX_WEIGHT}, "
                    f"got {value:g}."
                )
        if weights.blue == 0 and weights.green == 0:
            raise refuse(
                f"Route 53 shifter {self.shifter_id}: refusing to write weight 0 to both {self.edge.record_name} "
                "records: Route 53 splits traffic equally when every weighted record is 0. "
                "Next: give blue or green a non-zero weight."
            )

    def _where(self) -> str:
        return f"{self.edge.record_type} {self.edge.record_name} in hosted zone {self.edge.hosted_zone_id}"

    def _current_records(self) -> dict[str, dict[str, Any]]:
        """The records of the spec's name and type that have a set identifier, by set identifier."""
        with aws_errors(f"Reading Route 53 records {self._where()}"):
            records = self._records_of_name()
        return {r["SetIdentifier"]: r for r in records if "SetIdentifier" in r}

    def _records_of_name(self) -> list[dict[str, Any]]:
        """Every record of the spec's name and type (botocore errors are the caller's)."""
        return records_of_name(
            self.clients.route53(self.aws), self.edge.hosted_zone_id, self.edge.record_name, self.edge.record_type
        )

    def inspect(self) -> Route53Facts:
        return self.inspecting(
            f"Reading Route 53 records {self._where()}",
            self._inspect,
            lambda reason: Route53Facts(shifter_id=self.shifter_id, unreadable=reason),
        )

    def _inspect(self) -> Route53Facts:
        try:
            records = self._records_of_name()
        except ClientError as err:
            if error_code(err) != "NoSuchHostedZone":
                raise
            return Route53Facts(shifter_id=self.shifter_id, zone_found=False)
        by_id = {r["SetIdentifier"]: r for r in records if "SetIdentifier" in r}
        facts = []
        for side in (self.edge.blue, self.edge.green):
            record = by_id.get(side.set_identifier)
            facts.append(
                Route53RecordFacts(
                    set_identifier=side.set_identifier,
                    found=record is not None,
                    routing=routing_policy(record) if record else None,
                    weight=int(record["Weight"]) if record and "Weight" in record else None,
                    value=record_value(record) if record else None,
                )
            )
        return Route53Facts(
            shifter_id=self.shifter_id,
            records=facts,
            simple_record=any("SetIdentifier" not in r for r in records),
            other_set_identifiers=sorted(set(by_id) - {self.edge.blue.set_identifier, self.edge.green.set_identifier}),
        )

    def _record(self, side: WeightedRecord, weight: int, existing: dict[str, Any] | None) -> dict[str, Any]:
        record: dict[str, Any] = {
            "Name": _dns_name(self.edge.record_name),
            "Type": self.edge.record_type,
            "SetIdentifier": side.set_identifier,
            "Weight": weight,
        }
        if self.edge.alias_hosted_zone_id:
            evaluate = bool(((existing or {}).get("AliasTarget") or {}).get("EvaluateTargetHealth", False))
            record["AliasTarget"] = {
                "HostedZoneId": self.edge.alias_hosted_zone_id,
                "DNSName": side.value,
                "EvaluateTargetHealth": evaluate,
            }
        else:
            record["TTL"] = self.edge.ttl
            record["ResourceRecords"] = [{"Value": side.value}]
        if existing and existing.get("HealthCheckId"):
            record["HealthCheckId"] = existing["HealthCheckId"]
        return record

    def adopt_change(self, change_id: str) -> None:
        self._adopted = change_id

    def pending_change(self) -> str:
        return "" if self._change_id is None or self._change_seen_in_sync else self._change_id

    def set_weights(self, weights: ShifterWeights) -> None:
        self.check_weights(weights)
        existing = self._current_records()
        sides = ((self.edge.blue, int(weights.blue)), (self.edge.green, int(weights.green)))
        in_place = all(existing.get(side.set_identifier, {}).get("Weight") == w for side, w in sides)
        if self._adopted and in_place:
            # Another change of the same weights would propagate from the start again (up to a
            # minute on AWS): wait for the one that set them.
            self._change_id = self._adopted
            self._change_seen_in_sync = False
            return
        changes = [
            {"Action": "UPSERT", "ResourceRecordSet": self._record(side, w, existing.get(side.set_identifier))}
            for side, w in sides
        ]
        r53 = self.clients.route53(self.aws)
        with aws_errors(f"Setting weighted records {self._where()}"):
            answer = r53.change_resource_record_sets(
                HostedZoneId=self.edge.hosted_zone_id,
                ChangeBatch={
                    "Comment": f"meshshift: blue {int(weights.blue)} / green {int(weights.green)}",
                    "Changes": changes,  # type: ignore[typeddict-item]
                },
            )
        self._change_id = answer["ChangeInfo"]["Id"]
        self._change_seen_in_sync = False

    def _change_in_sync(self) -> bool:
        r53 = self.clients.route53(self.aws)
        with aws_errors(f"Reading Route 53 change {self._change_id} for {self._where()}"):
            status = r53.get_change(Id=self._change_id or "")["ChangeInfo"]["Status"]
        self._change_seen_in_sync = status == "INSYNC"
        return self._change_seen_in_sync

    def wait_in_sync(self) -> None:
        if self._change_id is not None:
            self.poll_until(f"Route 53 change {self._change_id} to reach INSYNC", self._change_in_sync)

    def read_weights(self) -> ShifterReading:
        records = self._current_records()
        blue_rec = records.get(self.edge.blue.set_identifier)
        green_rec = records.get(self.edge.green.set_identifier)
        blue = int(blue_rec.get("Weight", 0)) if blue_rec else 0
        green = int(green_rec.get("Weight", 0)) if green_rec else 0
        detail = []
        for side, rec in (("blue", blue_rec), ("green", green_rec)):
            if rec is None:
                detail.append(f"{side} record {getattr(self.edge, side).set_identifier!r} does not exist")
        if blue_rec and green_rec and blue == 0 and green == 0:
            percent = 50.0  # Route 53's rule: all records at 0 share traffic equally
            detail.append("both records at weight 0: Route 53 splits traffic equally")
        elif blue_rec is None and green_rec is not None:
            percent = 100.0 if green > 0 else 0.0
        else:
            percent = percent_of(blue, green)
        in_sync = self._change_id is None or self._change_seen_in_sync or self._change_in_sync()
        return self.reading(blue, green, percent, in_sync=in_sync, detail="; ".join(detail))
