"""objectfs mounted for real: /dev/fuse, a moto S3 server over HTTP, ordinary tools.

Every test mounts with ``python -m objectfs -f`` in a subprocess and checks the
result against outside truth: the source files, GNU tar, git, and the bucket
as boto3 sees it. Mounts are always stopped in ``finally``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from objectfs.testing import ForegroundMount, is_mounted
from s3opt.testing import MotoServer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.fuse,
    pytest.mark.skipif(not Path("/dev/fuse").exists(), reason="/dev/fuse is missing"),
]

SOURCE_TREE = Path(__file__).resolve().parents[2] / "packages" / "objectfs" / "src"
MOUNT_WAIT = 30.0


def objects(server: MotoServer, bucket: str, prefix: str = "") -> dict[str, bytes]:
    client = server.boto3_client()
    found: dict[str, bytes] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def start_mount(
    server: MotoServer, url: str, where: Path, cache: Path, *extra: str
) -> ForegroundMount:
    """``python -m objectfs -f URL WHERE`` on the moto server, a 1 s metadata TTL."""
    options = ("--cache-dir", str(cache), "--metadata-ttl", "1", *extra)
    return ForegroundMount(url, where, *options, env=server.env)


@contextlib.contextmanager
def mounted(
    server: MotoServer, bucket: str, tmp_path: Path, *extra: str, prefix: str = "work"
) -> Iterator[ForegroundMount]:
    url = f"s3://{bucket}/{prefix}"
    with start_mount(server, url, tmp_path / "mnt", tmp_path / "cache", *extra) as mount:
        yield mount


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args} failed: {done.stderr}"
    return done.stdout


def tree_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.slow
def test_cp_tree_in_and_out_byte_identical(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    with mounted(moto_server, bucket, tmp_path) as mount:
        run("cp", "-r", SOURCE_TREE, mount.path / "src")
        out = tmp_path / "out"
        run("cp", "-r", mount.path / "src", out)
        run("diff", "-r", SOURCE_TREE, out)
        listing = run("ls", mount.path / "src" / "objectfs").split()
        assert sorted(listing) == sorted(p.name for p in (SOURCE_TREE / "objectfs").iterdir())
        expected = {f"work/src/{k}": v for k, v in tree_files(SOURCE_TREE).items()}
        stored = {
            k: v for k, v in objects(moto_server, bucket, "work/").items() if not k.endswith("/")
        }
        assert stored == expected
        run("rm", "-r", mount.path / "src")
        assert os.listdir(mount.path) == []
    assert objects(moto_server, bucket, "work/") == {}


@pytest.mark.slow
def test_directory_listing_spans_s3_pages(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    client = moto_server.boto3_client()
    names = [f"entry-{i:04d}.txt" for i in range(1010)]  # more than one 1,000-key LIST page
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(lambda n: client.put_object(Bucket=bucket, Key=f"work/big/{n}", Body=n), names)
        )
    with mounted(moto_server, bucket, tmp_path) as mount:
        assert sorted(os.listdir(mount.path / "big")) == names
        long = run("ls", "-l", mount.path / "big").splitlines()
        assert len(long) == 1011  # "total" and one line per entry
        assert long[-1].split()[4] == str(len(names[-1]))
        assert mount.stats()["requests"]["LIST"] >= 2


@pytest.mark.slow
def test_tar_round_trip_keeps_contents_and_mtimes(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    archive = tmp_path / "in.tar"
    run("tar", "-cf", archive, "-C", SOURCE_TREE, ".")
    with mounted(moto_server, bucket, tmp_path) as mount:
        (mount.path / "t").mkdir()
        run("tar", "-xf", archive, "-C", mount.path / "t")
        back = tmp_path / "back"
        back.mkdir()
        run("tar", "-cf", tmp_path / "out.tar", "-C", mount.path / "t", ".")
        run("tar", "-xf", tmp_path / "out.tar", "-C", back)
    run("diff", "-r", SOURCE_TREE, back)
    for original in SOURCE_TREE.rglob("*.py"):
        copy = back / original.relative_to(SOURCE_TREE)
        assert int(copy.stat().st_mtime) == int(original.stat().st_mtime), copy


def test_rsync_round_trip(moto_server: MotoServer, bucket: str, tmp_path: Path) -> None:
    if shutil.which("rsync") is None:
        pytest.skip("rsync is not installed on this machine")
    with mounted(moto_server, bucket, tmp_path) as mount:
        run("rsync", "-rlt", f"{SOURCE_TREE}/", mount.path / "r")
        run("rsync", "-rlt", f"{mount.path / 'r'}/", tmp_path / "back")
    run("diff", "-r", SOURCE_TREE, tmp_path / "back")


@pytest.mark.slow
def test_git_init_and_commit_inside_the_mount(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed on this machine")
    env = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env |= {"GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"}
    os.environ.update(env)
    try:
        with mounted(moto_server, bucket, tmp_path) as mount:
            repo = mount.path / "repo"
            run("git", "init", "-q", repo)
            (repo / "README").write_text("hello\n")
            run("git", "-C", repo, "add", "README")
            run("git", "-C", repo, "commit", "-q", "-m", "first")
            assert run("git", "-C", repo, "log", "--format=%s").strip() == "first"
            assert run("git", "-C", repo, "status", "--porcelain") == ""
            clone = tmp_path / "clone"
            run("git", "clone", "-q", repo, clone)
        assert (clone / "README").read_text() == "hello\n"
    finally:
        for name in env:
            os.environ.pop(name, None)


def test_concurrent_readers_of_one_large_file(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    data = os.urandom(6 * 2**20 + 12345)
    moto_server.boto3_client().put_object(Bucket=bucket, Key="work/big.bin", Body=data)
    digests: list[str] = []

    def reader(chunk: int) -> None:
        digest = hashlib.sha256()
        with (mount.path / "big.bin").open("rb", buffering=0) as file:
            while block := file.read(chunk):
                digest.update(block)
        digests.append(digest.hexdigest())

    with mounted(moto_server, bucket, tmp_path) as mount:
        threads = [threading.Thread(target=reader, args=(n,)) for n in (4096, 65536, 1 << 20, 777)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        stats = mount.stats()
    assert digests == [hashlib.sha256(data).hexdigest()] * 4
    assert stats["requests"]["GET"] <= 7 * 2  # each 1 MiB block fetched about once


def test_random_writes_in_the_middle(moto_server: MotoServer, bucket: str, tmp_path: Path) -> None:
    original = bytearray(os.urandom(3 * 2**20))
    moto_server.boto3_client().put_object(Bucket=bucket, Key="work/f.bin", Body=bytes(original))
    with mounted(moto_server, bucket, tmp_path) as mount:
        with (mount.path / "f.bin").open("r+b") as file:
            file.seek(1_500_000)
            file.write(b"A" * 100)
            file.seek(10)
            file.write(b"B" * 5)
            file.flush()
            os.fsync(file.fileno())
            file.seek(len(original) + 10)
            file.write(b"tail")  # grows after the fsync
        original[1_500_000:1_500_100] = b"A" * 100
        original[10:15] = b"B" * 5
        original += b"\x00" * 10 + b"tail"
        assert (mount.path / "f.bin").read_bytes() == original
    assert objects(moto_server, bucket, "work/f.bin")["work/f.bin"] == original


@pytest.mark.slow
def test_rename_of_a_directory_with_many_files(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    client = moto_server.boto3_client()
    for i in range(150):
        client.put_object(Bucket=bucket, Key=f"work/many/sub{i % 3}/f{i:03d}", Body=b"%d" % i)
    with mounted(moto_server, bucket, tmp_path) as mount:
        os.rename(mount.path / "many", mount.path / "moved")
        assert not (mount.path / "many").exists()
        assert (mount.path / "moved" / "sub1" / "f004").read_bytes() == b"4"
        assert len(list((mount.path / "moved").rglob("f*"))) == 150
    keys = objects(moto_server, bucket, "work/")
    assert not any(k.startswith("work/many/") for k in keys)
    files = {k: v for k, v in keys.items() if not k.endswith("/")}
    assert files == {f"work/moved/sub{i % 3}/f{i:03d}": b"%d" % i for i in range(150)}


@pytest.mark.slow
def test_metadata_survives_a_remount(moto_server: MotoServer, bucket: str, tmp_path: Path) -> None:
    with mounted(moto_server, bucket, tmp_path) as mount:
        target = mount.path / "f.txt"
        target.write_text("x")
        os.chmod(target, 0o600)
        os.utime(target, ns=(1_600_000_000_500_000_000, 1_600_000_000_500_000_000))
        (mount.path / "d").mkdir(mode=0o750)
        os.symlink("f.txt", mount.path / "link")
    with mounted(moto_server, bucket, tmp_path) as mount:
        info = (mount.path / "f.txt").stat()
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_mtime_ns == 1_600_000_000_500_000_000
        assert stat.S_IMODE((mount.path / "d").stat().st_mode) == 0o750
        assert os.readlink(mount.path / "link") == "f.txt"
    head = moto_server.boto3_client().head_object(Bucket=bucket, Key="work/f.txt")
    assert head["Metadata"]["mode"] == str(stat.S_IFREG | 0o600)
    assert head["Metadata"]["mtime"] == "1600000000.5"


@pytest.mark.slow
def test_l2_cache_survives_a_remount(moto_server: MotoServer, bucket: str, tmp_path: Path) -> None:
    data = os.urandom(4 * 2**20)
    moto_server.boto3_client().put_object(Bucket=bucket, Key="work/cached.bin", Body=data)
    with mounted(moto_server, bucket, tmp_path) as mount:
        assert (mount.path / "cached.bin").read_bytes() == data
        first = mount.stats()
    assert first["requests"]["GET"] >= 1
    assert first["bytes"]["fetched"] >= len(data)
    with mounted(moto_server, bucket, tmp_path) as mount:
        assert (mount.path / "cached.bin").read_bytes() == data
        second = mount.stats()
    assert second["requests"]["GET"] == 0
    # Read-ahead moves blocks from L2 to L1 before the reader asks: no lookup misses.
    assert second["cache"]["misses"] == 0
    assert second["cache"]["l2"]["hits"] >= 1
    blocks = tmp_path / "cache"
    modes = {stat.S_IMODE(p.stat().st_mode) for p in blocks.rglob("*") if p.is_file()}
    assert modes <= {0o600}


def test_objects_written_with_s3fs_headers(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    client = moto_server.boto3_client()
    s3fs = {"mode": "33261", "uid": "1234", "gid": "4321", "mtime": "1600000000"}
    client.put_object(Bucket=bucket, Key="work/tool.sh", Body=b"#!/bin/sh\n", Metadata=s3fs)
    client.put_object(Bucket=bucket, Key="work/private/", Body=b"", Metadata={"mode": "16832"})
    client.put_object(Bucket=bucket, Key="work/ln", Body=b"tool.sh", Metadata={"mode": "41471"})
    client.put_object(Bucket=bucket, Key="work/plain.txt", Body=b"no headers")
    with mounted(moto_server, bucket, tmp_path) as mount:
        tool = (mount.path / "tool.sh").stat()
        assert tool.st_mode == stat.S_IFREG | 0o755
        assert (tool.st_uid, tool.st_gid) == (1234, 4321)
        assert tool.st_mtime == 1_600_000_000
        assert (mount.path / "private").stat().st_mode == stat.S_IFDIR | 0o700
        assert os.readlink(mount.path / "ln") == "tool.sh"
        assert (mount.path / "ln").read_bytes() == b"#!/bin/sh\n"
        plain = (mount.path / "plain.txt").stat()
        assert plain.st_mode == stat.S_IFREG | 0o644
        assert plain.st_uid == os.getuid()
        names = sorted(os.listdir(mount.path))
        assert names == ["ln", "plain.txt", "private", "tool.sh"]
        (mount.path / "mine").write_bytes(b"1")
    head = client.head_object(Bucket=bucket, Key="work/mine")["Metadata"]
    assert head["mode"] == str(stat.S_IFREG | 0o644)
    assert head["uid"] == str(os.getuid())
    assert abs(float(head["mtime"]) - time.time()) < 120


@pytest.mark.slow
def test_xattrs_links_and_read_only(moto_server: MotoServer, bucket: str, tmp_path: Path) -> None:
    with mounted(moto_server, bucket, tmp_path) as mount:
        target = mount.path / "f"
        target.write_bytes(b"data")
        os.setxattr(target, "user.color", b"blue")
        assert os.getxattr(target, "user.color") == b"blue"
        assert "user.color" in os.listxattr(target)
        with pytest.raises(OSError, match="Operation not supported") as refused:
            os.setxattr(target, "trusted.x", b"1")
        assert refused.value.errno == errno.ENOTSUP
        with pytest.raises(PermissionError) as link:
            os.link(target, mount.path / "hard")
        assert link.value.errno == errno.EPERM
        assert target.read_bytes() == b"data"
    with mounted(moto_server, bucket, tmp_path, "-o", "ro") as mount:
        assert os.getxattr(mount.path / "f", "user.color") == b"blue"
        with pytest.raises(OSError, match="Read-only file system") as ro:
            (mount.path / "g").write_bytes(b"x")
        assert ro.value.errno == errno.EROFS


def test_deleted_behind_the_mounts_back(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    client = moto_server.boto3_client()
    client.put_object(Bucket=bucket, Key="work/doomed", Body=b"soon gone")
    with mounted(moto_server, bucket, tmp_path) as mount:
        assert (mount.path / "doomed").read_bytes() == b"soon gone"
        client.delete_object(Bucket=bucket, Key="work/doomed")
        with pytest.raises(FileNotFoundError):
            (mount.path / "doomed").read_bytes()


def test_fsynced_data_survives_sigkill(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    with mounted(moto_server, bucket, tmp_path) as mount:
        fd = os.open(mount.path / "journal", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.write(fd, b"committed")
            os.fsync(fd)
            mount.stop(signal.SIGKILL)
        finally:
            with contextlib.suppress(OSError):
                os.close(fd)
    assert objects(moto_server, bucket, "work/journal") == {"work/journal": b"committed"}


@pytest.mark.slow
def test_unreachable_s3_gives_eio_within_the_timeout(bucket: str, tmp_path: Path) -> None:
    server = MotoServer()
    server.start()
    try:
        server.make_bucket(bucket)
        with mounted(server, bucket, tmp_path, "-o", "request_timeout=2") as mount:
            server.stop()
            started = time.monotonic()
            done = subprocess.run(
                ["ls", mount.path / "never-seen"], capture_output=True, text=True, timeout=60
            )
            assert done.returncode != 0
            assert "Input/output error" in done.stderr
            assert time.monotonic() - started < 15
    finally:
        server.stop()


@pytest.mark.slow
def test_cli_background_stats_and_unmount(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    where = tmp_path / "bg"
    where.mkdir()
    env = {**os.environ, **moto_server.env}
    cli = [sys.executable, "-m", "objectfs"]
    log = tmp_path / "bg.log"
    started = subprocess.run(
        [*cli, "--cache-dir", str(tmp_path / "c"), "--log-file", str(log),
         f"s3://{bucket}/bg", str(where)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    try:
        assert started.returncode == 0, started.stderr
        assert os.path.ismount(where)  # mounted before the command returned
        (where / "a.txt").write_bytes(b"abc")
        assert (where / "a.txt").read_bytes() == b"abc"
        table = subprocess.run([*cli, "stats", str(where)], capture_output=True, text=True)
        assert table.returncode == 0
        assert table.stdout
        as_json = subprocess.run([*cli, "stats", "--json", str(where)], capture_output=True)
        assert json.loads(as_json.stdout)["requests"]["PUT"] >= 1
        done = subprocess.run([*cli, "unmount", str(where)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert not os.path.ismount(where)
    finally:
        if is_mounted(where):
            subprocess.run(["fusermount3", "-u", "-z", str(where)], check=False)
    assert objects(moto_server, bucket, "bg/") == {"bg/a.txt": b"abc"}
    missing = subprocess.run(
        [*cli, "--cache-dir", str(tmp_path / "c"), "s3://no-such-bucket-here/x", str(where)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert "no-such-bucket-here" in missing.stderr
    assert not os.path.ismount(where)


# -- metrics, a full cache disk, and stop signals during start-up (issue 6, session 3) ----------

OBJECTFS = Path(sys.executable).parent / "objectfs"
"""The console script, as users run it."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def prometheus_samples(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``name{labels} value`` lines of http://127.0.0.1:PORT/metrics (text format 0.0.4)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or line.startswith("#"):
            continue
        pairs = frozenset(
            re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match[2] or "")
        )
        samples[match[1], pairs] = float(match[3])
    return samples


