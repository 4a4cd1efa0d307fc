"""JSON-ready snapshots of an SDK reader's current values, for ``--stats`` and ``--json``.

Shape (every key a string, every value a JSON number, list or object)::

    {
      "<metric name>": {
        "<attribute set>": <counter sum | gauge last value>,
        "<attribute set>": {"count": n, "sum": s, "min": a, "max": b,
                            "bounds": [b0, ..., bk], "counts": [c0, ..., ck+1]},
      },
    }

An attribute set is written ``key=value`` pairs sorted by key and joined by
``,`` (``""`` for no attributes); booleans are ``true``/``false``. Histogram
``counts`` are per bucket, not cumulative: ``counts[i]`` holds the values in
``(bounds[i-1], bounds[i]]`` and the last one those above ``bounds[-1]``, as in
OpenTelemetry's explicit-bucket histogram data point (so no JSON-hostile
infinity appears). Only metrics with at least one recorded value are present.

This module needs the SDK (``opsmetrics[sdk]``); it is imported only by setup
paths and ``opsmetrics.testing``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias, TypedDict

from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    HistogramDataPoint,
    MetricsData,
    Sum,
)

__all__ = ["HistogramSnapshot", "Snapshot", "attribute_set_key", "snapshot_of"]


class HistogramSnapshot(TypedDict):
    """A histogram's current state for one attribute set."""

    count: int
    sum: float
    min: float
    max: float
    bounds: list[float]
    counts: list[int]


Snapshot: TypeAlias = dict[str, dict[str, int | float | HistogramSnapshot]]
"""Metric name -> attribute set key -> value (see the module docstring)."""


def attribute_set_key(attributes: Mapping[str, object]) -> str:
    """The snapshot key for one attribute set: ``k1=v1,k2=v2`` sorted by key."""
    return ",".join(f"{key}={_text(attributes[key])}" for key in sorted(attributes))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_text(item) for item in value) + "]"
    return str(value)


def snapshot_of(data: MetricsData | None) -> Snapshot:
    """Turn one collection of an SDK reader into a ``Snapshot``.

    Expects cumulative temporality (the SDK readers' default), so that counter
    values are totals since start. Metrics of the same name from several
    instrumentation scopes are merged by attribute set.
    """
    result: Snapshot = {}
    if data is None:
        return result
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                points = result.setdefault(metric.name, {})
                if isinstance(metric.data, Sum | Gauge):
                    for number in metric.data.data_points:
                        points[attribute_set_key(number.attributes or {})] = number.value
                elif isinstance(metric.data, Histogram):
                    for point in metric.data.data_points:
                        points[attribute_set_key(point.attributes or {})] = _histogram(point)
                if not points:
                    del result[metric.name]
    return result


def _histogram(point: HistogramDataPoint) -> HistogramSnapshot:
    return {
        "count": point.count,
        "sum": point.sum,
        "min": point.min,
        "max": point.max,
        "bounds": [float(bound) for bound in point.explicit_bounds],
        "counts": list(point.bucket_counts),
    }
