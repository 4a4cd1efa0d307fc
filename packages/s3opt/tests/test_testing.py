"""MotoServer: starts, answers, makes buckets, reports failures clearly, stops reliably."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3opt import S3Config, S3Store
from s3opt.testing import MotoServer, MotoServerError, stop_process

MiB = 1 << 20


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


def test_the_bucket_fixture_is_a_new_empty_bucket_on_the_server(
    moto_server: MotoServer, bucket: str, s3_config: S3Config
) -> None:
    with urllib.request.urlopen(moto_server.endpoint_url + "/", timeout=5) as reply:
        assert f"<Name>{bucket}</Name>" in reply.read().decode()
    with urllib.request.urlopen(f"{moto_server.endpoint_url}/{bucket}", timeout=5) as reply:
        assert "<Contents>" not in reply.read().decode()  # ListObjects: nothing in it
    assert s3_config.endpoint_url == moto_server.endpoint_url


def test_the_boto3_client_reads_what_the_server_holds(
    moto_server: MotoServer, bucket: str, boto3_client: Any
) -> None:
    put = urllib.request.Request(
        f"{moto_server.endpoint_url}/{bucket}/k.txt",
        data=b"stored over HTTP",
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},  # not a form for werkzeug
    )
    with urllib.request.urlopen(put, timeout=5):
        pass
    assert boto3_client.get_object(Bucket=bucket, Key="k.txt")["Body"].read() == b"stored over HTTP"
    assert moto_server.boto3_client().list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_importing_s3opt_testing_imports_neither_pytest_nor_moto() -> None:
    """Only ``s3opt.testing.fixtures`` needs pytest; the server runs moto in its own process."""
    script = (
        "import sys, s3opt.testing\n"
        "print(sorted(name for name in ('pytest', 'moto', 'boto3') if name in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stderr


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


# A stand-in server program: takes moto's -H/-p, answers every GET and PUT with its argv.
TINY_SERVER = textwrap.dedent(
    """
    import argparse, http.server, json, sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--greeting")
    parser.add_argument("-H", dest="host")
    parser.add_argument("-p", dest="port", type=int)
    args = parser.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self):
            body = json.dumps({"argv": sys.argv[1:], "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = answer

    http.server.ThreadingHTTPServer((args.host, args.port), Handler).serve_forever()
    """
)


def test_command_runs_another_server_program_with_host_and_port(tmp_path: Path) -> None:
    script = tmp_path / "tiny_server.py"
    script.write_text(TINY_SERVER)
    with MotoServer(command=[sys.executable, str(script), "--greeting", "hi"]) as server:
        server.make_bucket("anything")  # needs it running; the stand-in accepts any PUT
        with urllib.request.urlopen(server.endpoint_url + "/which", timeout=5) as reply:
            answer = reply.read().decode()
        port = server.port
    assert answer == (
        f'{{"argv": ["--greeting", "hi", "-H", "127.0.0.1", "-p", "{port}"], "path": "/which"}}'
    )
    assert not server.running
    with socket.socket() as probe:
        probe.settimeout(1)
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_command_that_exits_is_a_clear_error() -> None:
    command = [sys.executable, "-c", "import sys; print('no server here'); sys.exit(3)"]
    server = MotoServer(command=command, startup_timeout=20)
    with pytest.raises(MotoServerError, match=r"exited with status 3 .*no server here"):
        server.start()
    assert not server.running


def test_invalid_command() -> None:
    with pytest.raises(ValueError, match="command"):
        MotoServer(command=[])
    with pytest.raises(ValueError, match="command"):
        MotoServer(command="moto_server")


def test_pid_names_the_running_server_process() -> None:
    server = MotoServer()
    with pytest.raises(MotoServerError, match="not started"):
        _ = server.pid
    with server:
        cmdline = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert b"s3opt.testing._moto_parts" in cmdline


@pytest.mark.asyncio
async def test_config_reaches_the_server_and_takes_overrides(moto_server: MotoServer) -> None:
    moto_server.make_bucket("config-check")
    config = moto_server.config(part_size_min=6 * 1024 * 1024)
    assert config.endpoint_url == moto_server.endpoint_url
    assert config.part_size_min == 6 * 1024 * 1024
    assert config.addressing_style == "path"
    async with S3Store.open("s3://config-check/p", config) as store:
        await store.put("k", b"through the config")
        assert await store.get_range("k", 0, 7) == b"through"


def test_requests_settled_lists_what_the_server_answered(moto_server: MotoServer) -> None:
    moto_server.make_bucket("seen-bucket")
    before = len(moto_server.requests_seen())
    request = urllib.request.Request(f"{moto_server.endpoint_url}/seen-bucket/nope", method="HEAD")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=5)
    # werkzeug colours a 404's line; the ANSI codes are not part of the path or status.
    assert moto_server.requests_settled()[before:] == [("HEAD", "/seen-bucket/nope", 404)]


def test_requests_seen_needs_a_started_server() -> None:
    with pytest.raises(MotoServerError, match="not started"):
        MotoServer().requests_seen()


@contextlib.contextmanager
def _ready_child(setup: str) -> Iterator[subprocess.Popen[str]]:
    """A Python child that runs ``setup``, says 'ready' and sleeps a minute; killed if left."""
    code = f"import signal, time; {setup}; print('ready', flush=True); time.sleep(60)"
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "ready\n"
            yield child
        finally:
            if child.poll() is None:
                child.kill()


@pytest.mark.parametrize(
    ("setup", "timeout", "ended_by"),
    [
        # SIGTERM ignored: stop_process waits the timeout, then kills (not the child's minute)
        ("signal.signal(signal.SIGTERM, signal.SIG_IGN)", 0.5, signal.SIGKILL),
        ("pass", 10.0, signal.SIGTERM),
    ],
)
def test_stop_process_ends_a_child_and_may_be_called_again(
    setup: str, timeout: float, ended_by: signal.Signals
) -> None:
    with _ready_child(setup) as child:
        started = time.monotonic()
        stop_process(child, timeout=timeout)
        took = time.monotonic() - started
        assert child.returncode == -ended_by
        stop_process(child, timeout=timeout)  # already reaped: nothing to do
        assert child.returncode == -ended_by
    if ended_by is signal.SIGKILL:
        assert timeout <= took
    assert took < 10


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_get_object_attributes_lists_the_parts_as_the_s3_api_reference_says(
    bucket: str, boto3_client: Any
) -> None:
    # moto 5.2.5 leaves ObjectParts out; the server MotoServer starts adds it
    # (s3opt.testing._moto_parts), paged by MaxParts and PartNumberMarker.
    chunks = [b"a" * (5 * MiB), b"b" * (5 * MiB), b"c"]
    key = "parts.bin"
    upload = boto3_client.create_multipart_upload(
        Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256"
    )["UploadId"]
    sent = []
    for number, chunk in enumerate(chunks, start=1):
        reply = boto3_client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload,
            PartNumber=number,
            Body=chunk,
            ChecksumAlgorithm="SHA256",
        )
        sent.append(
            {"PartNumber": number, "ETag": reply["ETag"], "ChecksumSHA256": _b64_sha256(chunk)}
        )
    boto3_client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": sent}
    )

    def page(**extra: Any) -> dict[str, Any]:
        reply = boto3_client.get_object_attributes(
            Bucket=bucket, Key=key, ObjectAttributes=["ObjectParts", "ObjectSize"], **extra
        )
        assert reply["ObjectSize"] == sum(map(len, chunks))
        parts: dict[str, Any] = reply["ObjectParts"]
        return parts

    first = page(MaxParts=2)
    listed = [(p["PartNumber"], p["Size"], p["ChecksumSHA256"]) for p in first["Parts"]]
    assert listed == [(n, len(c), _b64_sha256(c)) for n, c in enumerate(chunks[:2], start=1)]
    assert (first["TotalPartsCount"], first["MaxParts"], first["IsTruncated"]) == (3, 2, True)
    assert first["NextPartNumberMarker"] == 2
    rest = page(PartNumberMarker=2)
    assert [(p["PartNumber"], p["Size"]) for p in rest["Parts"]] == [(3, 1)]
    assert (rest["IsTruncated"], "NextPartNumberMarker" in rest) == (False, False)

    boto3_client.put_object(Bucket=bucket, Key="single.bin", Body=b"one put")
    single = boto3_client.get_object_attributes(
        Bucket=bucket, Key="single.bin", ObjectAttributes=["ObjectParts", "ETag"]
    )
    assert "ObjectParts" not in single
