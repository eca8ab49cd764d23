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

What meshshift has been seen surviving, with the figures of the latest run of `tests/reliability/`.
`make test` runs the short forms (10 chaos runs); `make chaos` runs the long forms
(`MESHSHIFT_CHAOS_RUNS=100`). Regenerate this page after a run with
`python -m tests.reliability.report` (the tests write `tests/.artifacts/reliability.json`).

The chaos switch used below, `MESHSHIFT_FAULTS` (workers/faults.py), is **off by default**: it makes
the worker's AWS calls fail on purpose and exists only for these tests.
"""

NOT_COVERED = """## What is not covered

- **Real AWS.** Everything runs against the simulated AWS (moto plus meshshift's extensions).
  Real throttling, eventual consistency beyond what the simulation models, IAM evaluation and
  CloudFront continuous deployment (only modelled by our extension) are not exercised here.
- **Timeouts of a dead worker's activities.** Temporal learns that a worker died only from an
  activity's timeouts. Most meshshift activities do not heartbeat and have start-to-close
  timeouts of 2 to 35 minutes, so a crash during one of them delays the migration that long
  (nothing is lost or duplicated). To keep runs to seconds, the chaos test shortens the
  stranded attempt's start-to-close timeout through Temporal's UpdateActivityOptions API (what
  `temporal activity update-options` does) and restores it for the retry; the count is in the
  table. Giving every AWS-changing activity a heartbeat timeout would make this automatic.
- **Network partitions** between the worker and AWS or Temporal (only process kills, server
  restarts and AWS error answers are injected), clock skew, disk-full on the dev server.
- **Several workers at once** on one task queue while one is killed (one worker process is used).
- **The alarm bridge under load** and a Lambda deployment of it (its handler is tested elsewhere).
- **Logs at DEBUG level**: the secrets search covers the default INFO level. botocore's DEBUG
  logging prints request headers, which include `X-Amz-Security-Token` when session credentials
  are used; do not run a worker at DEBUG with temporary credentials in shared logs.
- **Known bugs found by these tests** (kept as strict xfail tests until fixed, so they turn red
  when fixed): a workflow input that is not a JSON object, and a signal whose payload is JSON
  null, both fail the workflow task forever instead of being refused and audited.
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


def render(data: dict[str, Any]) -> str:
    lines = [INTRO, *summary(data)]
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
