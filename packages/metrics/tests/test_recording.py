"""The ``Metrics`` facade records exact values through an explicit SDK provider
(``opsmetrics.testing.MetricsRecorder``); nothing global is touched."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import pytest

from opsmetrics import Metrics, MetricSpec, catalog
from opsmetrics.catalog import MetricKind
from opsmetrics.testing import MetricsRecorder

GET = "http.response.status_code=200,rpc.method=GetObject"


@pytest.fixture
def recorder() -> Iterator[MetricsRecorder]:
    with MetricsRecorder() as recorder:
        yield recorder


def test_s3_requests_count_and_histogram_buckets(recorder: MetricsRecorder) -> None:
    durations = [0.0005, 0.001, 0.003, 0.2, 0.2, 45.0, 120.0]
    for duration in durations:
        recorder.metrics.s3_request(operation="GetObject", status_code=200, duration=duration)
    recorder.metrics.s3_request(operation="PutObject", duration=30.0, error_type="TimeoutError")

    snap = recorder.snapshot()
    assert snap["s3opt.requests"] == {GET: 7, "error.type=TimeoutError,rpc.method=PutObject": 1}
    histogram = snap["s3opt.request.duration"][GET]
    assert isinstance(histogram, dict)
    assert histogram["bounds"] == list(catalog.S3_REQUEST_DURATION_BUCKETS)
    # Buckets are (previous, bound], OTel's explicit-bucket rule: 0.001 lands in the first,
    # 0.2 in (0.1, 0.25], 45 in (30, 60], 120 in the overflow bucket.
    assert histogram["counts"] == [2, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 1]
    assert histogram["count"] == 7
    assert histogram["sum"] == pytest.approx(165.4045)
    assert (histogram["min"], histogram["max"]) == (0.0005, 120.0)
    put = snap["s3opt.request.duration"]["error.type=TimeoutError,rpc.method=PutObject"]
    assert isinstance(put, dict)
    assert put["counts"][catalog.S3_REQUEST_DURATION_BUCKETS.index(30.0)] == 1


def test_transfer_throughput_and_window(recorder: MetricsRecorder) -> None:
    m = recorder.metrics
    m.s3_transfer(direction="transmit", nbytes=5 * 2**20)
    m.s3_transfer(direction="transmit", nbytes=3)
    m.s3_transfer(direction="receive", nbytes=1000)
    m.s3_throughput(direction="receive", bytes_per_second=1.5e6)
    m.s3_throughput(direction="receive", bytes_per_second=2.5e6)  # a gauge keeps the last
    m.congestion_window(controller="bbr", nbytes=64_000)
    m.inflight(controller="bbr", requests=4, nbytes=20 * 2**20)
    m.inflight(controller="bbr", requests=2, nbytes=10 * 2**20)

    snap = recorder.snapshot()
    assert snap["s3opt.io"] == {
        "network.io.direction=transmit": 5 * 2**20 + 3,
        "network.io.direction=receive": 1000,
    }
    assert snap["s3opt.throughput"] == {"network.io.direction=receive": 2.5e6}
    assert snap["s3opt.congestion_window"] == {"s3opt.controller=bbr": 64_000}
    assert snap["s3opt.request.inflight"] == {"s3opt.controller=bbr": 2}
    assert snap["s3opt.request.inflight.size"] == {"s3opt.controller=bbr": 10 * 2**20}


def test_retries_throttles_cache_fs_and_archive(recorder: MetricsRecorder) -> None:
    m = recorder.metrics
    for _ in range(3):
        m.s3_retry(operation="UploadPart", reason="SlowDown")
    m.s3_retry(operation="GetObject", reason="ConnectionResetError")
    m.s3_throttle(operation="UploadPart", reason="SlowDown")
    for hit in (True, True, False):
        m.cache_lookup(level="l1", hit=hit)
    m.cache_lookup(level="l2", hit=True)
    m.fs_operation(operation="read", duration=0.00005)
    m.fs_operation(operation="lookup", duration=0.002, error_type="ENOENT")
    m.fs_io(direction="read", nbytes=4096)
    m.fs_io(direction="read", nbytes=100)
    m.fs_io(direction="write", nbytes=7)
    m.archive_input(1000)
    m.archive_input(24)
    m.archive_stored(300, codec="zstd")
    m.archive_deduplicated(512)

    snap = recorder.snapshot()
    assert snap["s3opt.retries"] == {
        "error.type=SlowDown,rpc.method=UploadPart": 3,
        "error.type=ConnectionResetError,rpc.method=GetObject": 1,
    }
    assert snap["s3opt.throttles"] == {"error.type=SlowDown,rpc.method=UploadPart": 1}
    assert snap["objectfs.cache.lookups"] == {
        "objectfs.cache.level=l1,objectfs.cache.result=hit": 2,
        "objectfs.cache.level=l1,objectfs.cache.result=miss": 1,
        "objectfs.cache.level=l2,objectfs.cache.result=hit": 1,
    }
    read = snap["objectfs.operation.duration"]["objectfs.operation=read"]
    lookup = snap["objectfs.operation.duration"]["error.type=ENOENT,objectfs.operation=lookup"]
    assert isinstance(read, dict)
    assert isinstance(lookup, dict)
    assert read["counts"][0] == 1  # 50 µs <= 100 µs, the first bound
    assert lookup["counts"][catalog.FS_OPERATION_DURATION_BUCKETS.index(0.0025)] == 1
    assert snap["objectfs.io"] == {
        "objectfs.io.direction=read": 4196,
        "objectfs.io.direction=write": 7,
    }
    assert snap["cargoship.archive.input"] == {"": 1024}
    assert snap["cargoship.archive.stored"] == {"cargoship.codec=zstd": 300}
    assert snap["cargoship.archive.deduplicated"] == {"": 512}


def test_snapshot_is_json_and_lists_only_recorded_metrics(recorder: MetricsRecorder) -> None:
    assert recorder.snapshot() == {}
    recorder.metrics.s3_request(operation="HeadObject", status_code=404, duration=0.01)
    recorder.metrics.archive_input(7)
    snap = recorder.snapshot()
    assert set(snap) == {"s3opt.requests", "s3opt.request.duration", "cargoship.archive.input"}
    assert json.loads(json.dumps(snap, allow_nan=False)) == snap


def test_snapshots_are_cumulative(recorder: MetricsRecorder) -> None:
    recorder.metrics.archive_input(5)
    assert recorder.snapshot()["cargoship.archive.input"] == {"": 5}
    recorder.metrics.archive_input(6)
    assert recorder.snapshot()["cargoship.archive.input"] == {"": 11}


def test_facades_on_one_provider_share_instruments(recorder: MetricsRecorder) -> None:
    other = Metrics(recorder.meter_provider)
    recorder.metrics.archive_deduplicated(1)
    other.archive_deduplicated(2)
    assert recorder.snapshot()["cargoship.archive.deduplicated"] == {"": 3}


def test_record_validates_the_metric_and_its_attributes(recorder: MetricsRecorder) -> None:
    m = recorder.metrics
    with pytest.raises(ValueError, match="has no attribute 'key'"):
        m.record(catalog.S3_IO, 1, {"network.io.direction": "receive", "key": "a/b"})
    foreign = MetricSpec("s3opt.io", MetricKind.COUNTER, "By", "not the catalog's")
    with pytest.raises(ValueError, match=r"not a metric of opsmetrics\.catalog"):
        m.record(foreign, 1)
    with pytest.raises(ValueError, match="finite value >= 0"):
        m.archive_input(-1)
    with pytest.raises(ValueError, match="finite value >= 0"):
        m.s3_throughput(direction="receive", bytes_per_second=math.nan)
    with pytest.raises(ValueError, match="finite value >= 0"):
        m.fs_operation(operation="read", duration=math.inf)
    with pytest.raises(TypeError, match="takes a number, got bool"):
        m.record(catalog.ARCHIVE_INPUT, True)
    with pytest.raises(ValueError, match="must be one of"):
        m.cache_lookup(level="l3", hit=True)  # type: ignore[arg-type]
    # Nothing half-recorded: a rejected request counts neither in the counter nor the histogram.
    with pytest.raises(TypeError):
        m.s3_request(operation="GetObject", status_code="200", duration=0.1)  # type: ignore[arg-type]
    assert recorder.snapshot() == {}


def test_without_a_provider_the_facade_is_a_silent_no_op() -> None:
    # This test process never sets a global provider, so this is the API's proxy.
    metrics = Metrics()
    metrics.s3_request(operation="GetObject", status_code=200, duration=0.1)
    metrics.cache_lookup(level="l2", hit=False)
    with pytest.raises(ValueError, match="has no attribute"):
        metrics.record(catalog.ARCHIVE_INPUT, 1, {"path": "x"})
