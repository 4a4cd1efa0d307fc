"""A real application process: ``setup("prometheus")`` on a free port of 127.0.0.1,
known operations recorded through the facade, the endpoint scraped over HTTP.

Expected names are the OpenTelemetry-to-Prometheus translation (specification
compatibility/prometheus_and_openmetrics.md, "Metric metadata"): dots become
underscores, the UCUM unit becomes a suffix (s -> _seconds, By -> _bytes,
By/s -> _bytes_per_second, annotations like {request} are dropped) and
monotonic sums get _total. Values are hand-computed from the operations below.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

import pytest

from opsmetrics import CATALOG

CHILD = """
import sys
import opsmetrics

handle = opsmetrics.setup("prometheus", port=0, host="127.0.0.1", required=True)
m = opsmetrics.Metrics()
for duration in (0.003, 0.3, 90.0):
    m.s3_request(operation="GetObject", status_code=200, duration=duration)
m.s3_transfer(direction="receive", nbytes=4096)
m.s3_transfer(direction="transmit", nbytes=100)
m.s3_throughput(direction="receive", bytes_per_second=2500000.0)
m.congestion_window(controller="cubic", nbytes=65536)
m.inflight(controller="cubic", requests=3, nbytes=3145728)
m.s3_retry(operation="UploadPart", reason="SlowDown")
m.s3_retry(operation="UploadPart", reason="SlowDown")
m.s3_throttle(operation="UploadPart", reason="SlowDown")
m.cache_lookup(level="l1", hit=True)
m.cache_lookup(level="l2", hit=False)
m.fs_operation(operation="read", duration=0.0002)
m.fs_io(direction="read", nbytes=8192)
m.fs_io(direction="write", nbytes=10)
m.archive_input(1000)
m.archive_stored(400, codec="zstd")
m.archive_deduplicated(500)
print(handle.endpoint, flush=True)
sys.stdin.readline()
handle.shutdown()
print("stopped", flush=True)
sys.stdin.readline()
"""

# OTel name -> (Prometheus family name, TYPE)
FAMILIES = {
    "s3opt.requests": ("s3opt_requests_total", "counter"),
    "s3opt.request.duration": ("s3opt_request_duration_seconds", "histogram"),
    "s3opt.io": ("s3opt_io_bytes_total", "counter"),
    "s3opt.throughput": ("s3opt_throughput_bytes_per_second", "gauge"),
    "s3opt.congestion_window": ("s3opt_congestion_window_bytes", "gauge"),
    "s3opt.request.inflight": ("s3opt_request_inflight", "gauge"),
    "s3opt.request.inflight.size": ("s3opt_request_inflight_size_bytes", "gauge"),
    "s3opt.retries": ("s3opt_retries_total", "counter"),
    "s3opt.throttles": ("s3opt_throttles_total", "counter"),
    "objectfs.cache.lookups": ("objectfs_cache_lookups_total", "counter"),
    "objectfs.operation.duration": ("objectfs_operation_duration_seconds", "histogram"),
    "objectfs.io": ("objectfs_io_bytes_total", "counter"),
    "cargoship.archive.input": ("cargoship_archive_input_bytes_total", "counter"),
    "cargoship.archive.stored": ("cargoship_archive_stored_bytes_total", "counter"),
    "cargoship.archive.deduplicated": ("cargoship_archive_deduplicated_bytes_total", "counter"),
}

Labels = frozenset[tuple[str, str]]
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def labels(**pairs: str) -> Labels:
    return frozenset(pairs.items())


def expected_samples() -> dict[tuple[str, Labels], float]:
    get = {"rpc_method": "GetObject", "http_response_status_code": "200"}
    # 0.003 s, 0.3 s and 90 s against the S3 bounds, cumulative per `le`.
    s3_le = [
        ("0.001", 0), ("0.0025", 0), ("0.005", 1), ("0.01", 1), ("0.025", 1), ("0.05", 1),
        ("0.1", 1), ("0.25", 1), ("0.5", 2), ("1.0", 2), ("2.5", 2), ("5.0", 2), ("10.0", 2),
        ("30.0", 2), ("60.0", 2), ("+Inf", 3),
    ]  # fmt: skip
    # 0.0002 s falls in (0.0001, 0.00025].
    fs_le = [("0.0001", 0)] + [
        (le, 1)
        for le in (
            "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
            "0.25", "0.5", "1.0", "2.5", "5.0", "10.0", "30.0", "60.0", "+Inf",
        )
    ]  # fmt: skip
    samples: dict[tuple[str, Labels], float] = {
        ("s3opt_requests_total", labels(**get)): 3,
        ("s3opt_request_duration_seconds_count", labels(**get)): 3,
        ("s3opt_request_duration_seconds_sum", labels(**get)): 90.303,
        ("s3opt_io_bytes_total", labels(network_io_direction="receive")): 4096,
        ("s3opt_io_bytes_total", labels(network_io_direction="transmit")): 100,
        ("s3opt_throughput_bytes_per_second", labels(network_io_direction="receive")): 2.5e6,
        ("s3opt_congestion_window_bytes", labels(s3opt_controller="cubic")): 65536,
        ("s3opt_request_inflight", labels(s3opt_controller="cubic")): 3,
        ("s3opt_request_inflight_size_bytes", labels(s3opt_controller="cubic")): 3145728,
        ("s3opt_retries_total", labels(rpc_method="UploadPart", error_type="SlowDown")): 2,
        ("s3opt_throttles_total", labels(rpc_method="UploadPart", error_type="SlowDown")): 1,
        (
            "objectfs_cache_lookups_total",
            labels(objectfs_cache_level="l1", objectfs_cache_result="hit"),
        ): 1,
        (
            "objectfs_cache_lookups_total",
            labels(objectfs_cache_level="l2", objectfs_cache_result="miss"),
        ): 1,
        ("objectfs_operation_duration_seconds_count", labels(objectfs_operation="read")): 1,
        ("objectfs_operation_duration_seconds_sum", labels(objectfs_operation="read")): 0.0002,
        ("objectfs_io_bytes_total", labels(objectfs_io_direction="read")): 8192,
        ("objectfs_io_bytes_total", labels(objectfs_io_direction="write")): 10,
        ("cargoship_archive_input_bytes_total", labels()): 1000,
        ("cargoship_archive_stored_bytes_total", labels(cargoship_codec="zstd")): 400,
        ("cargoship_archive_deduplicated_bytes_total", labels()): 500,
    }
    for le, count in s3_le:
        samples["s3opt_request_duration_seconds_bucket", labels(le=le, **get)] = count
    for le, count in fs_le:
        key = (
            "objectfs_operation_duration_seconds_bucket",
            labels(le=le, objectfs_operation="read"),
        )
        samples[key] = count
    return samples


def parse(text: str) -> tuple[dict[str, str], dict[str, str], dict[tuple[str, Labels], float]]:
    """HELP texts, TYPEs and samples of the platform's families (other families, e.g.
    the client library's process_* ones, are skipped). Checks the scope labels."""
    helps: dict[str, str] = {}
    types: dict[str, str] = {}
    samples: dict[tuple[str, Labels], float] = {}
    ours = ("s3opt_", "objectfs_", "cargoship_")
    for line in text.splitlines():
        if line.startswith(("# HELP ", "# TYPE ")):
            _, kind, name, rest = line.split(" ", 3)
            if name.startswith(ours):
                (helps if kind == "HELP" else types)[name] = rest
            continue
        match = SAMPLE.fullmatch(line)
        assert match, line
        name, label_text, value = match.groups()
        if not name.startswith(ours):
            continue
        pairs = dict(LABEL.findall(label_text or ""))
        assert pairs.pop("otel_scope_name") == "opsmetrics"
        pairs.pop("otel_scope_version")
        pairs.pop("otel_scope_schema_url")
        samples[name, frozenset(pairs.items())] = float(value)
    return helps, types, samples


def test_scrape_shows_exact_names_types_labels_and_values() -> None:
    child = subprocess.Popen(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(CHILD)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        endpoint = child.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", endpoint), endpoint
        with urllib.request.urlopen(endpoint, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = response.read().decode()

        helps, types, samples = parse(text)
        for otel_name, (family, kind) in FAMILIES.items():
            assert types[family] == kind
            assert helps[family] == CATALOG[otel_name].description
        assert len(FAMILIES) == len(CATALOG)
        assert samples == expected_samples()

        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "stopped"
        with pytest.raises(urllib.error.URLError) as refused:
            urllib.request.urlopen(endpoint, timeout=5)
        assert isinstance(refused.value.reason, ConnectionRefusedError)
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.wait(timeout=30) == 0, child.stderr.read() if child.stderr else ""
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdin.close()
        child.stdout.close()
        if child.stderr is not None:
            child.stderr.close()
