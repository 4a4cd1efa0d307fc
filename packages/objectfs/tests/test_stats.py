"""FsCounters and format_stats: ratios, JSON shape, and the printed table."""

from __future__ import annotations

import json
import time

import pytest

from objectfs.stats import FsCounters, format_stats
from opsmetrics.testing import MetricsRecorder


def counters() -> FsCounters:
    stats = FsCounters(
        l1_hits=6,
        l2_hits=2,
        misses=2,
        bytes_read=3 * 1024 * 1024,
        bytes_fetched=1536,
        bytes_written=0,
        started=time.monotonic() - 2.0,
    )
    stats.request("GET", 2)
    stats.request("HEAD")
    return stats


def test_request_cost_at_standard_list_prices() -> None:
    # us-east-1 STANDARD: PUT, COPY, POST, LIST $0.005 per 1,000; GET and the rest $0.0004
    # per 1,000; DELETE free (aws.amazon.com/s3/pricing, "Requests & data retrievals").
    stats = FsCounters()
    for kind, count in {"PUT": 300, "COPY": 100, "LIST": 600, "GET": 2000, "HEAD": 500}.items():
        stats.request(kind, count)
    stats.request("DELETE", 10_000)
    cost = stats.snapshot()["request_cost"]
    assert cost["usd"] == pytest.approx(1000 * 0.005 / 1000 + 2500 * 0.0004 / 1000)  # $0.006
    assert (cost["storage_class"], cost["region"]) == ("STANDARD", "us-east-1")
    assert FsCounters().snapshot()["request_cost"]["usd"] == 0


def test_snapshot_ratios_and_totals() -> None:
    snap = counters().snapshot()
    assert snap["cache"] == {
        "lookups": 10,
        "l1": {"hits": 6, "ratio": 0.6},
        "l2": {"hits": 2, "ratio": 0.5},  # 2 of the 4 lookups that missed L1
        "misses": 2,
        "hit_ratio": 0.8,
    }
    assert snap["bytes"] == {"read": 3 * 1024 * 1024, "fetched": 1536, "written": 0, "staged": 0}
    assert snap["operations"] == {}
    assert snap["requests"] == {"HEAD": 1, "GET": 2, "PUT": 0, "LIST": 0, "COPY": 0, "DELETE": 0}
    assert 2.0 <= snap["uptime_seconds"] < 60
    assert json.loads(json.dumps(snap)) == snap


def test_ratios_are_none_before_any_lookup() -> None:
    snap = FsCounters().snapshot()
    assert snap["cache"]["l1"]["ratio"] is None
    assert snap["cache"]["l2"]["ratio"] is None
    assert snap["cache"]["hit_ratio"] is None
    assert "-" in format_stats(snap)


def test_unknown_request_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="'POST'"):
        FsCounters().request("POST")


def test_table_is_aligned_and_shows_each_figure() -> None:
    snap = counters().snapshot()
    snap["uptime_seconds"] = 2.0  # fixed, for exact throughput figures
    lines = format_stats(snap).splitlines()
    table = dict(line.split("  ", 1) for line in lines)
    assert {k.strip(): v.strip() for k, v in table.items()} == {
        "uptime": "2.0 s",
        "cache L1 hits": "6 (60.0%)",
        "cache L2 hits": "2 (50.0% of L1 misses)",
        "cache misses": "2",
        "cache hit ratio": "80.0%",
        "bytes read": "3.0 MiB, 1.5 MiB/s",
        "bytes fetched from S3": "1.5 KiB, 768 B/s",
        "bytes written to S3": "0 B, 0 B/s",
        "S3 HEAD requests": "1",
        "S3 GET requests": "2",
        "S3 PUT requests": "0",
        "S3 LIST requests": "0",
        "S3 COPY requests": "0",
        "S3 DELETE requests": "0",
        "estimated request cost": "$0.000001 (S3 STANDARD list prices, us-east-1, as of "
        f"{snap['request_cost']['prices_as_of']})",
    }
    value_columns = {len(line) - len(line[line.index("  ") :].lstrip()) for line in lines}
    assert len(value_columns) == 1


