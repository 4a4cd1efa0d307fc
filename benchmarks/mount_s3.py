"""Issue 6's "Speed" benchmark: objectfs against s3fs and rclone mount, through the WAN profiles.

One run mounts the same moto server (``s3server.py``, ranged-GET ceiling removed), behind
the WAN emulator (``wanem``), with each tool in turn, and measures with ordinary file calls
and tools:

==================  ==========================================================================
``seq_write``       copy a ``--size`` MiB file of random bytes in (1 MiB writes); timed from
                    ``open`` until the object is complete in S3 (``close`` for objectfs and
                    s3fs, which upload on close; rclone uploads in the background after its
                    ``--vfs-write-back`` delay, so its time runs until S3 has the object);
                    read back from moto directly and compared (XXH3-128) with the source
``seq_read``        a fresh mount (caches dropped, empty cache folder) reads the file back;
                    hashed and compared with the source
``cached_p50/p99``  the same 4 KiB block read ``--latency-reads`` times after a first read,
                    each ``pread`` timed; ``posix_fadvise(DONTNEED)`` before each drops the
                    kernel's page cache for it, so every read reaches the filesystem's own
                    cache (objectfs's counters confirm: one L1 hit per read); compared with
                    the source's block
``ls_cold/warm``    ``ls -l`` of a ``--files``-file directory (objects put directly into moto,
                    no POSIX headers): first on that mount, then again at once; the entries
                    counted
``small_files``     create ``--small-files`` files of 4 KiB; timed until S3 lists them all;
                    every object read back from moto and compared
``fio_randread``    ``fio --rw=randread --bs=4k`` for ``--fio-seconds`` over the big file, on
                    a third fresh mount; IOPS, and the 99th percentile latency in the detail
``daemon_rss``      the largest resident memory of the mount's process tree, sampled after
                    each workload
==================  ==========================================================================

Mounts (each in the foreground as a child process, unmounted with ``fusermount3 -u`` in a
``finally``, ``-uz`` as the last resort; each mount gets an empty cache folder):

* ``objectfs -f s3://bench MNT --cache-dir DIR`` with its defaults;
* ``s3fs bench MNT -f -o url=...,use_path_request_style,passwd_file=...`` with its defaults
  (no local cache: ``use_cache`` is off unless given);
* ``rclone mount :s3:bench MNT --vfs-cache-mode full --cache-dir DIR``: ``full`` is the mode
  rclone's documentation offers for applications that read at random offsets and reuse
  data, which this workload does (``off`` cannot serve random writes, ``writes`` caches no
  reads).

Workloads run in worker processes (``--worker``) with a timeout, so a hung mount cannot
hang the benchmark. Numbers on this machine (2 vCPUs shared by moto, the emulator, the
mount daemon and the client) are noisy: compare tools within one run.

    python benchmarks/mount_s3.py --size 64 --files 1000 --small-files 200 --fio-seconds 5
    python benchmarks/mount_s3.py --json > mount.json          # the issue's sizes
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure import run_measured, tree_rss_mib
from s3server import S3Server
from tools import aws_env, find_debian_tool, rclone_args
from wanem import MB, WanEmulatorProcess

from blobcodec.checksum import Xxh3_128, xxh3_128

__all__ = ["TOOLS", "Result", "main", "run_benchmark"]

MiB = 1024 * 1024
BUCKET = "bench"
TOOLS = ("objectfs", "s3fs", "rclone")
MANY = "many"
"""The directory of ``--files`` objects ``ls -l`` lists."""
SMALL_FILE_BYTES = 4096
BLOCK = 4096
MOUNT_TIMEOUT = 60.0
UNMOUNT_TIMEOUT = 300.0
WORKER_TIMEOUT = 3600.0
DURABLE_TIMEOUT = 600.0
"""Seconds a written file may take, after ``close``, to be complete in S3."""
POLL = 0.05
HIGHER_IS_BETTER = frozenset({"MB/s", "files/s", "IOPS"})


@dataclass
class Result:
    """One measurement of one tool on one profile."""

    profile: str
    tool: str
    workload: str
    value: float | None
    unit: str
    ok: bool = False
    detail: str = ""


# --- workers: the file operations, each in its own process ----------------------------------


def _small_content(index: int) -> bytes:
    """The bytes of small file ``index``: distinct per file, :data:`SMALL_FILE_BYTES` long."""
    line = f"small file {index:06d}\n".encode()
    return (line * (SMALL_FILE_BYTES // len(line) + 1))[:SMALL_FILE_BYTES]


def _worker(name: str, args: list[str]) -> dict[str, Any]:
    """Run one workload on a mounted path (``--worker NAME ARGS...``); a JSON-able result."""
    if name == "seq-write":
        source, target = args
        began = time.perf_counter()
        with open(source, "rb") as reader, open(target, "wb") as writer:
            while chunk := reader.read(MiB):
                writer.write(chunk)
        return {"seconds": time.perf_counter() - began}
    if name == "seq-read":
        (path,) = args
        digest = Xxh3_128()
        buffer = bytearray(MiB)
        size = 0
        began = time.perf_counter()
        with open(path, "rb", buffering=0) as reader:
            while count := reader.readinto(buffer):
                digest.update(memoryview(buffer)[:count])
                size += count
        return {"seconds": time.perf_counter() - began, "bytes": size, "xxh3": digest.hexdigest()}
    if name == "small-files":
        directory, count = Path(args[0]), int(args[1])
        began = time.perf_counter()
        for index in range(count):
            (directory / f"f{index:06d}").write_bytes(_small_content(index))
        return {"seconds": time.perf_counter() - began}
    if name == "cached-latency":
        path, offset, reads = args[0], int(args[1]), int(args[2])
        fd = os.open(path, os.O_RDONLY)
        try:
            first = os.pread(fd, BLOCK, offset)
            times = []
            for _ in range(reads):
                os.posix_fadvise(fd, offset, BLOCK, os.POSIX_FADV_DONTNEED)
                began = time.perf_counter()
                data = os.pread(fd, BLOCK, offset)
                times.append(time.perf_counter() - began)
                if data != first:
                    raise RuntimeError("a cached read returned different bytes")
        finally:
            os.close(fd)
        return {"times": times, "xxh3": f"{xxh3_128(first):032x}"}
    raise SystemExit(f"unknown worker {name!r}")


def _run_worker(name: str, *args: str) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name, *args]
    run = run_measured(command, dict(os.environ), timeout=WORKER_TIMEOUT)
    if run.status != 0:
        last = run.stderr_tail.strip().splitlines()
        raise RuntimeError(last[-1] if last else f"worker {name} exited {run.status}")
    answer: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return answer


def _percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted values."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


# --- S3, directly (not through the emulator): seeding and verifying --------------------------


class DirectBucket:
    """The benchmark bucket, read and written straight on moto (the truth the mounts are checked
    against)."""

    def __init__(self, endpoint_url: str) -> None:
        import boto3
        from botocore.config import Config

        self._client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
            config=Config(max_pool_connections=16),
        )

    def put(self, key: str, data: bytes) -> None:
        self._client.put_object(Bucket=BUCKET, Key=key, Body=data)

    def size(self, key: str) -> int | None:
        try:
            return int(self._client.head_object(Bucket=BUCKET, Key=key)["ContentLength"])
        except self._client.exceptions.ClientError:
            return None

    def keys(self, prefix: str) -> dict[str, int]:
        found: dict[str, int] = {}
        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for page in pages:
            found.update({item["Key"]: item["Size"] for item in page.get("Contents", [])})
        return found

    def get(self, key: str) -> bytes:
        body: bytes = self._client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body

    def xxh3(self, key: str) -> str:
        digest = Xxh3_128()
        body = self._client.get_object(Bucket=BUCKET, Key=key)["Body"]
        for chunk in body.iter_chunks(8 * MiB):
            digest.update(chunk)
        return digest.hexdigest()

    def delete_prefix(self, prefix: str) -> None:
        keys = list(self.keys(prefix))
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            self._client.delete_objects(
                Bucket=BUCKET, Delete={"Objects": [{"Key": key} for key in batch]}
            )


def _wait_until(check: Callable[[], bool], what: str) -> float:
    """Seconds until ``check()`` is true; TimeoutError after :data:`DURABLE_TIMEOUT`."""
    began = time.perf_counter()
    while not check():
        if time.perf_counter() - began > DURABLE_TIMEOUT:
            raise TimeoutError(f"{what} not in S3 {DURABLE_TIMEOUT:.0f} s after close")
        time.sleep(POLL)
    return time.perf_counter() - began


def _seed_many(bucket: DirectBucket, files: int) -> None:
    """``many/`` (a marker) and ``files`` small objects under it, as another tool would write."""
    bucket.put(f"{MANY}/", b"")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: bucket.put(f"{MANY}/m{i:06d}", b"x" * 100), range(files)))


# --- mounts ----------------------------------------------------------------------------------


def _mount_command(
    tool: str, endpoint: str, mountpoint: Path, state: Path, objectfs_options: str
) -> tuple[list[str], dict[str, str]]:
    """The command that mounts ``tool`` in the foreground, and its environment."""
    env = aws_env(endpoint, state)  # also drops AWS_CA_BUNDLE, which rclone rejects over http
    if tool == "objectfs":
        command = [sys.executable, "-m", "objectfs", "-f", f"s3://{BUCKET}", str(mountpoint)]
        if objectfs_options:
            command += ["-o", objectfs_options]
        return [*command, "--cache-dir", str(state / "cache")], env
    if tool == "s3fs":
        passwd = state / "passwd-s3fs"
        passwd.write_text("testing:testing\n")
        passwd.chmod(0o600)
        s3fs = find_debian_tool("s3fs", install=False) or "s3fs"
        options = f"url={endpoint},use_path_request_style,passwd_file={passwd}"
        return [s3fs, BUCKET, str(mountpoint), "-f", "-o", options], env
    if tool == "rclone":
        rclone = find_debian_tool("rclone", install=False) or "rclone"
        command = [rclone, "mount", f":s3:{BUCKET}", str(mountpoint), *rclone_args(endpoint)]
        return [*command, "--vfs-cache-mode", "full", "--cache-dir", str(state / "cache")], env
    raise ValueError(f"unknown tool {tool!r} (known: {', '.join(TOOLS)})")


def _fusermount(*args: str) -> bool:
    done = subprocess.run(["fusermount3", *args], capture_output=True, timeout=60, check=False)
    return done.returncode == 0


@contextmanager
def mounted(
    tool: str, endpoint: str, state: Path, objectfs_options: str = ""
) -> Iterator[tuple[Path, int]]:
    """Mount ``tool`` at ``state/mnt`` with an empty cache folder; yield (mountpoint, pid)."""
    shutil.rmtree(state, ignore_errors=True)
    mountpoint = state / "mnt"
    mountpoint.mkdir(parents=True)
    command, env = _mount_command(tool, endpoint, mountpoint, state, objectfs_options)
    log = state / "mount.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not os.path.ismount(mountpoint):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace").strip().splitlines()
                raise RuntimeError(f"{tool} did not mount: {tail[-1] if tail else 'no output'}")
            time.sleep(0.1)
        yield mountpoint, process.pid
    finally:
        _unmount(mountpoint, process)


def _unmount(mountpoint: Path, process: subprocess.Popen[bytes]) -> None:
    """``fusermount3 -u`` (retried while busy), else ``-uz``; wait for the daemon, kill it last."""
    for _ in range(10):
        if not os.path.ismount(mountpoint) or _fusermount("-u", str(mountpoint)):
            break
        time.sleep(0.5)
    else:
        print(f"mount_s3: {mountpoint} is busy: lazy unmount", file=sys.stderr)
        _fusermount("-uz", str(mountpoint))
    try:
        process.wait(UNMOUNT_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"mount_s3: {mountpoint}: daemon did not exit, killing it", file=sys.stderr)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)


# --- one tool on one profile -----------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What every run shares: sizes, the source file and its hashes, the direct bucket."""

    size_mib: int
    files: int
    small_files: int
    fio_seconds: int
    latency_reads: int
    source: Path
    source_xxh3: str
    block_offset: int
    block_xxh3: str
    bucket: DirectBucket
    fio: str | None
    objectfs_options: str


