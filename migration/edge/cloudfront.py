"""CloudFront continuous deployment: a staging distribution (green) gets a share of the primary's
(blue's) requests through a continuous deployment policy.

The staging weight is a fraction capped at 0.15; going beyond it means *promoting* the staging
config onto the primary, which moves 100% at once. How a ramp step above the cap is handled is
the shifter's ``promotion`` rule:

- ``refuse`` (default): any ramp step above 15 is an error, including 100, so a spec with a
  CloudFront shifter must choose one of the two rules below before it can finish a migration;
- ``promote_at_100``: steps up to 15 set the staging weight; 100 promotes the staging config to
  the primary; any step in 16..99 is an error (the shifter cannot express it);
- ``hold_at_cap``: steps up to 15 set the staging weight; steps in 16..99 keep it at 15% while
  the other shifters move on (the plan warns that this shifter lags); 100 promotes.

The I/O side is ``activities/edge/cloudfront.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from meshshift.migration.durations import Duration, format_duration
from meshshift.migration.edge.base import (
    EdgeFacts,
    EdgeMechanism,
    EdgeModel,
    EdgeWeights,
    FactModel,
    PreflightContext,
    PreflightProblem,
    Weighted,
    preflight_error,
    preflight_warning,
)
from meshshift.migration.errors import rule_error, show
from meshshift.migration.iam_model import IamContext, IamGrant, grant
from meshshift.migration.spec_base import NonEmpty, StringFormat
from meshshift.migration.weights import WeightError, check_percent

if TYPE_CHECKING:
    from meshshift.migration.spec import RampSpec

MAX_STAGING_PERCENT = 15

CloudFrontId = Annotated[
    str, StringFormat(r"^[A-Z0-9]{1,32}$", "a CloudFront id like 'E2QWRUHAPOMQZL' (uppercase letters, digits)")
]


class CloudFrontPromotion(StrEnum):
    """How a CloudFront shifter handles ramp steps above its 15% staging limit (module docstring)."""

    REFUSE = "refuse"
    PROMOTE_AT_100 = "promote_at_100"
    HOLD_AT_CAP = "hold_at_cap"


class CloudFrontEdge(EdgeModel):
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


# --- preflight facts ----------------------------------------------------------------------------


class CloudFrontDistributionFacts(FactModel):
    distribution_id: str
    found: bool
    staging: bool | None = Field(default=None, description="made as a staging distribution; None if not reported")
    status: str | None = None
    domain_name: str | None = None
    continuous_deployment_policy_id: str | None = Field(default=None, description="the policy attached to it")


class CloudFrontFacts(EdgeFacts):
    """What the CloudFront shifter read of both distributions and the policy before the plan."""

    type: Literal["cloudfront"] = "cloudfront"
    primary: CloudFrontDistributionFacts | None = None
    staging: CloudFrontDistributionFacts | None = None
    policy_found: bool = True
    policy_enabled: bool | None = None
    policy_traffic_type: str | None = Field(default=None, description="'SingleWeight' or 'SingleHeader'")
    policy_weight: float | None = None
    policy_staging_dns_names: list[str] = Field(default_factory=list)
    same_routing: bool | None = Field(
        default=None, description="the staging distribution routes as the primary does (it would read as promoted)"
    )
    unreadable: str | None = Field(default=None, description="why the edge could not be read (e.g. AccessDenied)")


@dataclass(frozen=True)
class StagingWeight:
    """``staging`` is the fraction of requests sent to the staging (green) distribution."""

    staging: float
    promoted: bool

    @property
    def green_percent(self) -> float:
        return 100.0 if self.promoted else round(100.0 * self.staging, 6)


def staging_weight(percent: int, promotion: CloudFrontPromotion | str) -> StagingWeight:
    """The CloudFront shifter's setting for a green percent.

    - 0..15: staging weight ``percent / 100`` under every rule.
    - 100: promotion of the staging config to the primary, under ``promote_at_100`` and
      ``hold_at_cap``; refused under ``refuse``.
    - 16..99: refused under ``refuse`` and ``promote_at_100`` (the shifter cannot express it);
      under ``hold_at_cap`` the staging weight stays at 15% while other shifters move on.
    """
    check_percent(percent)
    rule = CloudFrontPromotion(promotion)
    if percent <= MAX_STAGING_PERCENT:
        return StagingWeight(staging=percent / 100, promoted=False)
    if rule is CloudFrontPromotion.REFUSE:
        raise WeightError(
            f"at most {MAX_STAGING_PERCENT} (a CloudFront staging weight is capped at 15%)",
            str(percent),
            "set the shifter's promotion to 'promote_at_100' (steps up to 15, then 100 promotes staging to "
            "primary) or 'hold_at_cap' (stay at 15% until 100, then promote)",
        )
    if percent == 100:
        return StagingWeight(staging=1.0, promoted=True)
    if rule is CloudFrontPromotion.PROMOTE_AT_100:
        raise WeightError(
            f"at most {MAX_STAGING_PERCENT} or exactly 100 (promotion 'promote_at_100')",
            str(percent),
            "remove the step, or use promotion 'hold_at_cap' to stay at 15% until 100",
        )
    return StagingWeight(staging=MAX_STAGING_PERCENT / 100, promoted=False)


class CloudFrontMechanism(EdgeMechanism[CloudFrontEdge]):
    """Weights: ``green`` is the staging weight as a fraction, ``blue`` is ``1 - green``, and
    ``promoted`` means the staging config has been promoted onto the primary (100% green)."""

    name = "cloudfront"
    model = CloudFrontEdge

    def shifter_id(self, edge: CloudFrontEdge) -> str:
        return f"cloudfront:{edge.distribution_id}"

    def weights(self, edge: CloudFrontEdge, percent: int) -> EdgeWeights:
        cf = staging_weight(percent, edge.promotion)
        return EdgeWeights(blue=round(1.0 - cf.staging, 6), green=cf.staging, promoted=cf.promoted)

    def hint_at(self, hint: str, path: str) -> str:
        return hint.replace("the shifter's promotion", f"{path}.promotion")

    def describe_weights(self, weights: Weighted) -> str:
        return "promote" if weights.promoted else f"{weights.green * 100:g}% staging"

    def plan_warnings(self, edge: CloudFrontEdge, path: str, ramp: RampSpec) -> list[str]:
        out: list[str] = []
        held = [p for p in ramp.weights() if MAX_STAGING_PERCENT < p < 100]
        if held and edge.promotion is CloudFrontPromotion.HOLD_AT_CAP:
            out.append(
                f"{path} ({self.name}): steps {', '.join(map(str, held))} keep this shifter at 15% green "
                "(hold_at_cap) while the other shifters move on"
            )
        out.append(
            f"{path} ({self.name}): promotion at 100% copies the staging config onto the primary; rolling "
            "back after that restores the primary's previous config rather than a weight"
        )
        return out

    facts_model = CloudFrontFacts

    def preflight(
        self, edge: CloudFrontEdge, path: str, facts: EdgeFacts | None, context: PreflightContext
    ) -> list[PreflightProblem]:
        if not isinstance(facts, CloudFrontFacts):
            return []
        if facts.unreadable:
            return [
                preflight_warning(
                    path,
                    "the distributions and the continuous deployment policy readable before the plan",
                    facts.unreadable,
                    "grant cloudfront:GetDistribution and GetContinuousDeploymentPolicyConfig (`meshshift iam-policy`)",
                )
            ]
        problems: list[PreflightProblem] = []
        primary, staging = facts.primary, facts.staging
        for field, found, is_staging in (
            ("distribution_id", primary, False),
            ("staging_distribution_id", staging, True),
        ):
            if found is None:
                continue
            if not found.found:
                problems.append(
                    preflight_error(
                        f"{path}.{field}", "an existing distribution", f"no distribution {found.distribution_id}"
                    )
                )
            elif found.staging is not None and found.staging != is_staging:
                problems.append(
                    preflight_error(
                        f"{path}.{field}",
                        "a staging distribution (CopyDistribution with Staging=true)"
                        if is_staging
                        else "a primary (not staging) distribution",
                        f"{found.distribution_id} is {'a staging' if found.staging else 'a primary'} distribution",
                        "swap distribution_id and staging_distribution_id" if not is_staging else "",
                    )
                )
        policy_field = f"{path}.continuous_deployment_policy_id"
        policy = edge.continuous_deployment_policy_id
        if not facts.policy_found:
            problems.append(
                preflight_error(
                    policy_field,
                    "an existing continuous deployment policy",
                    f"no policy {policy}",
                    "create the policy for the staging distribution and attach it to the primary",
                )
            )
        elif primary is not None and primary.found and primary.continuous_deployment_policy_id != policy:
            # The shifter refuses to write a weight that would not apply: better known now than at step 1.
            problems.append(
                preflight_error(
                    policy_field,
                    f"the policy attached to distribution {edge.distribution_id}",
                    f"attached: {primary.continuous_deployment_policy_id or 'none'}",
                    "attach the policy to the primary distribution (UpdateDistribution with "
                    "ContinuousDeploymentPolicyId), or fix the spec",
                )
            )
        if (
            facts.policy_found
            and staging is not None
            and staging.domain_name
            and staging.domain_name not in facts.policy_staging_dns_names
        ):
            problems.append(
                preflight_error(
                    f"{path}.staging_distribution_id",
                    "the staging distribution the policy sends traffic to "
                    f"({', '.join(facts.policy_staging_dns_names) or 'none'})",
                    f"{edge.staging_distribution_id} ({staging.domain_name})",
                )
            )
        if facts.policy_found and facts.policy_traffic_type == "SingleHeader":
            problems.append(
                preflight_warning(
                    policy_field,
                    "a SingleWeight policy",
                    "SingleHeader (only requests with the header reach staging)",
                    "the first ramp step replaces the header rule by a weight; header-based testers lose it",
                )
            )
        elif facts.policy_enabled and (facts.policy_weight or 0) > 0:
            problems.append(
                preflight_warning(
                    policy_field,
                    "staging weight 0 before the ramp",
                    f"{facts.policy_weight:g} of the requests already go to staging",
                )
            )
        if facts.same_routing:
            problems.append(
                preflight_warning(
                    f"{path}.staging_distribution_id",
                    "a staging distribution that routes to green (origins or behaviors differing from the primary's)",
                    "the same routing as the primary: it reads as promoted, and the first ramp step is refused",
                    "point the staging distribution's origin at green before the ramp starts",
                )
            )
        return problems

    def iam_grants(self, edge: CloudFrontEdge, context: IamContext) -> list[IamGrant]:
        arns = context.arns
        distributions = [
            arns.arn("cloudfront", f"distribution/{d}", regional=False)
            for d in (edge.distribution_id, edge.staging_distribution_id)
        ]
        policy_id = edge.continuous_deployment_policy_id
        policy = arns.arn("cloudfront", f"continuous-deployment-policy/{policy_id}", regional=False)
        return [
            grant("CloudFrontReadDistributions", ["cloudfront:GetDistribution"], distributions),
            grant(
                "CloudFrontStagingWeight",
                ["cloudfront:GetContinuousDeploymentPolicyConfig", "cloudfront:UpdateContinuousDeploymentPolicy"],
                [policy],
            ),
            # Promotion copies the staging config onto the primary; CloudFront also checks
            # UpdateDistribution for it. Both distributions take part in the call.
            grant(
                "CloudFrontPromoteStaging",
                ["cloudfront:UpdateDistributionWithStagingConfig", "cloudfront:UpdateDistribution"],
                distributions,
            ),
        ]


CLOUDFRONT = CloudFrontMechanism()
