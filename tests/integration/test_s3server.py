"""benchmarks/s3server.py: moto's server with the ranged-GET ceiling removed.

A ranged GET must return exactly its bytes (open, suffix and closed ranges, and the
errors moto gives for unsatisfiable ones), and its time must not grow with the size of
the object it is cut from: the patch reads only the range.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.s3server import (
    AUTHORIZATION,
    S3Server,
    get_with_checksums,
    measure_complete,
    upload_parts,
)
from s3opt.testing import MotoServer

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[S3Server]:
    with S3Server() as running:
        running.make_bucket("ranges")
        yield running


def request(
    server: S3Server, method: str, path: str, body: bytes | None = None, rng: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        headers = {"Authorization": AUTHORIZATION}
        if rng is not None:
            headers["Range"] = rng
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def best_ranged_get_seconds(server: S3Server, key: str, start: int) -> float:
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        status, _, data = request(server, "GET", key, rng=f"bytes={start}-{start + MiB - 1}")
        best = min(best, time.perf_counter() - began)
        assert status == 206
        assert len(data) == MiB
    return best


@pytest.mark.integration
def test_server_is_a_moto_server_running_this_script(server: S3Server) -> None:
    assert isinstance(server, MotoServer)
    assert server.running
    assert server.endpoint_url == f"http://127.0.0.1:{server.port}"
    assert server.env["AWS_ENDPOINT_URL"] == server.endpoint_url
    # tests/integration/test_demo.py finds leftover servers by "s3server" in the command line.
    argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
    assert argv[1].endswith(b"benchmarks/s3server.py")
    assert argv[2:4] == [b"-H", b"127.0.0.1"]
    assert argv[4:6] == [b"-p", str(server.port).encode()]


@pytest.mark.integration
def test_ranged_gets_return_exactly_their_bytes(server: S3Server) -> None:
    data = os.urandom(3 * MiB + 17)
    assert request(server, "PUT", "/ranges/small", data)[0] == 200
    cases = {
        "bytes=0-0": data[0:1],
        "bytes=100-1048675": data[100:1048676],
        f"bytes={len(data) - 5}-": data[-5:],
        "bytes=-100": data[-100:],
        f"bytes=3000000-{10 * MiB}": data[3000000:],
    }
    for rng, expected in cases.items():
        status, headers, body = request(server, "GET", "/ranges/small", rng=rng)
        assert status == 206, rng
        assert hashlib.sha256(body).digest() == hashlib.sha256(expected).digest(), rng
        assert headers["content-length"] == str(len(expected))
    whole = request(server, "GET", "/ranges/small")[2]
    assert hashlib.sha256(whole).digest() == hashlib.sha256(data).digest()
    assert request(server, "GET", "/ranges/small", rng=f"bytes={len(data)}-")[0] == 416
    # A range moto serves whole (start after end) must still come back as plain bytes.
    status, _, body = request(server, "GET", "/ranges/small", rng="bytes=9-2")
    assert status == 200
    assert body == data


@pytest.mark.integration
@pytest.mark.slow
def test_ranged_get_time_does_not_grow_with_object_size(server: S3Server) -> None:
    small = os.urandom(4 * MiB)
    big = os.urandom(MiB) * 256
    assert request(server, "PUT", "/ranges/4mib", small)[0] == 200
    assert request(server, "PUT", "/ranges/256mib", big)[0] == 200
    start = 200 * MiB + 12345
    status, _, body = request(
        server, "GET", "/ranges/256mib", rng=f"bytes={start}-{start + MiB - 1}"
    )
    assert status == 206
    assert body == big[start : start + MiB]
    small_seconds = best_ranged_get_seconds(server, "/ranges/4mib", 2 * MiB)
    big_seconds = best_ranged_get_seconds(server, "/ranges/256mib", start)
    # moto as shipped: ~200 ms for the big one (it reads all 256 MiB); patched: a few ms.
    assert big_seconds < 4 * small_seconds + 0.03, (small_seconds, big_seconds)
    assert big_seconds < 0.1, big_seconds


@pytest.mark.parametrize("patched", [True, False])
def test_completed_uploads_read_back_with_the_right_etag_and_checksum(patched: bool) -> None:
    """The completion patch keeps moto's results: measure_complete raises unless the bytes,
    size, md5-of-md5s ETag and sha256-of-sha256s checksum equal values computed with hashlib,
    for a SHA-256-checksummed upload and a default one, on the patched and the stock server."""
    with S3Server(patched=patched) as running:
        seconds = measure_complete(running.port, parts=3, part_mib=5)
    assert set(seconds) == {"sha256", "default"}


def completed_object(running: S3Server, headers: dict[str, str], parts: list[bytes]) -> str:
    """Upload ``parts`` (CreateMultipartUpload sending ``headers``) to a new bucket as one
    multipart object; its path."""
    bucket = f"parts-{uuid.uuid4().hex[:8]}"
    running.make_bucket(bucket)
    path = f"/{bucket}/object"
    upload_id, document = upload_parts(running.port, path, parts, headers)
    status, _, answer = request(running, "POST", f"{path}?uploadId={upload_id}", document.encode())
    assert status == 200, answer[:300]
    return path


@pytest.mark.integration
@pytest.mark.slow
def test_completed_object_reads_across_its_parts_as_moto_as_shipped_does() -> None:
    """The patched Complete keeps the parts unjoined: every range, including ranges that
    cross part boundaries, must be the uploaded bytes, and the ETag and every checksum
    header (composite, and full-object computed part by part) must be what moto as shipped
    gives."""
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB + 3), os.urandom(1234)]
    data = b"".join(parts)
    boundary = 5 * MiB
    ranges = [
        f"bytes={boundary - 10}-{boundary + 9}",
        f"bytes=0-{2 * boundary + 2}",
        f"bytes={boundary - 1}-{2 * boundary + 10}",
        f"bytes={2 * boundary + 3}-",
        "bytes=-1",
    ]
    answers: dict[bool, list[object]] = {}
    for patched in (True, False):
        found: list[object] = []
        with S3Server(patched=patched) as running:
            for headers in (
                {},
                {"x-amz-checksum-algorithm": "SHA256"},
                {"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "FULL_OBJECT"},
            ):
                path = completed_object(running, headers, parts)
                status, body, got = get_with_checksums(running.port, path)
                checksums = sorted(
                    (name, value)
                    for name, value in got.items()
                    if name.startswith("x-amz-checksum")
                )
                found.append((got["etag"], checksums))
                assert status == 200, (patched, headers)
                assert body == data, (patched, headers)
                assert bool(checksums) == bool(headers), (patched, headers)
                for rng in ranges:
                    status, _, piece = request(running, "GET", path, rng=rng)
                    first, _, last = rng.removeprefix("bytes=").partition("-")
                    if not first:
                        expected = data[-int(last) :]
                    else:
                        expected = data[int(first) : int(last) + 1 if last else None]
                    assert status == 206, (patched, rng)
                    assert piece == expected, (patched, headers, rng)
        answers[patched] = found
    assert answers[True] == answers[False]
