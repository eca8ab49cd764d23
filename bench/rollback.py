"""Benchmark 1, rollback reaction: a migration held at 25% on ALB + Route 53 + CloudFront, then an
``alarm`` signal; the time until every mechanism reads back 100% blue.

Setup: each trial is its own app (one blue service) with an ALB listener rule, a Route 53 weighted
pair and a CloudFront continuous deployment (``promotion: hold_at_cap``: CloudFront cannot carry
more than 15% before promotion, so at the 25% step it holds 15% while ALB and Route 53 carry 25%;
the rollback sets it back to 0). The ramp is 1, 5, 25 (bake 2 h: the hold), 50, 100 with automatic
approval; the spec's default client-side rate limits apply (Route 53 and CloudFront 5 calls/s).
The migrations go straight to 25% (``steps: [25 (bake 2 h), 50, 100]``), a few at a time.

The clock starts just before the signal is sent and stops when the bench's own boto3 reads (the
observer, polling all three mechanisms in parallel) see 100% blue everywhere. The floor, in the
same run and interleaved trial by trial: a twin app held at 25% is set back to blue by the same
shifter calls made directly with boto3, watched by the same observer.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bench.common import TIMELINE_MARKS, rollback_timeline, start, wait_published
from bench.floor import Floor
from bench.harness import Harness, WorkerProcess
from bench.observe import EdgeObserver
from bench.stats import summary, target
from bench.temporal_floor import TemporalFloor, probe_task_queue
from bench.worker import first_answers, write_key_of
from bench.world import ALARM, seed_apps, seed_base, spec_for
from meshshift.migration import plan as planning
from meshshift.migration.constants import SIGNAL_ALARM

# Straight to 25% and held there (bake 2 h); 50 and 100 are never reached.
HOLD_STEPS: list[Any] = [{"weight": 25, "bake": "PT2H"}, 50, 100]
# Migrations brought to the hold at once: they share the worker's CloudFront bucket (5 calls/s).
SETUP_CONCURRENCY = 3
EDGES = ["alb", "route53", "cloudfront"]
SETTLE_SECONDS = 1.5


# How long a trial waits for the worker's stats file to show its writes (written 10 times a second).
WRITES_TIMEOUT = 10.0


@dataclass
class Trial:
    reaction: float  # signal sent -> observer sees 100% blue everywhere
    written: float  # signal sent -> AWS answered the last of the three writes (bench.worker.WriteClock)
    rolled_back: float  # signal sent -> workflow closed rolled_back (weights verified by read-back)
    workflow_duration: float  # the workflow's own record: compensation start -> finished
    floor_observed: float  # direct boto3: first write -> observer sees 100% blue
    floor_written: float  # direct boto3: first call -> AWS answered the last of the three writes
    floor_calls: float  # direct boto3: writes, propagation waits and both read-backs
    temporal_minimum: float  # a trivial workflow's signal -> its local activity began (bench.temporal_floor)
    timeline: dict[str, float]  # server event times after the signal (see rollback_timeline)


async def run(h: Harness, trials: int) -> dict[str, Any]:
    assert h.sim is not None and h.client is not None
    h.sim.reset()
    base = await asyncio.to_thread(seed_base)
    apps = await asyncio.to_thread(seed_apps, base, "rb", trials, edges_for=lambda _i: EDGES)
    twins = await asyncio.to_thread(seed_apps, base, "rbf", trials, edges_for=lambda _i: EDGES, start=trials)
    worker = h.worker()
    floor = Floor(h.aws_latency_ms)
    probe = await TemporalFloor.start(h.client, probe_task_queue(worker.task_queue))
    try:
        handles = [
            await start(h.client, worker.task_queue, spec_for(a, steps=HOLD_STEPS, approval="auto")) for a in apps
        ]
        await asyncio.gather(*(wait_published(handle, weight=25) for handle in handles))
        results: list[Trial] = []
        calls_before = worker.fresh_calls()
        for app, twin, handle in zip(apps, twins, handles, strict=True):
            # A held migration has been quiet for minutes when an alarm fires: let the worker's
            # client-side token buckets refill after the previous trial, as they would have.
            await asyncio.sleep(SETTLE_SECONDS)
            results.append(await alarm_trial(handle, app.edge_models(), twin.edge_models(), floor, probe, [worker]))
        calls_after = worker.fresh_calls()
        await probe.stop()
    finally:
        floor.close()
        worker.stop()
    return _report(results, calls_before, calls_after, dict(floor.rollback_calls), trials)


async def alarm_trial(
    handle: Any,
    edges: list[Any],
    twin_edges: list[Any],
    floor: Floor,
    probe: TemporalFloor,
    workers: list[WorkerProcess],
) -> Trial:
    """One trial: the floor makes a rollback's calls on the twin app's edges and the probe measures
    Temporal's own floor; then the alarm signal, until every edge of the app reads 100% blue (the
    reaction) and the workflow has closed.

    The floor and the probe go first so that they run under the load the alarm meets. After a
    rollback the other migrations on the worker pause for about a second: the rollback took the
    tokens the limiter reserves for priority calls, and their ordinary calls wait until the reserve
    is back (activities/aws.py). A floor measured after the alarm ran in that quiet."""
    floor_figures = await asyncio.to_thread(_floor_trial, floor, twin_edges)
    temporal_minimum = await probe.react()
    observer = EdgeObserver(edges)
    started = time.monotonic()
    await handle.signal(SIGNAL_ALARM, {"alarm_name": ALARM, "state": "ALARM", "reason": "bench", "source": "bench"})
    blue_at = await asyncio.to_thread(observer.wait_all_blue)
    report = await handle.result()
    closed_at = time.monotonic()
    observer.close()
    assert report["outcome"] == "rolled_back", report["outcome"]
    return Trial(
        reaction=blue_at - started,
        written=await _last_write(workers, edges, started) - started,
        rolled_back=closed_at - started,
        workflow_duration=float(report["rollback"]["duration_seconds"]),
        timeline=await rollback_timeline(handle),
        temporal_minimum=temporal_minimum,
        **floor_figures,
    )


async def _last_write(workers: list[WorkerProcess], edges: list[Any], after: float) -> float:
    """When AWS answered the last of the workers' first writes to each of ``edges`` after ``after``
    (a rollback writes twice: its first write in the workflow's worker, then the verified one)."""
    keys = [write_key_of(e) for e in edges]
    deadline = time.monotonic() + WRITES_TIMEOUT
    while True:
        answered: dict[str, list[float]] = {}
        for worker in workers:  # a split pair: either process may have written
            for key, times in worker.writes().items():
                answered[key] = answered.get(key, []) + times
        firsts = first_answers(answered, keys, after)
        if firsts is not None:
            return max(firsts)
        if time.monotonic() > deadline:
            raise TimeoutError(f"the workers' stats show no write to every one of {keys} after the alarm")
        await asyncio.sleep(0.05)


def _floor_trial(floor: Floor, edges: list[Any]) -> dict[str, float]:
    floor.set_weights(edges, [planning.weights_for(e, 25) for e in edges])  # the hold, untimed
    observer = EdgeObserver(edges)
    blue = [planning.weights_for(e, 0) for e in edges]
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        writes = pool.submit(floor.roll_back, edges, blue)
        blue_at = observer.wait_all_blue()
        calls = writes.result()
    observer.close()
    firsts = first_answers(floor.writes.snapshot(), [write_key_of(e) for e in edges], started)
    assert firsts is not None, "the floor answered without writing every edge"
    return {
        "floor_observed": blue_at - started,
        "floor_written": max(firsts) - started,
        "floor_calls": calls,
    }


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def figures(trials: list[Trial]) -> dict[str, Any]:
    """What every rollback benchmark reports of its trials, each reaction beside its floor's.

    Two measures of the same reaction: ``reaction`` is the observer's (its polling rounds, 20-60 ms
    each on the realistic profile, lie between the change and the measurement; the floor's writes
    start with the observer's first round, the worker's at a random point of a round); ``written``
    is when AWS answered the last write (the same botocore hook in the worker and in the floor)."""
    out: dict[str, Any] = {"trials": len(trials)}
    for measure, worker, floor in (("observed", "reaction", "floor_observed"), ("written", "written", "floor_written")):
        mine = summary([getattr(t, worker) for t in trials])
        theirs = summary([getattr(t, floor) for t in trials])
        out[f"{worker}_seconds"] = mine
        out[f"{floor}_seconds"] = theirs
        out[f"ratio_to_floor{'' if measure == 'observed' else '_written'}"] = {
            k: round(mine[k] / theirs[k], 2) for k in ("p50", "p95", "p99")
        }
    # Temporal's own floor (bench.temporal_floor) and, trial by trial, the best any orchestration on
    # Temporal could do: the floor's calls begun only once Temporal has delivered the signal.
    out["temporal_minimum_seconds"] = summary([t.temporal_minimum for t in trials])
    best = summary([t.floor_observed + t.temporal_minimum for t in trials])
    out["ratio_to_floor_plus_temporal_minimum"] = {
        k: round(out["reaction_seconds"][k] / best[k], 2) for k in ("p50", "p95", "p99")
    }
    out |= {
        "rolled_back_seconds": summary([t.rolled_back for t in trials]),
        "workflow_rollback_duration_seconds": summary([t.workflow_duration for t in trials]),
        "floor_calls_seconds": summary([t.floor_calls for t in trials]),
        "timeline_after_signal_seconds_p50": {
            # read_completed only when the write's own read-back did not match (None otherwise).
            mark: summary([t.timeline[mark] for t in trials if mark in t.timeline]).get("p50")
            for mark in TIMELINE_MARKS
        },
    }
    return out


def ratio_targets(out: dict[str, Any], goal: float, why: str) -> list[dict[str, Any]]:
    """The ratio target, judged on each measure (``figures``); a miss also says how much of the
    target's allowance for the orchestration Temporal's own floor took."""
    return [
        target(
            f"rollback within {goal:g}x the floor (p99, {measure})",
            out[key]["p99"] <= goal,
            f"{out[key]['p99']:.2f}x",
            f"<= {goal:g}x",
            f"{why}; {_allowance(out, goal, floor)}",
        )
        for measure, key, floor in (
            ("observed", "ratio_to_floor", "floor_observed_seconds"),
            ("last write answered", "ratio_to_floor_written", "floor_written_seconds"),
        )
    ]


def _allowance(out: dict[str, Any], goal: float, floor: str) -> str:
    allowance = (goal - 1.0) * out[floor]["p99"]
    temporal = out["temporal_minimum_seconds"]["p99"]
    return (
        f"the target leaves {allowance * 1000:.0f} ms ({goal - 1.0:g} x the floor's p99) for all of the "
        f"orchestration, and Temporal alone (a trivial workflow's signal to its local activity, same server and "
        f"worker process) took p99 {temporal * 1000:.0f} ms of it"
    )


def _report(
    trials: list[Trial], before: dict[str, int], after: dict[str, int], floor_calls: dict[str, int], n: int
) -> dict[str, Any]:
    out = figures(trials)
    reaction = out["reaction_seconds"]
    worker_calls = {k: round(v / n, 1) for k, v in sorted(_diff(after, before).items())}
    floor_per_trial = {k: round(v / n, 1) for k, v in sorted(floor_calls.items())}
    return {
        "setup": (
            "one app per trial (1 blue service), ALB rule + Route 53 weighted pair + CloudFront continuous "
            "deployment (hold_at_cap: 15% while the others are at 25%); ramp 25(hold 2 h),50,100 auto-approved; "
            "spec default rate limits (elbv2 10/s, route53 5/s, cloudfront 5/s); alarm signal; bench observer "
            "polls all three mechanisms in parallel with boto3"
        ),
        **out,
        "aws_calls_per_rollback": {"worker": worker_calls, "floor": floor_per_trial},
        "targets": [
            target(
                "rollback p99 < 1 s",
                reaction["p99"] < 1.0,
                f"{reaction['p99']:.3f} s",
                "< 1 s",
                f"the floor itself (the same calls made directly with boto3) took p99 "
                f"{out['floor_observed_seconds']['p99']:.3f} s in this run; the rest is the workflow task and "
                "activity dispatch, all on the shared 2-core machine (see timeline_after_signal_seconds_p50)",
            ),
            *ratio_targets(
                out,
                1.3,
                "Temporal round trips (signal, workflow task, activity dispatch) added to the floor's calls; at "
                "tiny trial counts one slow trial sets the p99",
            ),
        ],
    }
