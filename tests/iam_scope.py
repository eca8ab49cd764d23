"""Reading a generated policy the way IAM would, for the least-privilege tests.

Statements are read with policyuniverse (a maintained IAM policy parser), resources and string
conditions are matched by IAM's wildcard rules (``*`` any run of characters, ``?`` one), actions
case-insensitively. Only ``Allow`` statements exist in meshshift's policies. moto's IAM
enforcement ignores the Resource and Condition elements, so it cannot tell these apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from policyuniverse.policy import Policy

from meshshift.migration.iam import arn_hints, build_policy
from meshshift.migration.iam_catalog import ACTIONS
from meshshift.migration.iam_model import ArnContext, IamFacts, iam_match
from meshshift.migration.loading import validate_spec


@dataclass(frozen=True)
class ReadStatement:
    sid: str
    actions: frozenset[str]  # lower case
    resources: frozenset[str]
    conditions: dict[str, dict[str, list[str]]]

    @property
    def modifies(self) -> bool:
        """Holds an action AWS ranks Write, Tagging or Permissions management."""
        return any(ACTIONS[a].modifies for a in ACTIONS if a.lower() in self.actions)

    def grants(self, action: str) -> bool:
        return any(iam_match(pattern.lower(), action.lower()) for pattern in self.actions)

    def covers(self, arn: str) -> bool:
        return any(iam_match(pattern, arn) for pattern in self.resources)


def read(document: dict[str, Any]) -> list[ReadStatement]:
    out = []
    for statement in Policy(document).statements:
        assert statement.effect == "Allow", statement.statement
        out.append(
            ReadStatement(
                sid=str(statement.statement.get("Sid", "")),
                actions=frozenset(a.lower() for a in statement.actions),
                resources=frozenset(statement.resources),
                conditions={
                    op: {k: list(v) if isinstance(v, list) else [v] for k, v in keys.items()}
                    for op, keys in statement.statement.get("Condition", {}).items()
                },
            )
        )
    return out


def allows(document: dict[str, Any], action: str, arn: str) -> bool:
    """Some statement grants ``action`` on ``arn`` (conditions aside)."""
    return any(s.grants(action) and s.covers(arn) for s in read(document))


def condition_admits(statement: ReadStatement, key: str, value: str) -> bool:
    """A request whose ``key`` is ``value`` passes the statement's conditions on ``key`` (a
    statement without one on ``key`` admits it)."""
    for operator, keys in statement.conditions.items():
        if key not in keys:
            continue
        if not operator.endswith(("StringEquals", "StringLike", "ArnEquals", "ArnLike")):
            raise AssertionError(f"{statement.sid}: operator {operator} is not modelled here")
        if not any(iam_match(pattern, value) for pattern in keys[key]):
            return False
    return True


def generated_policy(spec: dict[str, Any], facts: IamFacts | None = None) -> dict[str, Any]:
    """``meshshift iam-policy`` for a spec whose ARNs name its account and region (the tests' specs)."""
    validated = validate_spec(spec)
    hints = arn_hints(validated)
    assert hints.region and hints.account, "the spec names no region or account"
    arns = ArnContext(partition=hints.partition or "aws", region=hints.region, account=hints.account)
    return build_policy(validated, arns, facts).document()
