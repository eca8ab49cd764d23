"""``python -m bench`` (``make bench``): run the benchmarks, print a table, write the results.

    python -m bench                          # everything, full scale (about 10-15 minutes)
    python -m bench --only rollback,step     # some of them
    python -m bench --quick                  # small scale, a minute or two (writes bench/results-quick.json)
    python -m bench --aws-latency 30         # add 30 ms to every AWS call of the worker and of the floor
    python -m bench --only rollback_contention --busy 50   # the alarm while 50 other migrations ramp

Results of the benchmarks run are merged into the output file (default ``bench/results.json``),
together with the machine and versions they ran on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
from rich.console import Console
from rich.table import Table

from bench import large, many, rollback, rollback_more, step
from bench import scale as workflow_scale
from bench.harness import Harness
from meshshift.workers.embedded_server import find_temporal_binary

BENCHMARKS = (
    "rollback",
    "rollback_contention",
    "rollback_contention_no_lane",
    "rollback_contention_split",
    "rollback_realistic",
    "step",
    "large",
    "large_mesh",
    "many",
    "scale",
)
RESULTS = Path(__file__).with_name("results.json")
QUICK_RESULTS = Path(__file__).with_name("results-quick.json")

NOT_MODELLED = (
    "The simulated AWS (moto + meshshift's extensions) runs on its instant profile here: ECS still starts and "
    "registers tasks and targets still drain, but every such change lands at once and calls answer in about a "
    "millisecond on loopback, so the figures are meshshift's own overhead. Left out: AWS API latency (tens of "
    "ms per call; use --aws-latency), Route 53 propagation (INSYNC at once; real changes take up to ~60 s and "
    "DNS caches hold old answers for the TTL), CloudFront deployment time (minutes on AWS), health checks and "
    "draining time, AWS-side throttling and ECS task start-up (`meshshift sim --profile realistic` has them). "
    "The Temporal server is the single-process dev server with SQLite on local disk, not a production cluster."
)


def machine(aws_latency_ms: float) -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    try:
        temporal_cli = subprocess.run(
            [str(find_temporal_binary()), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
    except Exception as err:
        temporal_cli = f"unavailable: {err}"
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "temporalio": metadata.version("temporalio"),
        "boto3": metadata.version("boto3"),
        "moto": metadata.version("moto"),
        "temporal_cli": temporal_cli,
        "aws_latency_ms": aws_latency_ms,
        "not_modelled": NOT_MODELLED,
    }


def scale(quick: bool, busy: int | None = None) -> dict[str, Any]:
    if quick:
        sizes = {
            "rollback": 5,
            "rollback_contention": 3,
            "rollback_contention_no_lane": 3,
            "rollback_contention_split": 3,
            "busy": 5,
            "rollback_realistic": 3,
            "step": 3,
            "large": [10, 50],
            "many": [1, 10],
            "scale": [50, 500],
            "ecs_rate": 50.0,
        }
    else:
        sizes = {
            "rollback": 30,
            "rollback_contention": 20,
            "rollback_contention_no_lane": 20,
            "rollback_contention_split": 20,
            "busy": 50,
            "rollback_realistic": 20,
            "step": 10,
            "large": [50, 200, 500],
            "many": [1, 10, 50, 100],
            "scale": [50, 500, 2000, 5000],
            "ecs_rate": 50.0,
        }
    if busy is not None:
        sizes["busy"] = busy
    return sizes


async def run(
    selected: list[str],
    quick: bool,
    aws_latency_ms: float,
    busy: int | None = None,
    trials: int | None = None,
    counts: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    sizes = scale(quick, busy) | (counts or {})
    if trials is not None:
        sizes |= {name: trials for name in BENCHMARKS if name.startswith("rollback")}
    harness = Harness(aws_latency_ms=aws_latency_ms)
    out: dict[str, Any] = {}
    await harness.start()
    try:
        for name in selected:
            began = time.monotonic()
            print(f"running {name} ...", file=sys.stderr, flush=True)
            if name == "rollback":
                result = await rollback.run(harness, sizes["rollback"])
            elif name == "rollback_contention":
                result = await rollback_more.run_contention(harness, sizes["rollback_contention"], sizes["busy"])
            elif name == "rollback_contention_no_lane":
                result = await rollback_more.run_contention(
                    harness, sizes["rollback_contention_no_lane"], sizes["busy"], priority_lane=False
                )
            elif name == "rollback_contention_split":
                result = await rollback_more.run_contention(
                    harness, sizes["rollback_contention_split"], sizes["busy"], split=True
                )
            elif name == "rollback_realistic":
                result = await rollback_more.run_realistic(harness, sizes["rollback_realistic"])
            elif name == "step":
                result = await step.run(harness, sizes["step"])
            elif name in ("large", "large_mesh"):
                result = await large.run(harness, sizes["large"], sizes["ecs_rate"], mesh=name == "large_mesh")
            elif name == "scale":
                result = await workflow_scale.run(harness, sizes["scale"])
            else:
                result = await many.run(harness, sizes["many"])
            result["bench_seconds"] = round(time.monotonic() - began, 1)
            result["quick"] = quick
            # The machine is shared: a high load average means other work competed for the CPUs.
            result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
            out[name] = result
    finally:
        harness.stop()
    return out


def table(results: dict[str, Any]) -> Table:
    grid = Table(title="meshshift benchmarks")
    for column in ("benchmark", "figure", "value"):
        grid.add_column(column)
    for name, result in results.items():
        for label, value in headline(name, result):
            grid.add_row(name, label, value)
        for verdict in result.get("targets", []):
            style = "green" if verdict["result"] == "pass" else "red"
            grid.add_row(
                name, f"target: {verdict['target']}", f"[{style}]{verdict['result']}[/] ({verdict['measured']})"
            )
    return grid


def _ms(summary: dict[str, Any]) -> str:
    if not summary.get("n"):
        return "n/a"
    return " / ".join(f"{summary[k] * 1000:.0f}" for k in ("p50", "p95", "p99")) + " ms (p50/p95/p99)"


def _ratios(ratio: dict[str, float]) -> str:
    return " / ".join(f"{ratio[k]:.2f}x" for k in ("p50", "p95", "p99"))


def headline(name: str, r: dict[str, Any]) -> list[tuple[str, str]]:
    if name.startswith("rollback"):
        if name == "rollback":
            where, load = "", ""
        elif name == "rollback_realistic":
            where, load = " (20-60 ms per call)", ", same load"
        else:
            lane = "on" if r["priority_lane"] else "off"
            where, load = f" ({r['busy_migrations']} migrations ramping, priority lane {lane})", ", same load"
        return [
            (f"signal -> every mechanism reads 100% blue{where}", _ms(r["reaction_seconds"])),
            (f"floor (same calls, direct boto3{load})", _ms(r["floor_observed_seconds"])),
            ("ratio to floor", _ratios(r["ratio_to_floor"])),
            ("Temporal's own floor (signal -> a local activity)", _ms(r["temporal_minimum_seconds"])),
            ("ratio to floor + Temporal's floor", _ratios(r["ratio_to_floor_plus_temporal_minimum"])),
            ("signal -> rolled back (verified)", _ms(r["rolled_back_seconds"])),
        ]
    if name == "step":
        rows = []
        for key in ("raised_limits", "default_limits"):
            v = r[key]
            rows.append((f"step time, {v['edge_rate_limits']}", _ms(v["step_seconds"])))
            rows.append((f"step overhead over floor, {v['edge_rate_limits']}", _ms(v["overhead_seconds"])))
        return rows
    if name in ("large", "large_mesh"):
        return [
            (
                f"N={row['services']}",
                f"FAILED after {row['wall_seconds']:.1f} s: {row['error']} "
                f"(last phase {row.get('last_status', {}).get('phase')})"
                if "error" in row
                else f"{row['wall_seconds']:.1f} s vs bound {row['rate_bound_seconds']:.1f} s "
                f"({row['wall_over_bound']:.2f}x), "
                f"{row['aws_calls']} calls, {row['history_events_per_service']} events/service, "
                f"history {row['history_bytes'] / 2**20:.2f} MB, RSS {row['worker_peak_rss_mb']} MB",
            )
            for row in r["runs"]
        ]
    if name == "scale":
        return [
            (
                f"N={row['services']}",
                f"{row['wall_seconds']:.1f} s to the first gate, {row['history_events_per_service']} events/service, "
                f"largest payload {row['largest_event_bytes']:,} B ({row['largest_event']}), continue-as-new input "
                f"{row['continue_as_new_input_bytes']:,} B, status {row['status_query_bytes']:,} B"
                if row["completed"]
                else f"did not reach the first gate: {row['error']}",
            )
            for row in r["runs"]
        ]
    return [
        (
            f"{row['migrations']} migrations",
            f"{row['ramp_steps_per_second']} steps/s, approval->verified {_ms(row['approval_to_verified_seconds'])}, "
            f"worker {row['worker_cpu_cores']} cores / {row['worker_peak_rss_mb']} MB, "
            f"{row.get('worker_cpu_ms_per_step')} ms CPU per step, "
            f"missed {row['missed_approvals']}, stalled {row['stalled']}",
        )
        for row in r["rounds"]
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help=f"comma-separated subset of {','.join(BENCHMARKS)}"
    )
    parser.add_argument("--quick", action="store_true", help="small scale (a smoke run, not figures to publish)")
    parser.add_argument("--aws-latency", type=float, default=0.0, metavar="MS", help="artificial latency per AWS call")
    parser.add_argument("--output", type=Path, default=None, help="results file (merged into if it exists)")
    parser.add_argument(
        "--busy", type=int, default=None, help="rollback_contention: migrations ramping meanwhile (default 50)"
    )
    parser.add_argument("--trials", type=int, default=None, help="trials of each rollback benchmark")
    parser.add_argument(
        "--scale-sizes", default=None, help="scale: comma-separated service counts (default 50,500,2000,5000)"
    )
    parser.add_argument(
        "--large-sizes",
        default=None,
        help="large: comma-separated service counts, e.g. 50,500,2000,5000 (default 50,200,500)",
    )
    parser.add_argument(
        "--many-sizes",
        default=None,
        help="many: comma-separated numbers of concurrent migrations, e.g. 100 (default 1,10,50,100)",
    )
    args = parser.parse_args(argv)
    selected = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(selected) - set(BENCHMARKS))
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {unknown}; expected a comma-separated subset of {list(BENCHMARKS)}")
    output: Path = args.output or (QUICK_RESULTS if args.quick else RESULTS)
    # SIGTERM stops the run like Ctrl-C, so the harness stops the processes it started.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    info = machine(args.aws_latency)
    counts = {
        name: [int(n) for n in given.split(",")]
        for name, given in (("large", args.large_sizes), ("many", args.many_sizes), ("scale", args.scale_sizes))
        if given
    }
    results = asyncio.run(run(selected, args.quick, args.aws_latency, args.busy, args.trials, counts))
    existing: dict[str, Any] = {}
    if output.exists():
        try:
            existing = json.loads(output.read_text())
        except json.JSONDecodeError:
            existing = {}
    benchmarks = existing.get("benchmarks", {})
    for name, result in results.items():
        benchmarks[name] = {"machine": info, **result}
    output.write_text(json.dumps({"machine": info, "benchmarks": benchmarks}, indent=2) + "\n")
    Console().print(table(results))
    print(f"results written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