def test_each_count_reaches_opsmetrics_once() -> None:
    with MetricsRecorder() as recorder:
        stats = FsCounters(metrics=recorder.metrics)
        for _ in range(3):
            stats.l1_hit()
        stats.l2_hit()
        stats.miss(l2_checked=True)
        stats.miss(l2_checked=False)  # no L2 cache: only L1 was asked
        stats.add_read(4096)
        stats.add_read(10)
        stats.add_staged(7)
        stats.add_fetched(2048)  # recorded by the S3 store itself, not here
        stats.add_written(99)
        stats.request("GET")
        stats.operation("read", 0.0002)
        stats.operation("lookup", 0.003, "ENOENT")
        stats.operation("lookup", 0.001)
        snap = recorder.snapshot()
    assert snap["objectfs.cache.lookups"] == {
        "objectfs.cache.level=l1,objectfs.cache.result=hit": 3,
        "objectfs.cache.level=l1,objectfs.cache.result=miss": 3,
        "objectfs.cache.level=l2,objectfs.cache.result=hit": 1,
        "objectfs.cache.level=l2,objectfs.cache.result=miss": 1,
    }
    assert snap["objectfs.io"] == {
        "objectfs.io.direction=read": 4106,
        "objectfs.io.direction=write": 7,
    }
    durations = snap["objectfs.operation.duration"]
    assert set(durations) == {
        "objectfs.operation=read",
        "objectfs.operation=lookup",
        "error.type=ENOENT,objectfs.operation=lookup",
    }
    failed = durations["error.type=ENOENT,objectfs.operation=lookup"]
    assert isinstance(failed, dict)
    assert (failed["count"], failed["sum"]) == (1, 0.003)
    assert set(snap) == {"objectfs.cache.lookups", "objectfs.io", "objectfs.operation.duration"}
    # The counters themselves, as ``objectfs stats`` shows them.
    assert (stats.l1_hits, stats.l2_hits, stats.misses) == (3, 1, 2)
    assert (stats.bytes_read, stats.bytes_staged) == (4106, 7)
    assert (stats.bytes_fetched, stats.bytes_written) == (2048, 99)


def test_operations_in_snapshot_and_table() -> None:
    stats = FsCounters()
    stats.operation("read", 0.002)
    stats.operation("read", 0.004)
    stats.operation("getattr", 0.0005, "ENOENT")
    snap = stats.snapshot()
    assert snap["operations"] == {
        "getattr": {"count": 1, "errors": 1, "expected": 0, "seconds": 0.0005},
        "read": {"count": 2, "errors": 0, "expected": 0, "seconds": pytest.approx(0.006)},
    }
    lines = format_stats(snap).splitlines()
    assert [line.split("  ", 1)[0] for line in lines[-2:]] == [
        "operation getattr",
        "operation read",
    ]
    assert lines[-1].split("  ", 1)[1].strip() == "2 (0 failed), mean 3.00 ms"
    assert lines[-2].split("  ", 1)[1].strip() == "1 (1 failed), mean 0.50 ms"


def test_expected_answers_are_counted_apart_from_failures() -> None:
    """What cp -r provokes (security.* and absent user.* attributes, absent names) is an
    answer, not a failure; the same errno from another operation still is one."""
    stats = FsCounters()
    stats.operation("getxattr", 0.001, "ENODATA")
    stats.operation("getxattr", 0.001, "ENOTSUP")
    stats.operation("getxattr", 0.001, "EIO")
    stats.operation("lookup", 0.001, "ENOENT")
    stats.operation("setxattr", 0.001, "ENOSPC")
    stats.operation("open", 0.001, "ENOENT")
    operations = stats.snapshot()["operations"]
    counts = {name: (op["count"], op["errors"], op["expected"]) for name, op in operations.items()}
    assert counts == {
        "getxattr": (3, 1, 2),
        "lookup": (1, 0, 1),
        "setxattr": (1, 1, 0),
        "open": (1, 1, 0),
    }
    rows = dict(line.split("  ", 1) for line in format_stats(stats.snapshot()).splitlines())
    assert rows["operation getxattr"].strip() == "3 (1 failed, 2 expected errors), mean 1.00 ms"
    assert rows["operation open"].strip() == "1 (1 failed), mean 1.00 ms"
