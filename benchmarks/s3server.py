"""moto's S3 server for the benchmarks and the demo, without moto's ranged-GET and
CompleteMultipartUpload ceilings.

moto 5.2 as shipped answers a ranged GET by reading the WHOLE object (``FakeKey.value``
reads the key's spooled buffer from the start), wrapping it in the response and only then
slicing the range out (``S3Response.key_response`` -> ``_handle_range_header``). A 1 MiB
range of a 256 MiB object costs ~180 ms on this machine, whatever the range size, which
caps a parallel ranged download far below the WAN profiles. The launcher removes that
ceiling in the launched server process only (never in the s3opt library):

* ``S3Response.get_object`` is wrapped: while it runs, a thread-local flag makes
  ``FakeKey.value`` return a :class:`LazyValue` (``len()`` is the object size, a slice reads
  just that slice from the key's buffer, under the key's lock);
* ``S3Response._handle_range_header`` is wrapped: whatever it returns unsliced (a range
  moto serves whole, e.g. ``bytes=5-2``) is read in full, so nothing lazy ever reaches
  werkzeug. Every other code path (HEAD, copy) is untouched.

moto's ``CompleteMultipartUpload`` (``FakeMultipart.complete``) copies every part four
times and the whole object twice more, and re-hashes every part for a composite checksum:
1.7-2.2 s for 256 MiB in 32 parts with SHA-256 part checksums (as s3opt sends), 2.8-5.1 s
with none named, on this machine under load. That alone capped any client's 256 MiB upload
at ~55 MB/s (wan) / ~42 MB/s (far). :func:`remove_complete_ceiling` keeps moto's result
(validation, ETag ``md5(part md5s)-N``, checksum algorithm, type and value, the bytes) and
changes only the work: a key's buffer shares the ``bytes`` it is given (``io.BytesIO``,
copy-on-write; values above the key buffer size still spill to disk), a composite part
checksum is computed when the part arrives, and the completed object keeps its parts as
they are (:class:`PartsBuffer`, read in place) instead of joining them: S3 itself
completes an upload without rewriting its bytes, while joining 1 GiB in the server's
Python took ~1 s of the two shared cores (page faults of a fresh 1 GiB buffer), as long
as the last 5% of a 1 GiB upload on ``far``. The object reads back byte-identical, whole
and in ranges across part boundaries, with the ETag, size and ``sha256(part sha256s)-N``
checksum computed independently and moto's own full-object checksum
(:func:`measure_complete`, also run by ``--measure``; ``tests/integration/test_s3server.py``).

It also keeps every object in memory (``MOTO_S3_DEFAULT_KEY_BUFFER_SIZE`` = 8 GiB, moto's
default spills objects above 5 MiB to temporary files on disk).

moto's own ceilings on this machine (2 vCPUs, shared; ``--measure``, a raw ``http.client``
client so the client costs little; MB = 10**6 bytes; one run each, +-25% run to run):

==========================================  ============  =============  ===============
operation (MB/s, 1 / 16 connections)        patched       as shipped     in-process [1]
==========================================  ============  =============  ===============
PUT 16 MiB object                           117 / 148     104 / 202      152 / 202
UploadPart 8 MiB                            114 / 99      134 / 189      156 / 227
GET 16 MiB object (whole)                   512 / 155     397 / 135      336 / 617
ranged GET 8 MiB of a 256 MiB object        769 / 803     24 / 28        457 / 763
1 MiB ranged GET of 4 MiB / 256 MiB (ms)    4.4 / 8.4     4.2 / 201.8    4.5 / 5.8
==========================================  ============  =============  ===============

[1] ``ThreadedMotoServer`` in the measuring process, patched.

Upload is moto's ceiling that matters (~100-200 MB/s, above the profiles' 60-80 MB/s
caps, but not by much once a client and the emulator share the two cores). Its cost,
profiled (cProfile, 20 x 16 MiB PUT / UploadPart): ~2.5 ms/MiB in MD5 for the ETag
(hashlib; it releases the GIL), ~1.3 ms/MiB in werkzeug's request-body read (3 KiB
``readinto`` calls), ~0.7 ms/MiB in BytesIO copies (since removed: see below; the PUT
and UploadPart rows predate that). Not patched: the ETag must stay the MD5 clients check,
and werkzeug's body reading is not a small, safe change.

    python benchmarks/s3server.py              # serve on a free port, print the endpoint
    python benchmarks/s3server.py --port 5000  # a fixed port
    python benchmarks/s3server.py --measure    # moto's ceilings, patched and as shipped

In-process (``moto.server.ThreadedMotoServer``) vs subprocess: a subprocess is used. On
two cores the benchmark client, the WAN emulator and moto each need a core's worth of
Python at times; in one process they would share one GIL (a boto3 or s3opt client is
Python-heavy, unlike the raw measuring client above). In isolation the two are within
run-to-run noise of each other (table above).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import hashlib
import http.client
import io
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate
from pathlib import Path
from typing import Any

from s3opt.testing import MotoServer

__all__ = [
    "LazyValue",
    "PartsBuffer",
    "S3Server",
    "get_with_checksums",
    "measure_complete",
    "measure_moto",
    "remove_complete_ceiling",
    "remove_ranged_get_ceiling",
    "serve",
    "upload_parts",
]

HOST = "127.0.0.1"
KEY_BUFFER_SIZE = 8 * 1024**3
# moto does not check signatures; an Authorization header names the (fake) account, so a
# raw GET is not treated as anonymous access to a private object.
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=0"
)

_lazy = threading.local()


class LazyValue:
    """A stand-in for an object's bytes: knows its length, reads only the slices asked for."""

    def __init__(self, key: Any) -> None:
        self._key = key
        self._size = int(key.contentsize)

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def __getitem__(self, index: slice) -> bytes:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("LazyValue supports contiguous slices only")
        start, stop, _ = index.indices(self._size)
        if stop <= start:
            return b""
        buffer = self._key._value_buffer
        with self._key.lock:
            buffer.seek(start)
            return bytes(buffer.read(stop - start))

    def read_all(self) -> bytes:
        return self[0 : self._size]