def _ls(directory: Path, files: int) -> tuple[float, bool, str]:
    run = run_measured(
        ["ls", "-l", str(directory)], {**os.environ, "LC_ALL": "C"}, timeout=WORKER_TIMEOUT
    )
    entries = [line for line in run.stdout.splitlines() if not line.startswith("total ")]
    ok = run.status == 0 and len(entries) == files
    detail = (
        "" if ok else f"exit {run.status}, {len(entries)} entries: {run.stderr_tail.strip()[-120:]}"
    )
    return run.seconds, ok, detail


def _fio(plan: Plan, path: Path) -> tuple[float, bool, str]:
    assert plan.fio is not None
    command = [
        plan.fio,
        "--name=rand",
        f"--filename={path}",
        "--rw=randread",
        "--bs=4k",
        f"--size={plan.size_mib}m",
        f"--runtime={plan.fio_seconds}",
        "--time_based",
        "--readonly",
        "--ioengine=psync",
        "--output-format=json",
    ]
    run = run_measured(command, dict(os.environ), timeout=plan.fio_seconds + WORKER_TIMEOUT)
    if run.status != 0:
        raise RuntimeError(f"fio exit {run.status}: {run.stderr_tail.strip()[-200:]}")
    job = json.loads(run.stdout[run.stdout.index("{") :])["jobs"][0]
    read = job["read"]
    p99_ms = read["clat_ns"]["percentile"]["99.000000"] / 1e6
    ok = job["error"] == 0 and read["io_bytes"] > 0
    return float(read["iops"]), ok, f"p99 {p99_ms:.2f} ms"