def series(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **wanted: str
) -> float:
    """The sum of ``name``'s samples whose labels include ``wanted``."""
    return sum(
        value
        for (family, pairs), value in samples.items()
        if family == name and set(wanted.items()) <= pairs
    )


@pytest.mark.slow
def test_metrics_endpoint_shows_cache_and_operation_series(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    data = os.urandom(8 * 2**20 + 5)
    moto_server.boto3_client().put_object(Bucket=bucket, Key="work/m.bin", Body=data)
    port = free_port()
    with mounted(moto_server, bucket, tmp_path, "--metrics-port", str(port)) as mount:
        with open(mount.path / "m.bin", "rb") as reader:
            # Two sequential reads start read-ahead; once it has fetched blocks the kernel has
            # not asked for yet, reading on finds them in memory (asking sooner would join the
            # fetch under way, which counts as a miss).
            head = reader.read(2**20) + reader.read(2**20)
            deadline = time.monotonic() + 10
            while (moved := mount.stats()["bytes"])["fetched"] <= moved["read"]:
                assert time.monotonic() < deadline, f"no read-ahead beyond the reader: {moved}"
                time.sleep(0.05)
            assert head + reader.read() == data
        (mount.path / "w.txt").write_bytes(b"12345")
        samples = prometheus_samples(port)
        stats = mount.stats()
    lookups = "objectfs_cache_lookups_total"
    l1_hits = series(samples, lookups, objectfs_cache_level="l1", objectfs_cache_result="hit")
    l1_misses = series(samples, lookups, objectfs_cache_level="l1", objectfs_cache_result="miss")
    assert l1_misses >= 1  # the first block
    assert l1_hits >= 1  # blocks read ahead were in memory when the reader asked
    # The endpoint and `objectfs stats` count the same lookups.
    assert l1_hits == stats["cache"]["l1"]["hits"]
    assert l1_misses == stats["cache"]["lookups"] - stats["cache"]["l1"]["hits"]
    # A program read the file and wrote 5 bytes: the kernel asked for exactly that.
    io = "objectfs_io_bytes_total"
    assert series(samples, io, objectfs_io_direction="read") == len(data)
    assert series(samples, io, objectfs_io_direction="write") == 5
    durations = "objectfs_operation_duration_seconds_count"
    assert series(samples, durations, objectfs_operation="read") >= 1
    assert series(samples, durations, objectfs_operation="write") >= 1
    assert series(samples, durations, objectfs_operation="lookup") >= 1
    assert series(samples, "s3opt_requests_total", rpc_method="GetObject") >= 1


@pytest.mark.slow
def test_full_cache_disk_degrades_to_uncached_reads(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    files = {f"f{i}.bin": os.urandom(3 * 2**20 + i) for i in range(3)}
    client = moto_server.boto3_client()
    for name, data in files.items():
        client.put_object(Bucket=bucket, Key=f"work/{name}", Body=data)
    small = tmp_path / "small-cache"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", small], check=True)
    try:
        mount = start_mount(
            moto_server, f"s3://{bucket}/work", tmp_path / "mnt", small, "--memory-cache-size", "1M"
        )
        try:
            # 2 MiB of disk for 9 MiB of blocks: the first file fills it, the rest is uncached.
            for name, data in files.items():
                assert (mount.path / name).read_bytes() == data
            stats = mount.stats()
            assert shutil.disk_usage(small).free < 1024 * 1024  # the cache disk did fill up
            # Every byte of every file came from S3 (read-ahead may fetch several blocks per GET).
            assert stats["bytes"]["fetched"] >= sum(len(d) for d in files.values())
            assert stats["requests"]["GET"] >= len(files)
            assert stats["cache"]["l2"]["hits"] == 0
            assert stats["bytes"]["read"] == sum(len(d) for d in files.values())
        finally:
            mount.stop()
        log = mount.log()
        assert mount.process.returncode == 0, log
        assert "ERROR" not in log, log
        assert "Traceback" not in log, log
        assert "No space left on device" in log  # the one warning that L2 is disabled
    finally:
        subprocess.run(["umount", small], check=False)


def processes_naming(path: Path) -> list[int]:
    """Pids of live processes whose command line contains ``path``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if str(path).encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


@pytest.mark.parametrize(
    ("mode", "sig"),
    [("-f", signal.SIGINT), ("-f", signal.SIGTERM), ("background", signal.SIGINT)],
)
def test_stop_signal_before_the_mount_is_ready(
    tmp_path: Path, mode: str, sig: signal.Signals
) -> None:
    where = tmp_path / "mnt"
    where.mkdir()
    log = tmp_path / "start.log"
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens: S3 calls retry
    args = [OBJECTFS, "-v", "--log-file", log, "--cache-dir", tmp_path / "c",
            "--endpoint-url", unreachable, "s3://some-bucket/x", where]  # fmt: skip
    if mode == "-f":
        args.insert(1, "-f")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    process = subprocess.Popen(
        [str(a) for a in args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + MOUNT_WAIT
        while "connecting to s3://some-bucket/x" not in (log.read_text() if log.exists() else ""):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "objectfs never started connecting"
            time.sleep(0.05)
        process.send_signal(sig)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 128 + sig
    assert out == ""
    assert err == f"objectfs: interrupted by {sig.name} before the mount was ready\n"
    assert not is_mounted(where)
    deadline = time.monotonic() + 30  # a background daemon stops too, not only the command
    while processes_naming(where):
        assert time.monotonic() < deadline, f"still running: {processes_naming(where)}"
        time.sleep(0.1)


# -- metadata and read-path speed: counted requests, not timings -----------------------------


def requests_during(mount: ForegroundMount, action: Any) -> dict[str, int]:
    """The S3 requests (by type, non-zero only) the mount made while ``action()`` ran."""
    before = mount.stats()["requests"]
    action()
    after = mount.stats()["requests"]
    return {kind: after[kind] - before[kind] for kind in after if after[kind] != before[kind]}


def test_a_second_ls_l_makes_no_s3_request(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    client = moto_server.boto3_client()
    names = [f"f{i:03d}" for i in range(300)]
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda n: client.put_object(Bucket=bucket, Key=f"work/many/{n}", Body=n.encode()),
                names,
            )
        )
    # One object with s3fs's mode header: ls must show it, so the listing HEADs objects.
    client.put_object(Bucket=bucket, Key="work/many/f000", Body=b"f000", Metadata={"mode": "33152"})
    with mounted(moto_server, bucket, tmp_path, "--metadata-ttl", "120") as mount:
        listing: list[str] = []
        cold = requests_during(mount, lambda: listing.append(run("ls", "-l", mount.path / "many")))
        warm = requests_during(mount, lambda: listing.append(run("ls", "-l", mount.path / "many")))
    lines = listing[0].splitlines()[1:]  # "total ..." first
    assert [line.split()[-1] for line in lines] == names
    assert lines[0].startswith("-rw------- ")  # 33152 = S_IFREG | 0o600
    assert all(line.startswith("-rw-r--r-- ") for line in lines[1:])  # no header: 0644
    assert cold.get("HEAD", 0) >= 300  # every object described once
    assert warm == {}
    assert listing[1] == listing[0]


def test_a_random_4k_read_fetches_64k_at_most(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    data = os.urandom(3 * 2**20)
    moto_server.boto3_client().put_object(Bucket=bucket, Key="work/r.bin", Body=data)
    offset = 366 * 4096  # mid-block, page-aligned: the kernel asks for exactly this page
    with mounted(moto_server, bucket, tmp_path) as mount:
        fd = os.open(mount.path / "r.bin", os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)  # as fio does for random reads
            before = mount.stats()
            assert os.pread(fd, 4096, offset) == data[offset : offset + 4096]
            after = mount.stats()
            # Two pages back is the same 64 KiB fragment [1,441,792, 1,507,328): from memory.
            assert os.pread(fd, 4096, offset - 8192) == data[offset - 8192 : offset - 4096]
            last = mount.stats()
        finally:
            os.close(fd)
    assert after["requests"]["GET"] - before["requests"]["GET"] == 1
    assert 0 < after["bytes"]["fetched"] - before["bytes"]["fetched"] <= 64 * 1024
    assert last["requests"]["GET"] == after["requests"]["GET"]


def test_chmod_is_one_server_side_copy(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    client = moto_server.boto3_client()
    client.put_object(Bucket=bucket, Key="work/c.txt", Body=b"unchanged")
    with mounted(moto_server, bucket, tmp_path) as mount:
        path = mount.path / "c.txt"
        path.stat()

        def change_attributes() -> None:
            os.chmod(path, 0o600)
            os.utime(path, (5, 7))

        made = requests_during(mount, change_attributes)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert made.get("COPY") == 2
    assert "GET" not in made
    assert "PUT" not in made
    head = client.head_object(Bucket=bucket, Key="work/c.txt")
    assert head["Metadata"]["mode"] == str(stat.S_IFREG | 0o600)
    assert head["Metadata"]["mtime"] == "7"
    assert client.get_object(Bucket=bucket, Key="work/c.txt")["Body"].read() == b"unchanged"


def test_files_created_in_a_new_directory_need_no_lookups(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    with mounted(moto_server, bucket, tmp_path) as mount:
        (mount.path / "fresh").mkdir()

        def make() -> None:
            for i in range(20):
                (mount.path / "fresh" / f"n{i}").write_bytes(b"%d" % i)

        made = requests_during(mount, make)
    # One PUT per file: the kernel's lookup before each create is answered by the new
    # directory's (empty) listing and the names the mount added to it.
    assert made == {"PUT": 20}
    stored = objects(moto_server, bucket, "work/fresh/")
    assert stored == {"work/fresh/": b"", **{f"work/fresh/n{i}": b"%d" % i for i in range(20)}}


def test_an_object_overwritten_mid_read_is_never_mixed(
    moto_server: MotoServer, bucket: str, tmp_path: Path
) -> None:
    client = moto_server.boto3_client()
    first, second = os.urandom(3 * 2**20), os.urandom(3 * 2**20)
    client.put_object(Bucket=bucket, Key="work/v.bin", Body=first)
    with mounted(moto_server, bucket, tmp_path) as mount:
        fd = os.open(mount.path / "v.bin", os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
            assert os.pread(fd, 4096, 0) == first[:4096]
            client.put_object(Bucket=bucket, Key="work/v.bin", Body=second)  # same size
            with pytest.raises(OSError, match=r"Stale|Input/output") as raised:
                os.pread(fd, 4096, 2 * 2**20)
            assert raised.value.errno in (errno.ESTALE, errno.EIO)
        finally:
            os.close(fd)
        # The next open sees the new version whole.
        assert (mount.path / "v.bin").read_bytes() == second