class PartsBuffer:
    """A completed multipart object's bytes kept as its parts: the file-like buffer a moto
    key reads from (``seek``, ``tell``, ``read``), with each read cut from the parts it
    spans, so completing an upload never copies the object."""

    def __init__(self, parts: Sequence[bytes]) -> None:
        self._parts = list(parts)
        self._starts = list(accumulate((len(part) for part in self._parts), initial=0))
        self._position = 0
        self.closed = False

    def __len__(self) -> int:
        return self._starts[-1]

    @property
    def parts(self) -> list[bytes]:
        return self._parts

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: len(self)}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position

    def read(self, size: int = -1) -> bytes:
        start = self._position
        end = len(self) if size < 0 else min(len(self), start + size)
        if end <= start:
            return b""
        index = bisect.bisect_right(self._starts, start) - 1
        pieces = []
        while start < end:
            offset = self._starts[index]
            part = self._parts[index]
            pieces.append(memoryview(part)[start - offset : min(end - offset, len(part))])
            start += len(pieces[-1])
            index += 1
        self._position = end
        return pieces[0].tobytes() if len(pieces) == 1 else b"".join(pieces)

    def close(self) -> None:
        self._parts = []
        self.closed = True


def remove_ranged_get_ceiling() -> None:
    """Patch moto (in this process) so a ranged GET reads only its range. Idempotent."""
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    if getattr(S3Response, "_s3bench_patched", False):
        return
    original_value: Any = FakeKey.__dict__["value"]  # the property object itself
    original_get_object = S3Response.get_object
    original_handle_range = S3Response._handle_range_header

    def value(self: Any) -> Any:
        if getattr(_lazy, "active", False):
            _lazy.active = False  # only the body get_object returns is lazy
            return LazyValue(self)
        return original_value.fget(self)

    def get_object(self: Any) -> Any:
        ranged = bool(self.headers.get("range")) and not self._get_int_param("partNumber")
        _lazy.active = ranged
        try:
            status, headers, body = original_get_object(self)
        finally:
            _lazy.active = False
        if isinstance(body, LazyValue) and status != 200:
            body = body.read_all()
        return status, headers, body

    def handle_range_header(self: Any, request: Any, headers: Any, content: Any) -> Any:
        status, headers, body = original_handle_range(self, request, headers, content)
        if isinstance(body, LazyValue):
            body = body.read_all()
        return status, headers, body

    FakeKey.value = property(value, original_value.fset)  # type: ignore[assignment,method-assign]
    S3Response.get_object = get_object  # type: ignore[method-assign]
    S3Response._handle_range_header = handle_range_header  # type: ignore[method-assign,assignment]
    S3Response._s3bench_patched = True  # type: ignore[attr-defined]


