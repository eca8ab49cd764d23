"""pytest plugin: the least-privilege check of docs/iam-policy.json against what the activities
really called (recorded by tests/iam_recorder.py through the ``aws_clients`` fixture).

At the end of a session in which any AWS call was recorded:

- an action the activities called that the policy's direct-calls statement lacks fails the run
  (exit status 1, with a report naming each action and where to add it);
- policy actions no test exercised are listed as "unused" (informational: a partial run, e.g. one
  test file, exercises only part of the policy).

The policy's second statement holds permissions AWS checks on the caller's behalf without a call
of ours (``iam:PassRole`` ...); those are never recorded, so they are not compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import iam_recorder

POLICY_PATH = Path(__file__).resolve().parent.parent / "docs" / "iam-policy.json"
DIRECT_SID = "MeshshiftActivitiesDirectCalls"


@dataclass(frozen=True)
class IamComparison:
    missing: list[str] = field(default_factory=list)  # called, but not granted
    unused: list[str] = field(default_factory=list)  # granted, but not called in this session

    @property
    def ok(self) -> bool:
        return not self.missing


def load_policy(path: Path = POLICY_PATH) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def direct_actions(policy: dict[str, Any]) -> list[str]:
    """The actions of the statement listing what the activities call themselves."""
    for statement in policy.get("Statement", []):
        if statement.get("Sid") == DIRECT_SID:
            actions = statement.get("Action", [])
            return [actions] if isinstance(actions, str) else list(actions)
    raise ValueError(f"{POLICY_PATH}: no statement with Sid {DIRECT_SID!r}")


def compare(recorded: set[str] | list[str], granted: list[str]) -> IamComparison:
    """IAM action names are case-insensitive; compare them so, report them as written."""
    granted_lower = {a.lower() for a in granted}
    recorded_lower = {a.lower() for a in recorded}
    return IamComparison(
        missing=sorted(a for a in set(recorded) if a.lower() not in granted_lower),
        unused=sorted(a for a in granted if a.lower() not in recorded_lower),
    )


def render(comparison: IamComparison, recorded_count: int) -> list[str]:
    lines = [f"IAM least-privilege check: {recorded_count} action(s) called by activities, policy {POLICY_PATH.name}"]
    if comparison.missing:
        lines.append(f"FAILED: {len(comparison.missing)} action(s) called but missing from statement {DIRECT_SID}:")
        lines += [f"  missing  {action}" for action in comparison.missing]
        lines.append("  Next: add them to docs/iam-policy.json (sorted), or stop calling them.")
    else:
        lines.append("OK: every action called is in the policy.")
    if comparison.unused:
        lines.append(f"{len(comparison.unused)} policy action(s) not exercised by this session:")
        lines += [f"  unused   {action}" for action in comparison.unused]
    return lines


_result_key = pytest.StashKey[tuple[IamComparison, int]]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    recorded = iam_recorder.snapshot()
    if not recorded:
        return
    comparison = compare(recorded, direct_actions(load_policy()))
    session.config.stash[_result_key] = (comparison, len(recorded))
    if not comparison.ok and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    found = config.stash.get(_result_key, None)
    if found is None:
        return
    comparison, count = found
    terminalreporter.section("IAM policy check", sep="=", red=not comparison.ok, green=comparison.ok)
    for line in render(comparison, count):
        terminalreporter.write_line(line)