Workload = Callable[[], tuple[float, bool, str]]
"""A measurement: returns (value, verified against the truth, detail)."""


def _measure(
    results: list[Result], profile: str, tool: str, workload: str, unit: str, body: Workload
) -> None:
    """Run ``body``; record its row, or a failed row with the error if it raised."""
    try:
        value, ok, detail = body()
        result = Result(profile, tool, workload, value, unit, ok, detail)
    except Exception as exc:
        result = Result(profile, tool, workload, None, unit, False, f"{exc}"[:300])
    results.append(result)
    _print_result(result, file=sys.stderr)


def _seq_write(plan: Plan, mnt: Path, key: str) -> tuple[float, bool, str]:
    seconds = _run_worker("seq-write", str(plan.source), str(mnt / key))["seconds"]
    expected = plan.size_mib * MiB
    waited = _wait_until(lambda: plan.bucket.size(key) == expected, key)
    ok = plan.bucket.xxh3(key) == plan.source_xxh3
    detail = f"{waited:.1f} s of it after close" if waited > 0.5 else ""
    return expected / (seconds + waited) / MB, ok, detail


def _small_files(plan: Plan, mnt: Path, prefix: str) -> tuple[float, bool, str]:
    count = plan.small_files
    seconds = _run_worker("small-files", str(mnt / prefix), str(count))["seconds"]
    waited = _wait_until(lambda: len(plan.bucket.keys(prefix)) >= count, prefix)
    expected = {f"{prefix}f{i:06d}": _small_content(i) for i in range(count)}
    with ThreadPoolExecutor(8) as pool:
        stored = dict(zip(expected, pool.map(plan.bucket.get, expected), strict=True))
    detail = f"{waited:.1f} s of it after close" if waited > 0.5 else ""
    return count / (seconds + waited), stored == expected, detail