def remove_complete_ceiling() -> None:
    """Patch moto (in this process) so CompleteMultipartUpload copies the object once. Idempotent.

    The completed object is exactly moto's: same validation (``InvalidPart``,
    ``EntityTooSmall``, ``MalformedXML``; ``InvalidPartOrder`` comes from moto's XML
    parsing, untouched), same ETag ``md5(part md5s)-N``, same checksum algorithm, type
    and value. Only the work changes:

    * an object's bytes are kept in an ``io.BytesIO`` that shares the ``bytes`` it was
      given (copy-on-write) instead of being copied into a ``SpooledTemporaryFile``
      (values above the key buffer size still spill to disk as moto does), so reading a
      part whole is free;
    * a part's composite checksum is computed when the part arrives (in that
      UploadPart's thread, overlapping the other parts' transfers), not at completion;
    * the parts are never joined (moto copies each part four times and the whole twice):
      the completed key reads from a :class:`PartsBuffer` over them, and a full-object
      checksum is computed part by part.
    """
    from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
    from moto.s3.models import FakeKey, FakeMultipart, MultipartChecksumBuilder
    from moto.s3.utils import compute_checksum
    from moto.settings import S3_UPLOAD_PART_MIN_SIZE

    if getattr(FakeMultipart, "_s3bench_patched", False):
        return
    value_property: Any = FakeKey.__dict__["value"]  # maybe the ranged-GET patch's
    original_set_part = FakeMultipart.set_part

    def checksum_kind(multipart: Any) -> tuple[str, str]:
        # moto's builder resolves the defaults (CRC64NVME / FULL_OBJECT, else COMPOSITE).
        builder = MultipartChecksumBuilder(
            multipart.metadata.get("x-amz-checksum-algorithm"),
            multipart.metadata.get("x-amz-checksum-type"),
        )
        return builder.checksum_algorithm, builder.checksum_type

    def part_checksum(part: Any, algorithm: str) -> bytes:
        cached = getattr(part, "_s3bench_checksum", None)
        if cached is None or cached[0] != algorithm:
            cached = (algorithm, compute_checksum(part.value, algorithm, encode_base64=False))
            part._s3bench_checksum = cached
        return bytes(cached[1])

    def set_part(self: Any, part_id: int, value: bytes) -> Any:
        part = original_set_part(self, part_id, value)
        algorithm, kind = checksum_kind(self)
        if kind == "COMPOSITE":
            part_checksum(part, algorithm)
        return part

    def complete(self: Any, body: Iterator[tuple[int, str]]) -> Any:
        algorithm, kind = checksum_kind(self)
        parts: list[Any] = []
        md5s = bytearray()
        for number, etag in body:
            part = self.parts.get(number)
            part_etag = "" if part is None else part.etag.replace('"', "")
            if part is None or part_etag != etag.replace('"', ""):
                raise InvalidPart()
            if parts and parts[-1].contentsize < S3_UPLOAD_PART_MIN_SIZE:
                raise EntityTooSmall()
            md5s.extend(bytes.fromhex(part_etag))
            parts.append(part)
        if not parts:
            raise MalformedXML
        value = PartsBuffer([part.value for part in parts])
        if kind == "COMPOSITE":
            digests = b"".join(part_checksum(part, algorithm) for part in parts)
            checksum = (kind, compute_checksum(digests, algorithm).decode(), len(parts))
        else:
            checksum = (kind, full_object_checksum(value, algorithm), 1)
        etag = hashlib.md5(bytes(md5s), usedforsecurity=False).hexdigest()
        return value, f"{etag}-{len(parts)}", checksum

    def full_object_checksum(value: PartsBuffer, algorithm: str) -> str:
        # moto's compute_checksum, fed part by part where it can be: CRC32 (also what moto
        # falls back to for CRC64NVME without awscrt, CRC32C without crc32c), SHA-1, SHA-256.
        plain_crc32 = binascii.crc32(b"a").to_bytes(4, "big")
        digest: bytes
        if compute_checksum(b"a", algorithm, encode_base64=False) == plain_crc32:
            crc = 0
            for part in value.parts:
                crc = binascii.crc32(part, crc)
            digest = crc.to_bytes(4, "big")
        elif algorithm in ("SHA1", "SHA256"):
            hasher = hashlib.new(algorithm.lower())
            for part in value.parts:
                hasher.update(part)
            digest = hasher.digest()
        else:
            return compute_checksum(value.read(), algorithm).decode()
        return base64.b64encode(digest).decode()

    def set_value(self: Any, new_value: Any) -> None:
        if isinstance(new_value, PartsBuffer):
            self._value_buffer = new_value
            self.contentsize = len(new_value)
            return
        if isinstance(new_value, bytes) and len(new_value) <= self._max_buffer_size:
            self._value_buffer = io.BytesIO(new_value)  # shares new_value until written to
            self.contentsize = len(new_value)
            return
        value_property.fset(self, new_value)

    FakeKey.value = property(value_property.fget, set_value)  # type: ignore[assignment,method-assign]
    FakeMultipart.set_part = set_part  # type: ignore[method-assign]
    FakeMultipart.complete = complete  # type: ignore[method-assign]
    FakeMultipart._s3bench_patched = True  # type: ignore[attr-defined]


