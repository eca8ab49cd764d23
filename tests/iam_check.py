"""pytest plugin: the least-privilege check of docs/iam-policy.json against what the activities
really called (recorded by tests/iam_recorder.py through the ``aws_clients`` fixture).

At the end of a session in which any AWS call was recorded:

- an action the activities called that the policy's direct-calls statement lacks fails the run
  (exit status 1, with a report naming each action and where to add it);
- policy actions no test exercised are listed as "unused" (informational: a partial run, e.g. one
  test file, exercises only part of the policy).

The policy's second statement holds permissions AWS checks on the caller's behalf without a call
of ours (``iam:PassRole`` ...); those are never recorded, so they are not compared.

Each call's resources are checked too (``resource_problems``): every resource must be of a type AWS
documents for the action (``migration/iam_catalog.py``), and a call made while a generated
least-privilege policy was in scope (``iam_recorder.scoped``) must fall inside that policy's
resource patterns; either failure fails the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from meshshift.migration.iam_catalog import ACTIONS
from meshshift.migration.iam_model import resource_fits
from tests import iam_recorder, iam_scope

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


def resource_problems(calls: list[iam_recorder.Call], scopes: dict[str, dict[str, Any]]) -> list[str]:
    """Calls on a resource of the wrong type for their action, or outside their scoped policy."""
    problems: list[str] = []
    for call in calls:
        facts = ACTIONS.get(call.action)
        if facts is None:
            continue  # not in the reference policy at all: the action comparison reports it
        if facts.star_only:
            continue
        if not call.resources:
            problems.append(f"{call.action}: no resource recorded (teach tests/iam_recorder.resource_arns the action)")
        for arn in call.resources:
            if not any(resource_fits(arn, kind) for kind in facts.resource_types):
                kinds = ", ".join(k.arn_format for k in facts.resource_types)
                problems.append(f"{call.action} on {arn}: not a resource type AWS documents for it ({kinds})")
            if call.policy is not None and not iam_scope.allows(scopes[call.policy], call.action, arn):
                problems.append(f"{call.action} on {arn}: outside the generated policy of {call.policy}")
    return problems


_result_key = pytest.StashKey[tuple[IamComparison, int]]()
_resources_key = pytest.StashKey[tuple[list[str], int, int]]()


# Under pytest-xdist each worker process records only its own tests' calls, and a worker's exit
# status is not the run's: the workers hand their records to the controller, which judges them all.
_WORKER_OUTPUT_KEY = "meshshift_iam_records"


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    exported = getattr(node, "workeroutput", {}).get(_WORKER_OUTPUT_KEY)
    if exported:
        iam_recorder.merge(exported)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[_WORKER_OUTPUT_KEY] = iam_recorder.export()
        return
    recorded = iam_recorder.snapshot()
    if not recorded:
        return
    comparison = compare(recorded, direct_actions(load_policy()))
    session.config.stash[_result_key] = (comparison, len(recorded))
    calls = iam_recorder.calls()
    problems = resource_problems(calls, iam_recorder.scopes())
    session.config.stash[_resources_key] = (problems, len(calls), sum(1 for c in calls if c.policy))
    if (not comparison.ok or problems) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    found = config.stash.get(_result_key, None)
    if found is None:
        return
    comparison, count = found
    problems, calls, scoped = config.stash.get(_resources_key, ([], 0, 0))
    ok = comparison.ok and not problems
    terminalreporter.section("IAM policy check", sep="=", red=not ok, green=ok)
    for line in render(comparison, count):
        terminalreporter.write_line(line)
    terminalreporter.write_line(
        f"Resources: {calls} distinct call(s) checked against AWS's resource types, {scoped} of them against a "
        "generated least-privilege policy"
    )
    if problems:
        terminalreporter.write_line(f"FAILED: {len(problems)} call(s) on resources the policy does not cover:")
        for line in problems:
            terminalreporter.write_line(f"  outside  {line}")