def _seq_read(plan: Plan, mnt: Path, key: str) -> tuple[float, bool, str]:
    answer = _run_worker("seq-read", str(mnt / key))
    ok = answer["xxh3"] == plan.source_xxh3 and answer["bytes"] == plan.size_mib * MiB
    return answer["bytes"] / answer["seconds"] / MB, ok, ""


def _cached_latency(plan: Plan, mnt: Path, key: str) -> tuple[Workload, Workload]:
    """Run the cached-read worker once; the p50 and p99 rows as workloads."""
    try:
        answer = _run_worker(
            "cached-latency", str(mnt / key), str(plan.block_offset), str(plan.latency_reads)
        )
    except Exception as exc:
        failure = exc

        def failed() -> tuple[float, bool, str]:
            raise failure

        return failed, failed
    ordered = sorted(answer["times"])
    ok = answer["xxh3"] == plan.block_xxh3
    detail = f"{len(ordered)} reads, max {ordered[-1] * 1000:.2f} ms"
    p50, p99 = (_percentile(ordered, q) * 1000 for q in (0.50, 0.99))
    return (lambda: (p50, ok, detail)), (lambda: (p99, ok, detail))


def run_tool(plan: Plan, profile: str, tool: str, endpoint: str, scratch: Path) -> list[Result]:
    """Every workload for ``tool`` through ``endpoint``, on three fresh mounts."""
    results: list[Result] = []
    prefix = f"{profile}-{tool}"
    key = f"{prefix}/seq.bin"
    rss = 0.0

    def measure(workload: str, unit: str, body: Workload) -> None:
        _measure(results, profile, tool, workload, unit, body)

    def mount(number: int) -> AbstractContextManager[tuple[Path, int]]:
        return mounted(tool, endpoint, scratch / f"{prefix}-{number}", plan.objectfs_options)

    with mount(1) as (mnt, pid):
        (mnt / prefix / "small").mkdir(parents=True)
        measure("seq_write", "MB/s", lambda: _seq_write(plan, mnt, key))
        rss = max(rss, tree_rss_mib(pid))
        measure("small_files", "files/s", lambda: _small_files(plan, mnt, f"{prefix}/small/"))
        rss = max(rss, tree_rss_mib(pid))

    with mount(2) as (mnt, pid):
        measure("seq_read", "MB/s", lambda: _seq_read(plan, mnt, key))
        rss = max(rss, tree_rss_mib(pid))
        p50, p99 = _cached_latency(plan, mnt, key)
        measure("cached_p50", "ms", p50)
        measure("cached_p99", "ms", p99)
        measure("ls_cold", "s", lambda: _ls(mnt / MANY, plan.files))
        measure("ls_warm", "s", lambda: _ls(mnt / MANY, plan.files))
        rss = max(rss, tree_rss_mib(pid))

    with mount(3) as (mnt, pid):
        if plan.fio is not None:
            measure("fio_randread", "IOPS", lambda: _fio(plan, mnt / key))
        rss = max(rss, tree_rss_mib(pid))

    results.append(Result(profile, tool, "daemon_rss", rss, "MiB", True))
    plan.bucket.delete_prefix(f"{prefix}/")
    return results


