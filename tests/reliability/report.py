"""Render docs/reliability.md from the figures of the latest run (tests/.artifacts/reliability.json).

python -m tests.reliability.report            # writes docs/reliability.md
python -m tests.reliability.report --stdout   # prints it
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.reliability.figures import FIGURES

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"

INTRO = """# Reliability and security

What meshshift has been seen surviving: workers killed mid-step, the Temporal server restarting,
AWS throttling and 5xx, malformed specs and messages, forged alarms, approvers who are not
allowed. The figures below are those of the latest `make chaos` run (the long forms,
`MESHSHIFT_CHAOS_RUNS=100`); `make test` runs the same tests in their short forms (5 worker-chaos runs, one batch).
`make chaos` rewrites this page from the figures that every run of `tests/reliability/` writes
(tests/.artifacts/reliability.json, not committed); `python -m tests.reliability.report` renders
it by hand.

Everything runs against a real Temporal dev server and the simulated AWS (moto in server mode
plus meshshift's ECS, App Mesh, CloudFront and CloudWatch extensions), with the worker started
as `meshshift worker`, as a user runs it, except the state machine, which uses fake activities
so it can throw thousands of operations at the workflow.

The chaos switch used below, `MESHSHIFT_FAULTS` (sim/faults.py), is **off by default**: it makes
the worker's AWS calls fail on purpose and exists only for these tests.
"""

NOT_COVERED = """## How a dead worker is noticed

Temporal learns that a worker died only from its activities' timeouts. Every meshshift activity
is scheduled with a heartbeat timeout (30 s; `RunOptions.activity_heartbeat_timeout` in the
workflow input overrides it), and the worker's keepalive interceptor (workers/keepalive.py)
heartbeats for any activity that is quiet for a third of it. A SIGKILLed worker therefore costs
at most one heartbeat timeout before its activity is retried elsewhere. The chaos runs shorten
the timeout to 5 s (the state machine to 3 s) so that a hundred kills fit in minutes; the table
counts the attempts retried that way.

## What is not covered

- **Real AWS.** Everything runs against the simulated AWS. Real throttling, eventual consistency
  beyond what the simulation models, IAM evaluation, and CloudFront continuous deployment (only
  modelled by meshshift's extension of moto) are not exercised.
- **Network partitions** between the worker and AWS or Temporal (only process kills, server
  restarts and AWS error answers are injected), clock skew, a full disk under the dev server.
- **Several workers at once** on one task queue while one is killed (one worker process is used).
- **A Temporal cluster** (only the single-process dev server on SQLite is restarted here), and
  Temporal Cloud.
- **The alarm bridge under load**, and its Lambda deployment (the handler is tested elsewhere).
- **Logs at DEBUG level.** The secrets search covers the default INFO level. botocore's DEBUG
  logging prints request headers, which include `X-Amz-Security-Token` with session credentials:
  do not run a worker at DEBUG with temporary credentials into shared logs.
- **The state machine's choice of operations** is hypothesis's: its first examples are the
  simplest, so the short form in `make test` leans on worker restarts and rollbacks; the
  operation counts are in its table.
"""


def _row(name: str, value: Any) -> str:
    if isinstance(value, dict):
        value = ", ".join(f"{k}: {v}" for k, v in sorted(value.items()))
    elif isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    return f"| {name.replace('_', ' ')} | {value} |"


SECTIONS: list[tuple[str, str, str]] = [
    ("worker_chaos", "Worker chaos (SIGKILL)", "tests/reliability/test_worker_chaos.py"),
    ("server_restarts", "Temporal server restarts", "tests/reliability/test_server_restarts.py"),
    ("aws_faults", "AWS faults (30% of calls)", "tests/reliability/test_aws_faults.py"),
    ("bad_specs", "Fuzzed specs", "tests/reliability/test_bad_input.py"),
    ("bad_messages", "Fuzzed signals and updates", "tests/reliability/test_bad_input.py"),
    ("invariants", "Safety invariants (stateful)", "tests/reliability/test_invariants.py"),
    ("approver_rules", "Approver allow-list and two-person rule", "tests/reliability/test_security.py"),
    ("alarm_bridge", "Alarm bridge refusals", "tests/reliability/test_security.py"),
    ("secrets", "Secrets in history, logs and traces; IAM", "tests/reliability/test_security.py"),
]


def summary(data: dict[str, Any]) -> list[str]:
    get = lambda section, key: data.get(section, {}).get(key, 0)  # noqa: E731
    violations = sum(
        int(get(s, k))
        for s, k in [
            ("worker_chaos", "state_mismatches"),
            ("worker_chaos", "approvals_lost"),
            ("worker_chaos", "duplicates"),
            ("server_restarts", "violations"),
            ("aws_faults", "state_mismatches"),
            ("bad_specs", "violations"),
            ("bad_messages", "violations"),
            ("invariants", "violations"),
            ("secrets", "leaks"),
        ]
    )
    runs = get("worker_chaos", "runs") + get("aws_faults", "migrations") + get("server_restarts", "migrations")
    return [
        "## Summary of the latest run",
        "",
        "| figure | value |",
        "|---|---|",
        f"| migrations run end to end under chaos | {runs} |",
        f"| worker kills (SIGKILL) survived | {get('worker_chaos', 'kills')} |",
        f"| Temporal server restarts survived | {get('server_restarts', 'restarts')} |",
        f"| AWS faults injected (throttling + 5xx) | {get('aws_faults', 'faults_injected')} "
        f"(+ {get('invariants', 'aws_faults_injected')} in the state machine) |",
        f"| invalid inputs tried (specs + messages) | {get('bad_specs', 'specs_generated')} specs, "
        f"{get('bad_messages', 'messages')} messages |",
        f"| random operation sequences (stateful) | {get('invariants', 'sequences')} |",
        f"| **violations found** | **{violations}** |",
        "",
    ]


def provenance(data: dict[str, Any]) -> list[str]:
    """When the figures were recorded and with which MESHSHIFT_CHAOS_RUNS, per section."""
    stamps = sorted({str(v.get("recorded_at", "?"))[:10] for v in data.values() if isinstance(v, dict)})
    settings = sorted({int(v.get("chaos_runs_setting", 0)) for v in data.values() if isinstance(v, dict)})
    return [f"Recorded on {', '.join(stamps)} with `MESHSHIFT_CHAOS_RUNS` = {', '.join(map(str, settings))}.", ""]


def render(data: dict[str, Any]) -> str:
    lines = [INTRO, *provenance(data), *summary(data)]
    for key, title, source in SECTIONS:
        figures = data.get(key)
        lines += [f"## {title}", "", f"Test: `{source}`.", ""]
        if not figures:
            lines += ["_Not run in the latest run._", ""]
            continue
        lines += ["| figure | value |", "|---|---|"]
        lines += [_row(k, v) for k, v in sorted(figures.items())]
        lines.append("")
    lines.append(NOT_COVERED)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    try:
        data = json.loads(FIGURES.read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {FIGURES}: {exc}; run `pytest tests/reliability` first", file=sys.stderr)
        return 1
    text = render(data)
    if "--stdout" in argv:
        sys.stdout.write(text)
    else:
        DOC.write_text(text)
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
