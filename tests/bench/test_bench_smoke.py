"""Keeps the bench harness working: every benchmark at a tiny scale, checked for the shape of its
results (never for timings: a timed unit test is not a benchmark), plus the CLI's pieces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import __main__ as cli
from bench import large, many, rollback, rollback_more, scale, step
from bench.harness import Harness
from bench.stats import percentile, summary, target

pytestmark = pytest.mark.integration


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert summary([])["n"] == 0
    assert summary([0.1, 0.2, 0.3])["p50"] == 0.2


def test_unknown_benchmark_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--only", "rollback,bogus"])
    assert "bogus" in capsys.readouterr().err


def test_machine_info_names_the_versions() -> None:
    info = cli.machine(0.0)
    for key in ("cpu_count", "cpu_model", "memory_gb", "python", "temporalio", "boto3", "moto", "temporal_cli", "date"):
        assert info[key] not in (None, ""), key


def _targets_judged(result: dict[str, Any]) -> None:
    """Structure only: every target is judged and a miss carries the benchmark's explanation. Whether a
    target passes at a tiny scale on a loaded machine is the benchmark's verdict, not this test's."""
    assert result["targets"], "every benchmark judges its targets"
    for verdict in result["targets"]:
        assert set(verdict) >= {"target", "goal", "measured", "result"}, verdict
        assert verdict["result"] in ("pass", "miss")
        if verdict["result"] == "miss":
            assert verdict.get("why"), f"a missed target says why: {verdict}"


def test_every_target_must_say_what_limits_it() -> None:
    assert target("t", False, "2 s", "< 1 s", "the floor")["why"] == "the floor"
    assert "why" not in target("t", True, "0.5 s", "< 1 s", "the floor")
    with pytest.raises(ValueError, match="must say what limits it"):
        target("t", False, "2 s", "< 1 s", " ")


async def test_every_benchmark_runs_at_tiny_scale(tmp_path: Path) -> None:
    harness = Harness(aws_latency_ms=1.0, workdir=tmp_path)
    await harness.start()
    try:
        results = {
            "rollback": await rollback.run(harness, 1),
            "step": await step.run(harness, 1),
            "large": await large.run(harness, [3], 50.0, mesh=True),
            "many": await many.run(harness, [2]),
            "scale": await scale.run(harness, [5]),
        }
    finally:
        harness.stop()

    assert results["rollback"]["reaction_seconds"]["n"] == 1
    assert results["rollback"]["floor_observed_seconds"]["n"] == 1
    assert results["rollback"]["temporal_minimum_seconds"]["n"] == 1, "Temporal's own floor, beside the boto3 one"
    worker_calls = results["rollback"]["aws_calls_per_rollback"]["worker"]
    assert worker_calls == results["rollback"]["aws_calls_per_rollback"]["floor"], "the floor makes the same calls"
    assert results["step"]["raised_limits"]["overhead_seconds"]["n"] == 5
    run = results["large"]["runs"][0]
    assert run["services"] == 3 and run["aws_calls"] > 0 and run["history_events"] > 0
    assert run["continue_as_new_input_bytes"] > 0, "the large run continues-as-new at the first gate"
    assert run["aws_calls_by_service"]["ecs"] > 0
    assert run["aws_calls_by_operation"]["app-mesh.DescribeVirtualNode"] == 3, "the mesh is read, a node each"
    assert run["worker_peak_rss_mb"] > 0
    rounds = results["many"]["rounds"]
    assert rounds[0]["ramp_steps_completed"] == 10
    assert rounds[0]["missed_approvals"] == 0 and rounds[0]["stalled"] == 0
    at_scale = results["scale"]["runs"][0]
    assert at_scale["completed"], at_scale
    assert at_scale["runs"] >= 2 and at_scale["plan_services_total"] == 5 + 1  # and the spec's async worker
    assert at_scale["largest_event_bytes"] > 0 and at_scale["continue_as_new_input_bytes"] > 0
    for result in results.values():
        _targets_judged(result)
    table = cli.table(results)
    assert table.row_count > 0
    json.dumps(results)  # what is written to results.json


async def test_the_rollback_under_contention_and_on_realistic_latency_run_at_tiny_scale(tmp_path: Path) -> None:
    """Only that they run and report figures against their floor: no verdict on the timings."""
    harness = Harness(aws_latency_ms=1.0, workdir=tmp_path)
    await harness.start()
    try:
        results = {
            "rollback_contention": await rollback_more.run_contention(harness, 1, busy=2),
            "rollback_realistic": await rollback_more.run_realistic(harness, 1),
        }
    finally:
        harness.stop()

    for result in results.values():
        assert result["reaction_seconds"]["n"] == 1
        assert result["floor_observed_seconds"]["n"] == 1
        assert result["ratio_to_floor"]["p99"] > 0
        assert result["temporal_minimum_seconds"]["n"] == 1
        assert result["ratio_to_floor_plus_temporal_minimum"]["p99"] > 0
        _targets_judged(result)
    assert results["rollback_contention"]["busy_migrations"] == 2
    assert all(w >= 2 for w in results["rollback_contention"]["busy_green_weights_at_end"])
    assert results["rollback_realistic"]["sim_settings"]["profile"] == "realistic"
    realistic_calls = results["rollback_realistic"]["aws_calls_per_rollback"]
    # With propagation taking time, the number of polls (GetChange, GetDistribution until Deployed)
    # depends on timing; every other call is the same.
    polls = {"route-53.GetChange", "cloudfront.GetDistribution"}
    worker, floor = ({k: v for k, v in calls.items() if k not in polls} for calls in realistic_calls.values())
    assert worker == floor, "the floor makes the same calls"
    assert cli.table(results).row_count > 0
    json.dumps(results)