# --- the benchmark ---------------------------------------------------------------------------


def _prepare_source(scratch: Path, size_mib: int) -> tuple[Path, str, int, str]:
    """A file of random bytes; its XXH3-128, and a 4 KiB-aligned offset mid-file and that
    block's XXH3-128."""
    source = scratch / "source.bin"
    digest = Xxh3_128()
    with source.open("wb") as handle:
        for _ in range(size_mib):
            chunk = os.urandom(MiB)
            digest.update(chunk)
            handle.write(chunk)
    offset = (size_mib * MiB // 2 // BLOCK) * BLOCK + BLOCK
    with source.open("rb") as handle:
        handle.seek(offset)
        block = handle.read(BLOCK)
    return source, digest.hexdigest(), offset, f"{xxh3_128(block):032x}"


def run_benchmark(args: argparse.Namespace) -> list[Result]:
    tools = args.tools.split(",")
    install = not args.no_install
    for tool in ("s3fs", "rclone"):
        if tool in tools and find_debian_tool(tool, install=install) is None:
            raise SystemExit(f"mount_s3: {tool} is needed (or leave it out of --tools)")
    fio = find_debian_tool("fio", install=install)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="mount_s3-") as tmp, S3Server() as server:
        scratch = Path(tmp)
        server.make_bucket(BUCKET)
        bucket = DirectBucket(server.endpoint_url)
        print(f"seeding {args.files} objects under {MANY}/", file=sys.stderr)
        _seed_many(bucket, args.files)
        source, source_xxh3, offset, block_xxh3 = _prepare_source(scratch, args.size)
        plan = Plan(
            size_mib=args.size,
            files=args.files,
            small_files=args.small_files,
            fio_seconds=args.fio_seconds,
            latency_reads=args.latency_reads,
            source=source,
            source_xxh3=source_xxh3,
            block_offset=offset,
            block_xxh3=block_xxh3,
            bucket=bucket,
            fio=fio,
            objectfs_options=args.objectfs_options,
        )
        for profile in args.profiles.split(","):
            with WanEmulatorProcess(profile, server.endpoint_url, seed=1) as emu:
                for tool in tools:
                    try:
                        results += run_tool(plan, profile, tool, emu.endpoint_url, scratch)
                    except Exception as exc:  # a mount that cannot be made: one failed row
                        failed = Result(profile, tool, "mount", None, "", False, str(exc)[:300])
                        results.append(failed)
                        _print_result(failed, file=sys.stderr)
    return results


