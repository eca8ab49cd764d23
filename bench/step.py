"""Benchmark 2, step overhead: a 5-step ramp (1, 5, 25, 50, 100) with ``bake: 0`` and automatic
approval, on ALB + Route 53.

CloudFront is left out here (its promotion at 100% is a different kind of step); the rollback
benchmark covers it.

A step's time is the interval between two consecutive verified weights as the workflow publishes
them (the ``MeshshiftGreenWeight`` upsert, recorded by the server in the workflow task that
verified the weight by read-back); the first step starts when the ramp phase is published. The
floor of each step, in the same run and interleaved trial by trial: the same shifter calls made
directly with boto3 on a twin app (set, propagation wait, read-back).
Overhead = step time - floor time, per step, per trial.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from bench.common import publications, start, wait_published
from bench.floor import Floor
from bench.harness import Harness
from bench.stats import summary, target
from bench.world import seed_apps, seed_base, spec_for
from meshshift.migration import plan as planning

STEPS = [1, 5, 25, 50, 100]
EDGES = ["alb", "route53"]
TARGET_SECONDS = 0.150


RAISED_RATE = 1000.0


async def run(h: Harness, trials: int) -> dict[str, Any]:
    """Twice: with the spec's default client-side rate limits (what a user gets), and with the edge
    limits raised so that only the orchestration remains above the floor."""
    assert h.sim is not None
    h.sim.reset()
    base = await asyncio.to_thread(seed_base)
    default = await _variant(h, base, trials, "st", 0, None)
    raised = await _variant(h, base, trials, "sr", 2 * trials, RAISED_RATE)
    d, r = default["overhead_seconds"], raised["overhead_seconds"]
    return {
        "setup": (
            "one app per trial (1 blue service), ALB rule + Route 53 weighted pair (CloudFront: see the rollback "
            "benchmark); steps 1,5,25,50,100, bake 0, approval auto; step time between consecutive verified-weight "
            "upserts in the workflow history; run with the spec's default rate limits and with the edge limits "
            f"raised to {RAISED_RATE:g}/s"
        ),
        "trials": trials,
        "default_limits": default,
        "raised_limits": raised,
        "targets": [
            target(
                "step overhead < 150 ms (orchestration: edge rate limits raised)",
                r["p50"] < TARGET_SECONDS,
                f"p50 {r['p50'] * 1000:.0f} ms, p95 {r['p95'] * 1000:.0f} ms",
                "< 150 ms",
                "Temporal round trips (workflow tasks and activity dispatch) on the shared 2-core machine; see "
                "per_step",
            ),
            target(
                "step overhead < 150 ms (spec default rate limits)",
                d["p50"] < TARGET_SECONDS,
                f"p50 {d['p50'] * 1000:.0f} ms, p95 {d['p95'] * 1000:.0f} ms",
                "< 150 ms",
                "Route 53's client-side limit (5 calls/s, AWS's own per-account quota): each step makes 4 "
                "Route 53 calls (set: list + change + get_change; read-back: list), so back-to-back steps take "
                "about 0.8 s each. Real ramps bake for minutes, so the bucket is full at each step and this does "
                "not show.",
            ),
        ],
    }


async def _variant(
    h: Harness, base: Any, trials: int, prefix: str, start_at: int, rate: float | None
) -> dict[str, Any]:
    assert h.client is not None
    apps = await asyncio.to_thread(seed_apps, base, prefix, trials, edges_for=lambda _i: EDGES, start=start_at)
    twins = await asyncio.to_thread(
        seed_apps, base, prefix + "f", trials, edges_for=lambda _i: EDGES, start=start_at + trials
    )
    worker = h.worker()
    floor = Floor(h.aws_latency_ms)
    step_times: list[list[float]] = []
    floor_times: list[list[float]] = []
    try:
        for app, twin in zip(apps, twins, strict=True):
            spec = spec_for(app, steps=STEPS, approval="auto", edge_rate=rate)
            handle = await start(h.client, worker.task_queue, spec)
            await wait_published(handle, weight=100)
            await handle.terminate("bench: the ramp is what was measured")
            marks = await publications(handle)
            ramp_start = next(p.time for p in marks if p.phase == "ramping")
            verified = {p.green_weight: p.time for p in marks if p.green_weight}
            times = [ramp_start, *(verified[s] for s in STEPS)]
            step_times.append([(b - a).total_seconds() for a, b in itertools.pairwise(times)])
            edges = twin.edge_models()
            floor_times.append(
                [
                    await asyncio.to_thread(floor.set_weights, edges, [planning.weights_for(e, s) for e in edges])
                    for s in STEPS
                ]
            )
    finally:
        floor.close()
        worker.stop()
    overhead = [s - f for st, ft in zip(step_times, floor_times, strict=True) for s, f in zip(st, ft, strict=True)]
    per_step = {
        str(step): {
            "step_seconds": summary([st[i] for st in step_times]),
            "floor_seconds": summary([ft[i] for ft in floor_times]),
            "overhead_seconds": summary([st[i] - ft[i] for st, ft in zip(step_times, floor_times, strict=True)]),
        }
        for i, step in enumerate(STEPS)
    }
    return {
        "edge_rate_limits": "spec defaults (elbv2 10/s, route53 5/s)" if rate is None else f"{rate:g}/s",
        "overhead_seconds": summary(overhead),
        "step_seconds": summary([s for st in step_times for s in st]),
        "floor_seconds": summary([f for ft in floor_times for f in ft]),
        "per_step": per_step,
    }
