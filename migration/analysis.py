"""Verdicts on measured traffic, as pure functions.

A count metric with no datapoints means zero requests, so "no data" and "too little traffic to
judge" are the same case: fewer green requests than ``min_request_count``. What that case
concludes is the spec's ``on_no_data``. A latency threshold with no latency figure is judged the
same way. The relative latency check needs blue's p99: when blue has none (it is nearly idle late
in the ramp) that check is skipped and the reasons say so, rather than failing green for blue's
silence.
"""

from __future__ import annotations

from meshshift.migration.contracts import AnalysisVerdict, MetricsSnapshot, TrafficFigures, Verdict
from meshshift.migration.spec import AnalysisSpec, DrainSpec, NoDataAction

_NO_DATA_VERDICT = {
    NoDataAction.PASS: Verdict.PASS,
    NoDataAction.FAIL: Verdict.FAIL,
    NoDataAction.INCONCLUSIVE: Verdict.INCONCLUSIVE,
}


def merged(snapshots: list[MetricsSnapshot]) -> MetricsSnapshot:
    """One snapshot of the same window from snapshots of disjoint sources (collected in batches),
    combined as collect_metrics combines its own sources: counts add up, the worst p99 stands."""
    first = snapshots[0]
    notes = list(dict.fromkeys(note for snapshot in snapshots for note in snapshot.notes))
    return first.model_copy(
        update={
            "green": _merged_figures([s.green for s in snapshots]),
            "blue": _merged_figures([s.blue for s in snapshots]),
            "notes": notes,
        }
    )


def _merged_figures(figures: list[TrafficFigures]) -> TrafficFigures:
    latencies = [f.p99_ms for f in figures if f.p99_ms is not None]
    connections = [f.active_connections for f in figures if f.active_connections is not None]
    return TrafficFigures(
        requests=sum(f.requests for f in figures),
        errors_5xx=sum(f.errors_5xx for f in figures),
        p99_ms=max(latencies) if latencies else None,
        active_connections=sum(connections) if connections else None,
    )


def _worst(verdicts: list[Verdict]) -> Verdict:
    if Verdict.FAIL in verdicts:
        return Verdict.FAIL
    if Verdict.INCONCLUSIVE in verdicts:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def judge(snapshot: MetricsSnapshot, thresholds: AnalysisSpec) -> AnalysisVerdict:
    """pass / fail / inconclusive for green, with the numbers and reasons behind it."""
    green, blue = snapshot.green, snapshot.blue
    no_data = _NO_DATA_VERDICT[thresholds.on_no_data]
    reasons: list[str] = []
    verdicts: list[Verdict] = []

    if green.requests < thresholds.min_request_count:
        reasons.append(
            f"green served {green.requests:g} requests in the window, fewer than min_request_count "
            f"{thresholds.min_request_count}: no verdict from the numbers, on_no_data is {thresholds.on_no_data.value}"
        )
        return AnalysisVerdict(verdict=no_data, reasons=reasons, snapshot=snapshot, thresholds=thresholds)

    rate = green.errors_5xx / green.requests if green.requests > 0 else 0.0
    if rate > thresholds.max_5xx_rate:
        verdicts.append(Verdict.FAIL)
        reasons.append(
            f"green 5xx rate {rate:.4%} ({green.errors_5xx:g} of {green.requests:g}) is above max_5xx_rate "
            f"{thresholds.max_5xx_rate:.4%}"
        )
    else:
        verdicts.append(Verdict.PASS)
        reasons.append(f"green 5xx rate {rate:.4%} is within max_5xx_rate {thresholds.max_5xx_rate:.4%}")

    latency_checked = thresholds.max_p99_latency_ms is not None or thresholds.max_p99_latency_ratio_to_blue is not None
    if latency_checked and green.p99_ms is None:
        verdicts.append(no_data)
        reasons.append(f"green has no p99 latency figure: on_no_data is {thresholds.on_no_data.value}")
    elif green.p99_ms is not None:
        if thresholds.max_p99_latency_ms is not None:
            if green.p99_ms > thresholds.max_p99_latency_ms:
                verdicts.append(Verdict.FAIL)
                reasons.append(
                    f"green p99 {green.p99_ms:g} ms is above max_p99_latency_ms {thresholds.max_p99_latency_ms:g}"
                )
            else:
                verdicts.append(Verdict.PASS)
                reasons.append(
                    f"green p99 {green.p99_ms:g} ms is within max_p99_latency_ms {thresholds.max_p99_latency_ms:g}"
                )
        ratio = thresholds.max_p99_latency_ratio_to_blue
        if ratio is not None:
            if blue.p99_ms is None or blue.p99_ms <= 0:
                reasons.append("blue has no p99 latency figure: the latency check relative to blue is skipped")
            elif green.p99_ms > ratio * blue.p99_ms:
                verdicts.append(Verdict.FAIL)
                reasons.append(
                    f"green p99 {green.p99_ms:g} ms is above {ratio:g} x blue's {blue.p99_ms:g} ms "
                    f"(max_p99_latency_ratio_to_blue)"
                )
            else:
                verdicts.append(Verdict.PASS)
                reasons.append(f"green p99 {green.p99_ms:g} ms is within {ratio:g} x blue's {blue.p99_ms:g} ms")

    return AnalysisVerdict(verdict=_worst(verdicts), reasons=reasons, snapshot=snapshot, thresholds=thresholds)


def blue_is_idle(snapshot: MetricsSnapshot, drain: DrainSpec) -> bool:
    """True when blue's requests (and connections, where measured) are at or under the idle threshold."""
    blue = snapshot.blue
    if blue.requests > drain.idle_threshold:
        return False
    return blue.active_connections is None or blue.active_connections <= drain.idle_threshold
