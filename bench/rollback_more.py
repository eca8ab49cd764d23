"""Benchmarks 1b and 1c: the rollback of benchmark 1 (bench/rollback.py) when it matters most.

- **Under contention** (``rollback_contention``): the alarm arrives while ``busy`` other migrations
  ramp on the same worker, spending the same client-side Route 53, CloudFront and ELB budgets
  (the spec's default limits: 5, 5 and 10 calls/s). The busy migrations use the same three
  mechanisms and a ramp of 99 one-percent steps with automatic approval and no bake, so they keep
  every bucket drained for the whole run. The rollback's calls run at Temporal task priority 1 and
  take the tokens the limiter reserves for priority calls (activities/aws.py).
- **On the realistic latency profile** (``rollback_realistic``): the simulated AWS answers every
  call in 20-60 ms, as AWS does within a region (sim/aws/settings.py ``REALISTIC``). Propagation
  (Route 53 INSYNC, CloudFront deployment) and ECS's timings are cut to a second so that each
  trial's setup does not take minutes; the reaction (the observer sees 100% blue) does not wait for
  propagation, the ``rolled_back`` figure does.

Each is compared in the same run, trial by trial, with its floor: a twin app set back to blue by the
same shifter calls made directly with boto3 (no rate limiter), watched by the same observer, under
the same load (the busy migrations keep running while the floor's trial runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from collections import Counter
from typing import Any

from temporalio.client import WorkflowHandle

from bench.common import publications, start, wait_published
from bench.floor import Floor
from bench.harness import Harness, WorkerProcess
from bench.rollback import EDGES, HOLD_STEPS, SETTLE_SECONDS, Trial, _diff, alarm_trial, figures, ratio_targets
from bench.temporal_floor import TemporalFloor, probe_task_queue
from bench.world import seed_apps, seed_base, spec_for

# The busy migrations: 1% steps (99 of them after the first) keep them writing for minutes.
BUSY_STEPS: list[Any] = list(range(1, 101))
# Realistic per-call latency; everything that would make a trial's setup take minutes, cut short.
REALISTIC: dict[str, Any] = {
    "profile": "realistic",
    "route53_insync": 1.0,
    "cloudfront_deploy": 1.0,
    "ecs_task_start": 1.0,
    "ecs_task_stop": 1.0,
    "ecs_steady": 1.0,
    "health_check": 1.0,
    "deregistration_delay": 1.0,
}
INSTANT: dict[str, Any] = {"profile": "instant"}


def _sim_settings(h: Harness, values: dict[str, Any]) -> dict[str, Any]:
    assert h.sim is not None
    request = urllib.request.Request(
        f"{h.sim.endpoint}/moto-api/meshshift/settings",
        method="POST",
        data=json.dumps(values).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        described: dict[str, Any] = json.loads(answer.read() or b"{}")
    return described


def _calls(workers: list[WorkerProcess]) -> dict[str, int]:
    """AWS calls made so far by every worker process, added up."""
    total: Counter[str] = Counter()
    for worker in workers:
        total.update(worker.fresh_calls())
    return dict(total)


async def _trials(
    h: Harness,
    prefix: str,
    trials: int,
    *,
    busy: int,
    settle: float,
    priority_lane: bool = True,
    split: bool = False,
) -> tuple[list[Trial], dict[str, int], dict[str, int], dict[str, int], dict[str, Any]]:
    assert h.sim is not None and h.client is not None
    base = await asyncio.to_thread(seed_base)
    apps = await asyncio.to_thread(seed_apps, base, prefix, trials, edges_for=lambda _i: EDGES)
    twins = await asyncio.to_thread(seed_apps, base, f"{prefix}f", trials, edges_for=lambda _i: EDGES, start=trials)
    others = await asyncio.to_thread(seed_apps, base, f"{prefix}b", busy, edges_for=lambda _i: EDGES, start=2 * trials)
    worker = h.worker(priority_lane=priority_lane, serve="migrations" if split else "all")
    workers = [worker]
    if split:
        # The rollbacks' own process (`meshshift worker --serve compensation`) on the same task queue.
        workers.append(h.worker(priority_lane=priority_lane, serve="compensation", task_queue=worker.task_queue))
    floor = Floor(h.aws_latency_ms)
    probe = await TemporalFloor.start(h.client, probe_task_queue(worker.task_queue))
    busy_handles: list[WorkflowHandle[Any, Any]] = []
    extra: dict[str, Any] = {}
    try:
        handles = [
            await start(h.client, worker.task_queue, spec_for(a, steps=HOLD_STEPS, approval="auto")) for a in apps
        ]
        await asyncio.gather(*(wait_published(handle, weight=25) for handle in handles))
        busy_handles = [
            await start(h.client, worker.task_queue, spec_for(a, steps=BUSY_STEPS, approval="auto")) for a in others
        ]
        # Every busy migration is past provisioning and writing weights before the first alarm.
        await asyncio.gather(*(wait_published(handle, weight=2) for handle in busy_handles))
        results: list[Trial] = []
        calls_before = _calls(workers)
        for app, twin, handle in zip(apps, twins, handles, strict=True):
            await asyncio.sleep(settle)
            results.append(await alarm_trial(handle, app.edge_models(), twin.edge_models(), floor, probe, workers))
        calls_after = _calls(workers)
        await probe.stop()
        if busy_handles:
            # How far the busy migrations got: proof that they were ramping throughout.
            extra["busy_green_weights_at_end"] = [
                next((p.green_weight for p in reversed(await publications(handle)) if p.green_weight is not None), 0)
                for handle in busy_handles
            ]
    finally:
        for handle in busy_handles:
            with contextlib.suppress(Exception):
                await handle.terminate("benchmark over")
        floor.close()
        for each in workers:
            each.stop()
    return results, calls_before, calls_after, dict(floor.rollback_calls), extra


def _report(
    trials: list[Trial],
    before: dict[str, int],
    after: dict[str, int],
    floor_calls: dict[str, int],
    *,
    setup: str,
    goal_ratio: float,
    why: str,
) -> dict[str, Any]:
    n = len(trials)
    out = figures(trials)
    return {
        "setup": setup,
        **out,
        # Worker calls include the busy migrations' under contention: only the floor's are per rollback.
        "aws_calls_worker_total": dict(sorted(_diff(after, before).items())),
        "aws_calls_per_rollback_floor": {k: round(v / n, 1) for k, v in sorted(floor_calls.items())},
        "targets": ratio_targets(out, goal_ratio, why),
    }


async def run_contention(
    h: Harness, trials: int, busy: int, *, priority_lane: bool = True, split: bool = False
) -> dict[str, Any]:
    """``priority_lane=False`` runs the worker's rate limiter without its priority lane: what the
    lane is worth (Temporal task priority still applies). ``split`` runs the rollbacks in a worker
    process of their own (``--serve compensation``) beside one that serves the rest
    (``--serve migrations``)."""
    assert h.sim is not None
    h.sim.reset()
    # One alarm at a time, as in the busy hour this measures: the settle lets the reserved tokens the
    # previous trial's rollback spent come back (4 at 5 calls/s: 0.8 s). The busy migrations keep
    # every other token drained meanwhile, so the ordinary lane stays as busy as it was.
    results, before, after, floor_calls, extra = await _trials(
        h, "rc", trials, busy=busy, settle=SETTLE_SECONDS, priority_lane=priority_lane, split=split
    )
    out = _report(
        results,
        before,
        after,
        floor_calls,
        setup=(
            f"as the rollback benchmark (ALB rule + Route 53 pair + CloudFront hold_at_cap, held at 25%), while {busy} "
            "other migrations on the same worker ramp through 1% steps (auto-approved, no bake) on the same three "
            "mechanisms with the spec's default rate limits (elbv2 10/s, route53 5/s, cloudfront 5/s); alarm signal, "
            "one at a time (1.5 s between trials, the busy migrations ramping on); the floor's trials run under the "
            "same load"
        ),
        goal_ratio=1.5,
        why=(
            "the rollback's calls still share the simulated AWS and the worker's CPU with the busy migrations; "
            "once the limiter's priority reserve is spent, a rollback's further calls on one service come at the "
            "limit's rate (activities/aws.py); the floor has no limiter at all"
        ),
    )
    out["busy_migrations"] = busy
    out["priority_lane"] = priority_lane
    out["worker_processes"] = "split: --serve migrations + --serve compensation" if split else "one, --serve all"
    out.update(extra)
    return out


async def run_realistic(h: Harness, trials: int) -> dict[str, Any]:
    assert h.sim is not None
    h.sim.reset()
    described = _sim_settings(h, REALISTIC)
    try:
        results, before, after, floor_calls, _ = await _trials(h, "rr", trials, busy=0, settle=SETTLE_SECONDS)
    finally:
        _sim_settings(h, INSTANT)
    out = _report(
        results,
        before,
        after,
        floor_calls,
        setup=(
            "as the rollback benchmark, with the simulated AWS on its realistic profile: every call (the worker's, "
            "the floor's and the observer's) answers in 20-60 ms; propagation and ECS timings cut to 1 s"
        ),
        goal_ratio=1.3,
        why=(
            "the floor is the same calls at the same latency; the rest is Temporal's round trips (signal, workflow "
            "task, activity dispatch) and the CloudFront shifter's three reads before its write, made one after "
            "another (see timeline_after_signal_seconds_p50)"
        ),
    )
    out["sim_settings"] = {k: described.get(k) for k in ("profile", "latency", "route53_insync", "cloudfront_deploy")}
    calls = out.pop("aws_calls_worker_total")
    out["aws_calls_per_rollback"] = {
        "worker": {k: round(v / len(results), 1) for k, v in calls.items()},
        "floor": out.pop("aws_calls_per_rollback_floor"),
    }
    return out
