"""moto extensions for CloudWatch: percentile statistics in GetMetricData, and two fixes to how
moto matches stored datapoints to a query.

What moto 5.2.5 gets wrong for meshshift's calls (checked by the tests in
tests/activities/test_metrics.py, in-process and in server mode):

- ``Stat: "p99"`` (any ``pNN``/``pNN.N``) makes GetMetricData crash while serialising the
  response: moto's statistics helper returns ``None`` for anything but Sum/Average/Minimum/
  Maximum/SampleCount. Here a percentile is computed over the raw values stored in the period
  (nearest-rank). Like real CloudWatch, values sent only as a ``StatisticValues`` set have no
  percentile; a period with nothing to compute from returns no datapoint instead of crashing.
- moto sorts dimension lists with a broken ``Dimension.__lt__`` before comparing them, so a query
  whose dimensions are listed in another order than the ``put_metric_data`` call may match
  nothing. Real CloudWatch treats dimensions as a set.
- When a query has dimensions, moto forgets to match the namespace, so ``AWS/ECS`` and
  ``AWS/ApplicationELB`` series with the same metric name and dimensions would be mixed.

Metric math still returns what moto returns (often nothing); meshshift does not use it.
This is a test and demo double; activities never take a code path special to it.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d+)?|100)$")
_namespace_filter = threading.local()


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile: the smallest stored value with at least pct% of values <= it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def parse_percentile(stat: str) -> float | None:
    match = _PERCENTILE.match(stat)
    return float(match.group(1)) if match else None


@contextmanager
def _only_namespace(namespace: str) -> Iterator[None]:
    _namespace_filter.value = namespace
    try:
        yield
    finally:
        _namespace_filter.value = None


def install() -> None:
    from moto.cloudwatch import models

    statistics_cls: Any = models.Statistics
    dimension_cls: Any = models.Dimension
    backend_cls: Any = models.CloudWatchBackend

    original_stat: Callable[..., Any] = statistics_cls.get_statistics_for_type

    def get_statistics_for_type(self: Any, stat: str) -> Any:
        pct = parse_percentile(stat)
        if pct is None:
            return original_stat(self, stat)
        # Only raw values carry a distribution; StatisticValues sets do not (as in CloudWatch).
        return percentile([float(v) for v in self.metric_single_values_list], pct)

    statistics_cls.get_statistics_for_type = get_statistics_for_type

    def dimension_lt(self: Any, other: Any) -> bool:
        return (str(self.name), str(self.value)) < (str(other.name), str(other.value))

    dimension_cls.__lt__ = dimension_lt

    original_all_metrics: Callable[..., Any] = backend_cls.get_all_metrics

    def get_all_metrics(self: Any) -> Any:
        metrics = original_all_metrics(self)
        namespace = getattr(_namespace_filter, "value", None)
        if namespace is None:
            return metrics
        return [m for m in metrics if m.namespace == namespace]

    backend_cls.get_all_metrics = get_all_metrics

    original_get_metric_data: Callable[..., Any] = backend_cls.get_metric_data

    def get_metric_data(self: Any, queries: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        if all("MetricStat" in q for q in queries):
            # One query at a time, each seeing only its own namespace's datapoints.
            results: list[dict[str, Any]] = []
            for query in queries:
                with _only_namespace(query["MetricStat"]["Metric"]["Namespace"]):
                    results.extend(original_get_metric_data(self, [query], *args, **kwargs))
        else:
            # Metric math needs every query's series together; keep moto's own behaviour.
            results = original_get_metric_data(self, queries, *args, **kwargs)
        for result in results:
            pairs = [(t, v) for t, v in zip(result["timestamps"], result["values"], strict=True) if v is not None]
            result["timestamps"] = [t for t, _ in pairs]
            result["values"] = [v for _, v in pairs]
        return results

    backend_cls.get_metric_data = get_metric_data