def _ratios(results: list[Result]) -> dict[str, float]:
    """objectfs over each other tool per profile and workload; above 1 means objectfs is better."""
    values = {(r.profile, r.tool, r.workload): r for r in results if r.ok and r.value}
    found: dict[str, float] = {}
    for (profile, tool, workload), ours in values.items():
        if tool != "objectfs" or workload == "daemon_rss":
            continue
        for other in TOOLS[1:]:
            theirs = values.get((profile, other, workload))
            if theirs is None or not theirs.value or not ours.value:
                continue
            better = ours.unit in HIGHER_IS_BETTER
            ratio = ours.value / theirs.value if better else theirs.value / ours.value
            found[f"{profile} {workload}: objectfs vs {other}"] = ratio
    return found


def _targets(results: list[Result], ratios: dict[str, float]) -> list[tuple[str, bool | None]]:
    """The issue's targets: met (True), missed (False) or not measured (None)."""

    def ours(profile: str, workload: str) -> float | None:
        for r in results:
            if (r.profile, r.tool, r.workload) == (profile, "objectfs", workload) and r.ok:
                return r.value
        return None

    def at_least(name: str, bound: float) -> bool | None:
        return None if name not in ratios else ratios[name] >= bound

    def below(value: float | None, bound: float) -> bool | None:
        return None if value is None else value < bound

    profiles = sorted({r.profile for r in results})
    targets: list[tuple[str, bool | None]] = [
        ("wan seq_read >= 2x s3fs", at_least("wan seq_read: objectfs vs s3fs", 2.0)),
        ("wan seq_read ahead of rclone", at_least("wan seq_read: objectfs vs rclone", 1.0)),
    ]
    for profile in profiles:
        targets += [
            (f"{profile} cached_p99 < 1 ms", below(ours(profile, "cached_p99"), 1.0)),
            (f"{profile} ls_warm < 1 s", below(ours(profile, "ls_warm"), 1.0)),
            (
                f"{profile} small_files >= s3fs",
                at_least(f"{profile} small_files: objectfs vs s3fs", 1.0),
            ),
        ]
    return targets


HEADER = f"{'profile':8s} {'tool':9s} {'workload':13s} {'value':>10s} {'unit':8s} check  detail"


def _print_result(result: Result, file: Any = sys.stdout) -> None:
    value = f"{result.value:10.3g}" if result.value is not None else f"{'-':>10s}"
    check = "ok" if result.ok else "FAIL"
    print(
        f"{result.profile:8s} {result.tool:9s} {result.workload:13s} {value} {result.unit:8s} "
        f"{check:5s}  {result.detail}",
        file=file,
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        print(json.dumps(_worker(argv[1], argv[2:])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=1024, help="MiB of the big file (1024)")
    parser.add_argument("--files", type=int, default=10_000, help="files ls -l lists (10000)")
    parser.add_argument("--small-files", type=int, default=1000, help="small files made (1000)")
    parser.add_argument("--fio-seconds", type=int, default=15, help="fio's runtime (15)")
    parser.add_argument("--latency-reads", type=int, default=1000, help="timed cached reads")
    parser.add_argument("--profiles", default="lan,wan")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument(
        "--objectfs-options", default="", help="objectfs -o options, e.g. metadata_ttl=60"
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get missing tools")
    args = parser.parse_args(argv)
    # SIGTERM ends the run through the ``finally`` blocks, which unmount everything.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    print(HEADER, file=sys.stderr)
    results = run_benchmark(args)
    ratios = _ratios(results)
    targets = _targets(results, ratios)
    failed = any(not r.ok for r in results)
    if args.json:
        document = {
            "size_mib": args.size,
            "files": args.files,
            "small_files": args.small_files,
            "objectfs_options": args.objectfs_options,
            "results": [asdict(r) for r in results],
            "ratios": ratios,
            "targets": dict(targets),
        }
        print(json.dumps(document, indent=2))
        return 1 if failed else 0
    print(HEADER)
    for result in results:
        _print_result(result)
    print()
    for name, ratio in sorted(ratios.items()):
        print(f"{name}: {ratio:.2f}x")
    print()
    for name, met in targets:
        print(f"target {name}: {'met' if met else 'not measured' if met is None else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
