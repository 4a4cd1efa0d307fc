"""FsCounters and format_stats: ratios, JSON shape, and the printed table."""

from __future__ import annotations

import json
import time

import pytest

from objectfs.stats import FsCounters, format_stats


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
    assert snap["bytes"] == {"read": 3 * 1024 * 1024, "fetched": 1536, "written": 0}
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
