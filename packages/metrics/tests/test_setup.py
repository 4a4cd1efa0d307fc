"""``opsmetrics.setup()``: bad input, busy ports, the console exporter, calling it
twice, and ``import opsmetrics`` without the SDK. Each case that installs a
provider runs in its own interpreter (see conftest)."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable, Iterator

import pytest

import opsmetrics

RunPython = Callable[[str], subprocess.CompletedProcess[str]]


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_unknown_exporter_is_a_value_error_listing_the_choices() -> None:
    with pytest.raises(ValueError, match=r"^unknown metrics exporter 'otlp'; choose one of: "):
        opsmetrics.setup("otlp")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prometheus, console, none"):
        opsmetrics.setup("Prometheus")  # type: ignore[arg-type]


@pytest.mark.parametrize("port", [-1, 65536, True, "9464"])
def test_bad_port_is_a_value_error(port: object) -> None:
    with pytest.raises(ValueError, match=r"port must be an int in 0\.\.65535"):
        opsmetrics.setup("prometheus", port=port)  # type: ignore[arg-type]


def test_bad_host_and_interval_are_value_errors() -> None:
    with pytest.raises(ValueError, match="host must be a non-empty string"):
        opsmetrics.setup("prometheus", host="")
    with pytest.raises(ValueError, match="interval must be"):
        opsmetrics.setup("console", interval=0)


def test_busy_port_when_required_is_a_one_line_setup_error(
    run_python: RunPython, busy_port: int
) -> None:
    out = run_python(f"""
        import json, opsmetrics
        try:
            opsmetrics.setup("prometheus", port={busy_port}, required=True)
        except opsmetrics.MetricsSetupError as exc:
            message = str(exc)
        # A failed setup changed nothing: the application may set up again.
        handle = opsmetrics.setup("none")
        print(json.dumps({{"message": message, "exporter": handle.exporter}}))
    """).stdout
    result = json.loads(out)
    assert result["exporter"] == "none"
    message = result["message"]
    assert "\n" not in message
    assert message.startswith(f"cannot serve metrics on 127.0.0.1:{busy_port}: ")
    assert "in use" in message


def test_busy_port_when_not_required_warns_once_and_keeps_working(
    run_python: RunPython, busy_port: int
) -> None:
    out = run_python(f"""
        import json, logging, opsmetrics

        records = []
        class Keep(logging.Handler):
            def emit(self, record):
                records.append((record.levelname, record.name, record.getMessage()))
        logging.getLogger().addHandler(Keep())

        handle = opsmetrics.setup("prometheus", port={busy_port})
        m = opsmetrics.Metrics()
        m.s3_request(operation="PutObject", status_code=200, duration=0.02)
        m.archive_stored(4096, codec="lz4")
        print(json.dumps({{
            "records": records,
            "exporter": handle.exporter,
            "endpoint": handle.endpoint,
            "snapshot": handle.snapshot(),
        }}))
        handle.shutdown()
    """).stdout
    result = json.loads(out)
    assert len(result["records"]) == 1
    level, logger, message = result["records"][0]
    assert (level, logger) == ("WARNING", "opsmetrics.configure")
    assert f"127.0.0.1:{busy_port}" in message
    assert (result["exporter"], result["endpoint"]) == ("none", None)
    snapshot = result["snapshot"]
    assert snapshot["s3opt.requests"] == {"http.response.status_code=200,rpc.method=PutObject": 1}
    assert snapshot["cargoship.archive.stored"] == {"cargoship.codec=lz4": 4096}
    duration = snapshot["s3opt.request.duration"][
        "http.response.status_code=200,rpc.method=PutObject"
    ]
    assert duration["count"] == 1
    assert duration["counts"][4] == 1  # 0.02 s in (0.01, 0.025]


def test_console_exporter_writes_to_the_given_stream(run_python: RunPython) -> None:
    out = run_python("""
        import io, opsmetrics
        stream = io.StringIO()
        with opsmetrics.setup("console", stream=stream, interval=3600) as handle:
            m = opsmetrics.Metrics()
            m.s3_retry(operation="GetObject", reason="InternalError")
            m.s3_retry(operation="GetObject", reason="InternalError")
            m.congestion_window(controller="bbr", nbytes=123456)
            assert stream.getvalue() == ""  # nothing before the first interval
        print(stream.getvalue())
    """).stdout
    document = json.loads(out)  # the SDK's JSON form of one export, written at shutdown
    values = {}
    for resource_metrics in document["resource_metrics"]:
        for scope_metrics in resource_metrics["scope_metrics"]:
            assert scope_metrics["scope"]["name"] == "opsmetrics"
            for metric in scope_metrics["metrics"]:
                for point in metric["data"]["data_points"]:
                    values[metric["name"], json.dumps(point["attributes"], sort_keys=True)] = point[
                        "value"
                    ]
    retries = json.dumps({"error.type": "InternalError", "rpc.method": "GetObject"}, sort_keys=True)
    window = json.dumps({"s3opt.controller": "bbr"}, sort_keys=True)
    assert values == {("s3opt.retries", retries): 2, ("s3opt.congestion_window", window): 123456}


def test_setup_twice_is_an_error_even_after_shutdown(run_python: RunPython) -> None:
    out = run_python("""
        import json, opsmetrics
        handle = opsmetrics.setup("none")
        messages = []
        for _ in range(2):
            try:
                opsmetrics.setup("console")
            except opsmetrics.MetricsSetupError as exc:
                messages.append(str(exc))
            handle.shutdown()
        opsmetrics.Metrics().archive_input(1)  # after shutdown: a silent no-op
        print(json.dumps({"messages": messages, "snapshot": handle.snapshot()}))
    """).stdout
    result = json.loads(out)
    once = "opsmetrics.setup() already ran in this process (exporter 'none'); call it once, in main"
    assert result["messages"] == [once, once]
    assert result["snapshot"] == {}


def test_a_foreign_global_provider_is_refused(run_python: RunPython) -> None:
    out = run_python("""
        import opsmetrics
        from opentelemetry.metrics import set_meter_provider
        from opentelemetry.sdk.metrics import MeterProvider
        set_meter_provider(MeterProvider(shutdown_on_exit=False))
        try:
            opsmetrics.setup("none")
        except opsmetrics.MetricsSetupError as exc:
            print(exc)
    """).stdout
    assert out.startswith("a global OpenTelemetry meter provider was already set outside")


def test_snapshot_after_shutdown_keeps_the_final_values(run_python: RunPython) -> None:
    out = run_python("""
        import json, opsmetrics
        handle = opsmetrics.setup("none")
        m = opsmetrics.Metrics()
        m.cache_lookup(level="l2", hit=True)
        handle.shutdown()
        handle.shutdown()
        m.cache_lookup(level="l2", hit=True)
        print(json.dumps(handle.snapshot()))
    """).stdout
    assert json.loads(out) == {
        "objectfs.cache.lookups": {"objectfs.cache.level=l2,objectfs.cache.result=hit": 1}
    }


def test_import_and_record_work_without_the_sdk(run_python: RunPython) -> None:
    out = run_python("""
        import importlib.abc, json, sys

        BLOCKED = ("opentelemetry.sdk", "opentelemetry.exporter", "prometheus_client")

        class NoSdk(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.startswith(BLOCKED):
                    raise ImportError(f"blocked: {name}")
                return None

        sys.meta_path.insert(0, NoSdk())

        import opsmetrics
        m = opsmetrics.Metrics()
        m.s3_request(operation="GetObject", status_code=200, duration=0.1)
        m.cache_lookup(level="l1", hit=False)
        try:
            m.record(opsmetrics.CATALOG["s3opt.io"], 1, {"size": 1})
        except ValueError:
            validated = True
        try:
            opsmetrics.setup("none")
        except opsmetrics.MetricsSetupError as exc:
            message = str(exc)
        loaded = sorted(name for name in sys.modules if name.startswith(BLOCKED))
        print(json.dumps({"validated": validated, "message": message, "loaded": loaded}))
    """).stdout
    result = json.loads(out)
    assert result["validated"] is True
    assert result["loaded"] == []
    assert result["message"] == (
        "opsmetrics.setup() needs the OpenTelemetry SDK; "
        "install the SDK with: pip install 'opsmetrics[sdk]'"
    )


def test_import_opsmetrics_loads_no_sdk_module(run_python: RunPython) -> None:
    out = run_python("""
        import sys, opsmetrics
        print(sorted(n for n in sys.modules if n.startswith(("opentelemetry.sdk", "prometheus"))))
    """).stdout
    assert out.strip() == "[]"


def test_public_api() -> None:
    assert sorted(opsmetrics.__all__) == sorted(
        [
            "CATALOG",
            "AttributeSpec",
            "MetricKind",
            "MetricSpec",
            "Metrics",
            "MetricsHandle",
            "MetricsSetupError",
            "__version__",
            "setup",
        ]
    )
    for name in opsmetrics.__all__:
        assert hasattr(opsmetrics, name)
