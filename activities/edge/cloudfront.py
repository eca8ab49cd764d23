"""CloudFront continuous deployment: the staging distribution (green) gets a weight through the
continuous deployment policy attached to the primary distribution (blue), at most 15%; moving to
100% means promoting the staging config onto the primary with
``update_distribution_with_staging_config``.

ETags: every write sends ``IfMatch`` with the ETag just read, and re-reads and retries when another
writer got in between (``PreconditionFailed``). Promotion's ``IfMatch`` is
``"<primary ETag>, <staging ETag>"`` as the API documents.

How promotion is detected on read-back: CloudFront records no "promoted" flag, so the primary is
considered promoted when its routing configuration -- ``Origins``, ``OriginGroups``,
``DefaultCacheBehavior``, ``CacheBehaviors``, ``CustomErrorResponses``, ``DefaultRootObject`` --
equals the staging distribution's (promotion copies everything but ``Aliases``,
``ContinuousDeploymentPolicyId`` and the caller reference). Consequence: a staging distribution
that does not differ from its primary reads as promoted; that is reported, because such a
staging distribution cannot be serving green.

Promotion overwrites the primary's config and CloudFront keeps no copy of the old one, so going
back below 100% after promotion is refused with an error that says how to restore blue.

Calls: a weight change reads the primary once, the staging distribution once (the promotion check)
and the policy once (its ETag), then writes; the propagation wait polls the primary; the read-back
reuses those answers (the write's response is the policy as AWS now holds it, the last poll is the
primary, and no write here touches the staging distribution). A rollback from a held weight is
thus 4 calls plus the polls of the deployment (docs/performance.md). A rollback's first write
(``write_only``) reads the policy alone and writes: 2 calls, the distributions' checks being left
to the verified write.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import ClientError

from meshshift.activities.aws import aws_errors, error_code
from meshshift.activities.edge.base import EDGE_MISCONFIGURED, Shifter, refuse
from meshshift.migration.contracts import ShifterReading, ShifterWeights
from meshshift.migration.edge.cloudfront import (
    CLOUDFRONT,
    MAX_STAGING_PERCENT,
    CloudFrontDistributionFacts,
    CloudFrontEdge,
    CloudFrontFacts,
)

MAX_STAGING_WEIGHT = MAX_STAGING_PERCENT / 100
ROUTING_FIELDS = (
    "Origins",
    "OriginGroups",
    "DefaultCacheBehavior",
    "CacheBehaviors",
    "CustomErrorResponses",
    "DefaultRootObject",
)
ALREADY_PROMOTED = "CloudFrontAlreadyPromoted"


def _together(*reads: Callable[[], Any]) -> list[Any]:
    """Run independent reads at once (each in the activity's context: heartbeats and the rate
    limiter's lane); the first failure, in the order given, is raised."""
    with ThreadPoolExecutor(max_workers=len(reads)) as pool:
        futures = [pool.submit(contextvars.copy_context().run, read) for read in reads]
    return [f.result() for f in futures]


class CloudFrontShifter(Shifter):
    mechanism = CLOUDFRONT
    edge: CloudFrontEdge
    # AWS's latest answers in this activity, reused by read_back; None when not read yet, or when a
    # write here may have changed it since (the primary redeploys after every write).
    _primary: dict[str, Any] | None = None
    _staging: dict[str, Any] | None = None
    _policy_config: dict[str, Any] | None = None
    _wrote = False

    def _check_range(self, weights: ShifterWeights) -> None:
        if weights.promoted:
            return
        if not 0.0 <= weights.green <= MAX_STAGING_WEIGHT:
            raise refuse(
                f"CloudFront shifter {self.shifter_id}: staging weight {weights.green:g} is above CloudFront's "
                f"limit of {MAX_STAGING_WEIGHT:g} (15%) for continuous deployment. "
                "Next: keep CloudFront steps at or below 15%, or set the edge's `promotion` to promote_at_100."
            )

    # --- reads ----------------------------------------------------------------------------------

    def _distribution(self, distribution_id: str) -> tuple[dict[str, Any], str]:
        cf = self.clients.cloudfront(self.aws)
        with aws_errors(f"Reading CloudFront distribution {distribution_id}"):
            answer = cf.get_distribution(Id=distribution_id)
        distribution = dict(answer["Distribution"])
        if distribution_id == self.edge.distribution_id:
            self._primary = distribution
        elif distribution_id == self.edge.staging_distribution_id:
            self._staging = distribution
        return distribution, answer["ETag"]

    def _policy(self) -> tuple[dict[str, Any], str]:
        cf = self.clients.cloudfront(self.aws)
        policy_id = self.edge.continuous_deployment_policy_id
        with aws_errors(f"Reading CloudFront continuous deployment policy {policy_id}"):
            answer = cf.get_continuous_deployment_policy_config(Id=policy_id)
        self._policy_config = dict(answer["ContinuousDeploymentPolicyConfig"])
        return self._policy_config, answer["ETag"]

    @staticmethod
    def _routing(distribution: dict[str, Any]) -> dict[str, Any]:
        config = distribution.get("DistributionConfig") or {}
        return {name: config.get(name) for name in ROUTING_FIELDS}

    def _promoted(self, primary: dict[str, Any]) -> bool:
        """Whether ``primary`` (just read) carries the staging config (read with it)."""
        staging = self._staging
        if staging is None:
            staging, _ = self._distribution(self.edge.staging_distribution_id)
        return self._routing(primary) == self._routing(staging)

    @staticmethod
    def _weight(policy: dict[str, Any]) -> float:
        traffic = policy.get("TrafficConfig") or {}
        if not policy.get("Enabled") or traffic.get("Type") != "SingleWeight":
            return 0.0  # disabled, or header-only routing: no share of real traffic
        return float((traffic.get("SingleWeightConfig") or {}).get("Weight", 0.0))

    # --- preflight ------------------------------------------------------------------------------

    def inspect(self) -> CloudFrontFacts:
        return self.inspecting(
            f"Reading CloudFront distributions {self.edge.distribution_id}, {self.edge.staging_distribution_id} "
            f"and policy {self.edge.continuous_deployment_policy_id}",
            self._inspect,
            lambda reason: CloudFrontFacts(shifter_id=self.shifter_id, unreadable=reason),
        )

    def _read_distribution(self, distribution_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.clients.cloudfront(self.aws).get_distribution(Id=distribution_id)["Distribution"])
        except ClientError as err:
            if error_code(err) != "NoSuchDistribution":
                raise
            return None

    @staticmethod
    def _distribution_facts(distribution_id: str, found: dict[str, Any] | None) -> CloudFrontDistributionFacts:
        if found is None:
            return CloudFrontDistributionFacts(distribution_id=distribution_id, found=False)
        config = found.get("DistributionConfig") or {}
        return CloudFrontDistributionFacts(
            distribution_id=distribution_id,
            found=True,
            staging=config.get("Staging"),
            status=found.get("Status"),
            domain_name=found.get("DomainName"),
            continuous_deployment_policy_id=config.get("ContinuousDeploymentPolicyId") or None,
        )

    def _inspect(self) -> CloudFrontFacts:
        primary = self._read_distribution(self.edge.distribution_id)
        staging = self._read_distribution(self.edge.staging_distribution_id)
        try:
            answer = self.clients.cloudfront(self.aws).get_continuous_deployment_policy_config(
                Id=self.edge.continuous_deployment_policy_id
            )
            policy: dict[str, Any] | None = dict(answer["ContinuousDeploymentPolicyConfig"])
        except ClientError as err:
            if error_code(err) != "NoSuchContinuousDeploymentPolicy":
                raise
            policy = None
        traffic = (policy or {}).get("TrafficConfig") or {}
        return CloudFrontFacts(
            shifter_id=self.shifter_id,
            primary=self._distribution_facts(self.edge.distribution_id, primary),
            staging=self._distribution_facts(self.edge.staging_distribution_id, staging),
            policy_found=policy is not None,
            policy_enabled=policy.get("Enabled") if policy else None,
            policy_traffic_type=traffic.get("Type"),
            policy_weight=(traffic.get("SingleWeightConfig") or {}).get("Weight"),
            policy_staging_dns_names=list(((policy or {}).get("StagingDistributionDnsNames") or {}).get("Items") or []),
            same_routing=self._routing(primary) == self._routing(staging) if primary and staging else None,
        )

    # --- writes ---------------------------------------------------------------------------------

    def _stickiness(self, current: dict[str, Any]) -> dict[str, int] | None:
        idle, most = self.edge.session_stickiness_idle_ttl, self.edge.session_stickiness_max_ttl
        if idle is not None or most is not None:
            idle_s = int((idle or most).total_seconds())  # type: ignore[union-attr]
            max_s = int((most or idle).total_seconds())  # type: ignore[union-attr]
            return {"IdleTTL": idle_s, "MaximumTTL": max_s}
        existing = ((current.get("TrafficConfig") or {}).get("SingleWeightConfig") or {}).get("SessionStickinessConfig")
        return dict(existing) if existing else None

    def _check_attached(self, primary: dict[str, Any]) -> None:
        attached = (primary.get("DistributionConfig") or {}).get("ContinuousDeploymentPolicyId") or ""
        if attached != self.edge.continuous_deployment_policy_id:
            raise refuse(
                f"CloudFront distribution {self.edge.distribution_id} has continuous deployment policy "
                f"{attached or 'none'} attached, expected {self.edge.continuous_deployment_policy_id}: "
                "the staging weight would not apply. Next: attach the policy to the primary distribution "
                "(update_distribution with ContinuousDeploymentPolicyId) or fix the spec.",
                type=EDGE_MISCONFIGURED,
            )

    def _with_etag_retries(self, action: str, attempt: Any) -> None:
        """Run ``attempt`` (read ETag, write with IfMatch) again when another writer got in between."""
        for tries in range(1, self.options.max_etag_attempts + 1):
            try:
                with aws_errors(action):
                    attempt()
                return
            except Exception as err:
                cause = err.__cause__
                lost_race = isinstance(cause, ClientError) and error_code(cause) == "PreconditionFailed"
                if not lost_race or tries == self.options.max_etag_attempts:
                    raise
                self.heartbeat(f"{self.shifter_id}: ETag changed during {action}; re-reading (try {tries})")

    def set_weights(self, weights: ShifterWeights) -> None:
        self.check_weights(weights)
        if self.checks_deferred and not weights.promoted:
            # Only the policy's ETag is needed to write. A weight in a policy that is not attached,
            # or attached to a promoted primary (whose staging copy serves green as well), moves no
            # traffic: the verified write's checks refuse those edges as before, after blue is back.
            self._write_policy(weights, self._policy())
            return
        # The three reads are independent: made at once, they cost one round trip instead of three.
        (primary, primary_etag), (staging, staging_etag), prefetched = _together(
            lambda: self._distribution(self.edge.distribution_id),
            lambda: self._distribution(self.edge.staging_distribution_id),
            self._policy,
        )
        self._check_attached(primary)
        if weights.promoted:
            self._promote((primary, primary_etag), (staging, staging_etag))
            return
        if self._promoted(primary):
            raise refuse(
                f"CloudFront distribution {self.edge.distribution_id} already serves the staging "
                f"distribution {self.edge.staging_distribution_id}'s config (promoted). CloudFront keeps no copy "
                "of the primary's previous config, so meshshift cannot shift back to blue. Next: restore blue's "
                "config on the primary from your IaC or a saved `get_distribution_config`, then retry; or, if the "
                "staging distribution was never changed to serve green, make it serve green first.",
                type=ALREADY_PROMOTED,
            )
        self._write_policy(weights, prefetched)

    def _write_policy(self, weights: ShifterWeights, prefetched: tuple[dict[str, Any], str]) -> None:
        """Write the staging weight into the policy, read with its ETag as ``prefetched``."""
        cf = self.clients.cloudfront(self.aws)
        policy_id = self.edge.continuous_deployment_policy_id
        policy_reads: list[tuple[dict[str, Any], str]] = [prefetched]

        def attempt() -> None:
            # The first attempt uses the policy read above; a retry after a lost race reads again.
            current, etag = policy_reads.pop() if policy_reads else self._policy()
            single: dict[str, Any] = {"Weight": float(weights.green)}
            sticky = self._stickiness(current)
            if sticky:
                single["SessionStickinessConfig"] = sticky
            wanted = dict(current)
            wanted["Enabled"] = True
            wanted["TrafficConfig"] = {"Type": "SingleWeight", "SingleWeightConfig": single}
            if wanted == current:
                return  # already there: no write, no ETag churn
            answer = cf.update_continuous_deployment_policy(
                Id=policy_id,
                IfMatch=etag,
                ContinuousDeploymentPolicyConfig=wanted,  # type: ignore[arg-type]
            )
            self._wrote = True
            self._primary = None  # the primary redeploys with the policy
            # The write's response is the policy as AWS now holds it: the read-back needs no call.
            self._policy_config = dict(answer["ContinuousDeploymentPolicy"]["ContinuousDeploymentPolicyConfig"])

        self._with_etag_retries(f"Setting CloudFront continuous deployment policy {policy_id} weight", attempt)

    def _promote(self, primary: tuple[dict[str, Any], str], staging: tuple[dict[str, Any], str]) -> None:
        cf = self.clients.cloudfront(self.aws)
        reads = [(primary, staging)]

        def attempt() -> None:
            # The first attempt uses the reads just made; a retry after a lost race reads again.
            (primary_now, primary_etag_now), (staging_now, staging_etag) = (
                reads.pop()
                if reads
                else _together(
                    lambda: self._distribution(self.edge.distribution_id),
                    lambda: self._distribution(self.edge.staging_distribution_id),
                )
            )
            if self._routing(primary_now) == self._routing(staging_now):
                return  # a repeat after success
            cf.update_distribution_with_staging_config(
                Id=self.edge.distribution_id,
                StagingDistributionId=self.edge.staging_distribution_id,
                IfMatch=f"{primary_etag_now}, {staging_etag}",
            )
            self._wrote = True
            self._primary = None  # now carries the staging config; the propagation wait reads it

        self._with_etag_retries(
            f"Promoting CloudFront staging distribution {self.edge.staging_distribution_id} "
            f"onto {self.edge.distribution_id}",
            attempt,
        )

    def wait_in_sync(self) -> None:
        if self._primary is not None and self._primary.get("Status") == "Deployed":
            return  # nothing written here since the primary read Deployed

        def deployed() -> bool:
            primary, _ = self._distribution(self.edge.distribution_id)
            return primary.get("Status") == "Deployed"

        self.poll_until(f"distribution {self.edge.distribution_id} to be Deployed", deployed)

    def read_weights(self) -> ShifterReading:
        primary, _ = self._distribution(self.edge.distribution_id)
        staging, _ = self._distribution(self.edge.staging_distribution_id)
        policy, _ = self._policy()
        return self._reading(primary, staging, policy)

    def read_back(self) -> ShifterReading:
        """After a write: what AWS answered during it, reading only what it has not answered yet."""
        primary = self._primary if self._primary is not None else self._distribution(self.edge.distribution_id)[0]
        staging = (
            self._staging if self._staging is not None else self._distribution(self.edge.staging_distribution_id)[0]
        )
        policy = self._policy_config if self._policy_config is not None else self._policy()[0]
        return self._reading(primary, staging, policy)

    def _reading(self, primary: dict[str, Any], staging: dict[str, Any], policy: dict[str, Any]) -> ShifterReading:
        weight = self._weight(policy)
        promoted = self._routing(primary) == self._routing(staging)
        attached = (primary.get("DistributionConfig") or {}).get("ContinuousDeploymentPolicyId") or ""
        detail = []
        if attached != self.edge.continuous_deployment_policy_id:
            detail.append(f"policy not attached to the primary (attached: {attached or 'none'})")
            weight = 0.0 if not promoted else weight
        if promoted:
            detail.append("primary carries the staging config (promoted)")
        if not policy.get("Enabled"):
            detail.append("policy disabled")
        return self.reading(
            1.0 - weight,
            weight,
            100.0 if promoted else weight * 100.0,
            promoted=promoted,
            in_sync=primary.get("Status") == "Deployed",
            detail="; ".join(detail),
        )

    def matches(self, expected: ShifterWeights, reading: ShifterReading) -> bool:
        if expected.promoted or reading.promoted:
            return expected.promoted == reading.promoted
        return abs(expected.green - reading.green) < 1e-6
