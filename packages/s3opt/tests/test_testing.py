"""MotoServer: starts, answers, makes buckets, reports failures clearly, stops reliably."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest

from s3opt.testing import MotoServer, MotoServerError


def test_session_server_answers_and_makes_buckets(moto_server: MotoServer) -> None:
    assert moto_server.running
    assert moto_server.endpoint_url == f"http://127.0.0.1:{moto_server.port}"
    moto_server.make_bucket("testing-helper-bucket")
    with urllib.request.urlopen(moto_server.endpoint_url + "/", timeout=5) as reply:
        listing = reply.read().decode()
    assert "<Name>testing-helper-bucket</Name>" in listing
    env = moto_server.env
    assert env["AWS_ENDPOINT_URL"] == moto_server.endpoint_url
    assert env["AWS_ACCESS_KEY_ID"] == "testing"
    assert env["AWS_DEFAULT_REGION"] == "us-east-1"


def test_bad_bucket_name_is_a_clear_error(moto_server: MotoServer) -> None:
    with pytest.raises(MotoServerError, match=r"PUT /B failed: HTTP 400: .*InvalidBucketName"):
        moto_server.make_bucket("B")


def test_start_and_stop_free_the_port() -> None:
    server = MotoServer()
    with pytest.raises(MotoServerError, match="not been started"):
        _ = server.endpoint_url
    with server:
        port = server.port
        server.make_bucket("one")
        server.reset()
        with urllib.request.urlopen(server.endpoint_url + "/", timeout=5) as reply:
            assert "<Name>one</Name>" not in reply.read().decode()
        assert "running" in repr(server)
    assert not server.running
    assert "stopped" in repr(server)
    with pytest.raises(MotoServerError, match="not running"):
        server.make_bucket("two")
    # Nothing listens on the port any more.
    with socket.socket() as probe:
        probe.settimeout(1)
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    server.stop()  # twice is fine


def test_port_in_use_fails_fast_with_the_log() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MotoServer(port=port, startup_timeout=20)
        started = time.monotonic()
        with pytest.raises(MotoServerError, match=f"port {port}"):
            server.start()
        assert time.monotonic() - started < 20
        assert not server.running


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="port"):
        MotoServer(port=70000)
    with pytest.raises(ValueError, match="startup_timeout"):
        MotoServer(startup_timeout=0)