def serve(port: int = 0, *, patched: bool = True, host: str = HOST) -> None:
    """Run moto's server in this process (blocking); print ``PORT <n>`` once it listens."""
    os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(KEY_BUFFER_SIZE))
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    if patched:
        remove_ranged_get_ceiling()
        remove_complete_ceiling()
    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


class S3Server(MotoServer):
    """moto's S3 server in a subprocess on a free loopback port, patched (see module doc).

    :class:`s3opt.testing.MotoServer` does the process management (free port, wait until
    it answers, stop, ``make_bucket``, ``env``); this only swaps in this script as the
    server program, so the patch lives in the launched process, never in the library.
    """

    def __init__(self, *, port: int = 0, patched: bool = True) -> None:
        command = [sys.executable, str(Path(__file__).resolve())]
        if not patched:
            command.append("--as-shipped")
        super().__init__(port=port, command=command)


def _request(
    host: str,
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    connection: http.client.HTTPConnection | None = None,
) -> tuple[int, bytes]:
    conn = connection or http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(
            method, path, body=body, headers={"Authorization": AUTHORIZATION, **(headers or {})}
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        if connection is None:
            conn.close()


# --- moto's own ceilings --------------------------------------------------------------


def _timed_parallel(connections: int, total: int, job: Callable[[Any, int], int]) -> float:
    """Run ``total`` jobs over ``connections`` keep-alive connections; return MB/s."""
    counter = iter(range(total))
    lock = threading.Lock()

    def worker(conn: Any) -> int:
        moved = 0
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return moved
            moved += job(conn, index)

    conns = [http.client.HTTPConnection(HOST, _PORT[0], timeout=120) for _ in range(connections)]
    started = time.perf_counter()
    with ThreadPoolExecutor(connections) as pool:
        moved = sum(pool.map(worker, conns))
    elapsed = time.perf_counter() - started
    for conn in conns:
        conn.close()
    return moved / elapsed / 1e6


_PORT = [0]


def _ok(status: int, what: str) -> None:
    if status not in (200, 206):
        raise RuntimeError(f"{what}: HTTP {status}")


def _measure_ops(port: int, connections: int, mib: float) -> dict[str, float]:
    """MB/s of PUT, UploadPart, GET and ranged GET with ``connections`` connections."""
    _PORT[0] = port
    bucket = f"ceiling-{uuid.uuid4().hex[:8]}"
    _ok(_request(HOST, port, "PUT", f"/{bucket}")[0], "create bucket")
    put_body = os.urandom(16 * 1024**2)
    part_body = os.urandom(8 * 1024**2)
    count = max(connections, int(mib // 16))
    results: dict[str, float] = {}

    def put(conn: Any, index: int) -> int:
        _ok(
            _request(HOST, port, "PUT", f"/{bucket}/put{index}", put_body, connection=conn)[0],
            "PUT",
        )
        return len(put_body)

    results["put_16MiB"] = _timed_parallel(connections, count, put)

    status, answer = _request(HOST, port, "POST", f"/{bucket}/mpu?uploads")
    _ok(status, "CreateMultipartUpload")
    upload_id = answer.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()

    def part(conn: Any, index: int) -> int:
        path = f"/{bucket}/mpu?partNumber={index + 1}&uploadId={upload_id}"
        _ok(_request(HOST, port, "PUT", path, part_body, connection=conn)[0], "UploadPart")
        return len(part_body)

    results["upload_part_8MiB"] = _timed_parallel(connections, count * 2, part)

    def get(conn: Any, index: int) -> int:
        status, data = _request(HOST, port, "GET", f"/{bucket}/put{index % count}", connection=conn)
        _ok(status, "GET")
        return len(data)

    results["get_16MiB"] = _timed_parallel(connections, count, get)

    big = os.urandom(1024**2) * 256
    _ok(_request(HOST, port, "PUT", f"/{bucket}/big", big)[0], "PUT big")
    del big
    step = 8 * 1024**2

    def ranged(conn: Any, index: int) -> int:
        start = (index * step) % (256 * 1024**2)
        headers = {"Range": f"bytes={start}-{start + step - 1}"}
        status, data = _request(
            HOST, port, "GET", f"/{bucket}/big", headers=headers, connection=conn
        )
        _ok(status, "ranged GET")
        return len(data)

    results["ranged_get_8MiB_of_256MiB"] = _timed_parallel(connections, count * 2, ranged)
    return results


def measure_moto(*, mib: float = 512, patched: bool = True, inprocess: bool = False) -> Any:
    """moto's MB/s per operation with 1 and 16 connections (a subprocess server by default)."""
    report: dict[str, Any] = {"patched": patched, "inprocess": inprocess}
    if inprocess:
        os.environ.setdefault("MOTO_S3_DEFAULT_KEY_BUFFER_SIZE", str(KEY_BUFFER_SIZE))
        from moto.server import ThreadedMotoServer

        if patched:
            remove_ranged_get_ceiling()
            remove_complete_ceiling()
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        threaded = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
        threaded.start()
        try:
            for connections in (1, 16):
                report[f"{connections}"] = _measure_ops(port, connections, mib)
        finally:
            threaded.stop()
        return report
    with S3Server(patched=patched) as server:
        for connections in (1, 16):
            report[f"{connections}"] = _measure_ops(server.port, connections, mib)
    return report


def _ranged_get_seconds(server: S3Server, object_mib: int, repeats: int = 5) -> float:
    """Best time of a 1 MiB ranged GET from the middle of an ``object_mib`` MiB object."""
    bucket = f"range-{uuid.uuid4().hex[:8]}"
    server.make_bucket(bucket)
    _request(
        HOST,
        server.port,
        "PUT",
        f"/{bucket}/o",
        io.BytesIO(b"\0" * object_mib * 1024**2).getvalue(),
    )
    start = object_mib * 1024**2 // 2
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        _request(
            HOST,
            server.port,
            "GET",
            f"/{bucket}/o",
            headers={"Range": f"bytes={start}-{start + 1024**2 - 1}"},
        )
        best = min(best, time.perf_counter() - began)
    return best


def upload_parts(
    port: int, path: str, parts: list[bytes], headers: dict[str, str]
) -> tuple[str, str]:
    """Create a multipart upload at ``path``, send ``parts``; the upload ID and the XML
    that completes it."""
    status, answer = _request(HOST, port, "POST", f"{path}?uploads", headers=headers)
    _ok(status, "CreateMultipartUpload")
    upload_id = answer.split(b"<UploadId>")[1].split(b"</UploadId>")[0].decode()
    listed = []
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        for number, part in enumerate(parts, 1):
            query = f"?partNumber={number}&uploadId={upload_id}"
            conn.request("PUT", path + query, body=part, headers={"Authorization": AUTHORIZATION})
            response = conn.getresponse()
            response.read()
            _ok(response.status, "UploadPart")
            etag = response.getheader("ETag")
            listed.append(f"<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>")
    finally:
        conn.close()
    return upload_id, f"<CompleteMultipartUpload>{''.join(listed)}</CompleteMultipartUpload>"


def get_with_checksums(port: int, path: str) -> tuple[int, bytes, dict[str, str]]:
    """GET ``path`` asking for its stored checksums: status, body, headers (names lowercase)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        conn.request(
            "GET", path, headers={"Authorization": AUTHORIZATION, "x-amz-checksum-mode": "ENABLED"}
        )
        response = conn.getresponse()
        body = response.read()
        return response.status, body, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def measure_complete(port: int, *, parts: int = 32, part_mib: int = 8) -> dict[str, float]:
    """Seconds moto takes to complete a ``parts`` x ``part_mib`` MiB upload, each read back
    and checked against values computed here (raises RuntimeError on any difference).

    Two uploads: parts with SHA-256 checksums (``x-amz-checksum-algorithm: SHA256``, as
    s3opt sends; S3's composite checksum is ``sha256(part sha256s)-N``) and with no
    algorithm named (moto's default). Checked: the bytes (SHA-256 of a full GET), the
    size, the ETag ``md5(part md5s)-N`` and the composite checksum (S3 User Guide,
    "Checking object integrity", multipart uploads).
    """
    bucket = f"complete-{uuid.uuid4().hex[:8]}"
    _ok(_request(HOST, port, "PUT", f"/{bucket}")[0], "create bucket")
    base = os.urandom(part_mib * 1024**2)
    # Distinct parts (rotations of one random block), so a reordered join would show.
    bodies = [base[i * 4099 :] + base[: i * 4099] for i in range(parts)]
    expected_etag = hashlib.md5(
        b"".join(hashlib.md5(body, usedforsecurity=False).digest() for body in bodies),
        usedforsecurity=False,
    ).hexdigest()
    expected_sha256 = base64.b64encode(
        hashlib.sha256(b"".join(hashlib.sha256(body).digest() for body in bodies)).digest()
    ).decode()
    whole = hashlib.sha256()
    for body in bodies:
        whole.update(body)
    size = parts * part_mib * 1024**2
    results: dict[str, float] = {}
    for label, headers in (("sha256", {"x-amz-checksum-algorithm": "SHA256"}), ("default", {})):
        path = f"/{bucket}/{label}"
        upload_id, document = upload_parts(port, path, bodies, headers)
        began = time.perf_counter()
        status, answer = _request(
            HOST, port, "POST", f"{path}?uploadId={upload_id}", document.encode()
        )
        results[label] = time.perf_counter() - began
        _ok(status, f"CompleteMultipartUpload: {answer[:200]!r}")
        status, data, got = get_with_checksums(port, path)
        found = {
            "status": status,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "etag": got.get("etag", "").strip('"'),
            "checksum": got.get("x-amz-checksum-sha256"),
        }
        wanted = {
            "status": 200,
            "size": size,
            "sha256": whole.hexdigest(),
            "etag": f"{expected_etag}-{parts}",
            "checksum": f"{expected_sha256}-{parts}" if label == "sha256" else None,
        }
        if found != wanted:
            raise RuntimeError(f"{label} upload read back wrong: {found} != {wanted}")
    return results


def _iter_rows(report: dict[str, Any]) -> Iterator[str]:
    for op in report["1"]:
        yield f"  {op:28s} {report['1'][op]:9.0f} MB/s {report['16'][op]:9.0f} MB/s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # -H and -p as moto's own server takes them: S3Server (a MotoServer) passes them.
    parser.add_argument("-H", "--host", default=HOST)
    parser.add_argument("-p", "--port", type=int, default=0)
    parser.add_argument("--as-shipped", action="store_true", help="do not patch moto")
    parser.add_argument("--measure", action="store_true", help="measure moto's ceilings")
    parser.add_argument("--inprocess", action="store_true", help="measure ThreadedMotoServer")
    parser.add_argument("--mib", type=float, default=512, help="MiB moved per measurement")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.measure:
        serve(args.port, patched=not args.as_shipped, host=args.host)
        return 0
    report = measure_moto(mib=args.mib, patched=not args.as_shipped, inprocess=args.inprocess)
    with S3Server(patched=not args.as_shipped) as server:
        report["ranged_1MiB_seconds"] = {
            f"of_{size}MiB": _ranged_get_seconds(server, size) for size in (4, 256)
        }
        report["complete_256MiB_32_parts_seconds"] = measure_complete(server.port)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    kind = "in-process" if args.inprocess else "subprocess"
    patch = "as shipped" if args.as_shipped else "patched"
    print(f"moto {kind}, {patch}: MB/s with 1 and 16 connections")
    for row in _iter_rows(report):
        print(row)
    for name, seconds in report["ranged_1MiB_seconds"].items():
        print(f"  1 MiB ranged GET {name}: {seconds * 1000:.1f} ms")
    for name, seconds in report["complete_256MiB_32_parts_seconds"].items():
        print(f"  CompleteMultipartUpload 256 MiB / 32 parts, {name} checksum: {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
