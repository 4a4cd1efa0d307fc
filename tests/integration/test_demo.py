"""The README's main job (`./run demo`) and the transfer demo behind it start their own servers,
do what they print, and stop everything they started: servers, mounts, mount daemons."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"
BINARY_SIZE = 4 << 20
needs_fuse = pytest.mark.skipif(not Path("/dev/fuse").exists(), reason="/dev/fuse is missing")


def orphaned_servers() -> set[int]:
    """PIDs of S3 servers and emulators whose parent is gone (they were re-parented to init).

    A demo that forgets to stop what it started leaves exactly these behind; servers
    other tests on the machine run have a live parent and are not counted.
    """
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == 1 and any(n in command for n in (b"s3server", b"wanem", b"moto.server")):
                found.add(int(entry.name))
    return found


def demo(*args: str, tmpdir: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``scripts/demo.py ARGS``; with ``tmpdir`` its scratch folder goes there."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    return subprocess.run(
        [sys.executable, str(DEMO), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
    )


def sample_tree_entries() -> int:
    """How many files and symlinks the demo's sample tree holds, counted from the standard
    library itself: three packages without __pycache__, three copies, a binary, a symlink."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    packaged = sum(
        1
        for package in ("email", "json", "asyncio")
        for path in (stdlib / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
    return packaged + 3 + 1 + 1


def holds_files_under(pid: str, scratch: Path) -> bool:
    """Whether process ``pid`` has a file under ``scratch`` open (a mount daemon keeps its
    cache lock and log file there) or names it on its command line."""
    proc = Path("/proc") / pid
    try:
        if str(scratch).encode() in (proc / "cmdline").read_bytes():
            return True
        return any(os.readlink(fd).startswith(str(scratch)) for fd in (proc / "fd").iterdir())
    except OSError:  # gone meanwhile
        return False


def leftovers(scratch: Path) -> tuple[list[str], list[int]]:
    """Mounts under ``scratch`` and processes still using it (a mount daemon, a server)."""
    with open("/proc/self/mounts") as table:
        mounts = [line.split()[1] for line in table if line.split()[1].startswith(str(scratch))]
    users = [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit()
        and int(entry.name) != os.getpid()
        and holds_files_under(entry.name, scratch)
    ]
    return mounts, users


@pytest.mark.integration
@pytest.mark.fuse
@pytest.mark.slow
@needs_fuse
def test_demo_ships_restores_mounts_works_unmounts_and_cleans_up(tmp_path: Path) -> None:
    before = orphaned_servers()
    run = demo("--json", tmpdir=tmp_path)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["problems"] == []
    cargoship = {s["name"]: s for s in doc["steps"] if s["tool"] == "cargoship"}
    objectfs = {s["name"]: s for s in doc["steps"] if s["tool"] == "objectfs"}
    assert [s["tool"] for s in doc["steps"]] == ["cargoship"] * 6 + ["objectfs"] * 11
    assert list(cargoship) == [
        "ship",
        "inventory",
        "restore one file",
        "restore all",
        "verify",
        "verify --quick",
    ]
    # The proxy counted the archive going up, and more than its stored size in requests.
    assert cargoship["ship"]["bytes_sent"] > cargoship["ship"]["result"]["bytes_stored"] > 0
    # One small file out of a multi-MiB archive: its frames and the index, a fraction of it all.
    one, everything = cargoship["restore one file"], cargoship["restore all"]
    assert one["result"]["restore"]["files"] == 1
    assert one["bytes_fetched"] * 4 < everything["bytes_fetched"]
    assert everything["bytes_fetched"] >= cargoship["ship"]["result"]["bytes_stored"]
    # --quick downloads no archive bytes: only small replies cross the wire.
    assert cargoship["verify --quick"]["bytes_fetched"] < 64 << 10
    assert all(step["requests"] >= 1 for step in cargoship.values())

    assert list(objectfs) == [
        "mount",
        "cp -r",
        "ls -l",
        "append a line",
        "mv a file",
        "mv a directory",
        "diff -r",
        "cmp the moved file",
        "cmp the edited file",
        "objectfs stats",
        "unmount",
    ]
    assert objectfs["mount"]["command"].startswith("objectfs s3://")
    # Every byte of the tree went up through the mount while `cp -r` ran ...
    assert objectfs["cp -r"]["bytes_sent"] >= doc["source_bytes"] > BINARY_SIZE
    # ... but renaming the 4 MiB file is a server-side copy: a few small requests.
    assert 1 <= objectfs["mv a file"]["requests"] <= 10
    assert objectfs["mv a file"]["bytes_sent"] < 64 << 10
    # `objectfs stats` counted what the proxy saw: at most as many requests (the proxy
    # also sees retries), a PUT per file at least, and the bytes written.
    stats = objectfs["objectfs stats"]["result"]
    on_the_wire = sum(s["requests"] for s in doc["steps"][6:-2])
    assert sum(stats["requests"].values()) <= on_the_wire
    assert stats["requests"]["PUT"] >= sample_tree_entries() - 1  # the symlink is a PUT too
    assert stats["requests"]["COPY"] >= 2
    assert stats["bytes"]["written"] >= doc["source_bytes"]
    assert stats["request_cost"]["usd"] > 0
    # After unmounting, the bucket held exactly the edited tree (the demo compared every
    # object's bytes; "problems" is empty): one object per file and symlink.
    assert doc["bucket"]["objects"] == sample_tree_entries()
    assert doc["bucket"]["bytes"] == doc["source_bytes"] + len("blob.bin") + len(
        "# edited through objectfs\n"
    )
    assert leftovers(tmp_path) == ([], []), "the demo left its mount or daemon behind"
    assert list(tmp_path.iterdir()) == [], "the demo left its scratch folder behind"
    assert orphaned_servers() <= before, "the demo left its S3 server or proxy running"


@pytest.mark.integration
@pytest.mark.fuse
@pytest.mark.slow
@needs_fuse
def test_ctrl_c_during_the_mount_steps_unmounts_and_stops_everything(tmp_path: Path) -> None:
    before = orphaned_servers()
    # A terminal's Ctrl-C: SIGINT to the whole foreground process group.
    with subprocess.Popen(
        [sys.executable, str(DEMO), "objectfs"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "TMPDIR": str(tmp_path)},
    ) as process:
        try:
            assert process.stderr is not None
            seen = []
            for line in process.stderr:
                seen.append(line)
                if line.startswith("demo: cp -r"):
                    break
            assert "".join(seen[-1:]).startswith("demo: cp -r"), "".join(seen)
            assert leftovers(tmp_path)[0], "the demo said it copied before anything was mounted"
            os.killpg(process.pid, signal.SIGINT)
            rest = process.stderr.read()
            assert process.wait(timeout=120) == 130, rest
        finally:
            if process.poll() is None:
                process.kill()
    assert rest.rstrip().splitlines()[-1].startswith("demo: interrupted")
    assert leftovers(tmp_path) == ([], []), "Ctrl-C left the mount or its daemon behind"
    assert list(tmp_path.iterdir()) == []
    assert orphaned_servers() <= before


@pytest.mark.integration
@pytest.mark.slow
def test_transfer_demo_moves_verified_bytes_with_both_tools_and_cleans_up() -> None:
    before = orphaned_servers()
    run = demo("transfer", "--size", "8", "--profile", "wan", "--json")
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)["rows"]
    seen = {(r["tool"], r["direction"]) for r in rows}
    assert seen == {(t, d) for t in ("s3opt-bbr", "boto3") for d in ("upload", "download")}
    for row in rows:
        # Each transfer was verified by SHA-256 (a mismatch counts as a failure) and went
        # through the emulator, which counted its requests.
        assert row["failures"] == 0, row["errors"]
        assert row["mbps"] > 0
        assert row["requests"] >= 1
        assert row["profile"] == "wan"
    assert orphaned_servers() <= before, "the demo left its S3 server or emulator running"


def test_demo_rejects_bad_arguments() -> None:
    run = demo("transfer", "--size", "0")
    assert run.returncode == 2
    assert "--size must be > 0" in run.stderr
    run = demo("--no-such-option")
    assert run.returncode == 2
    run = demo("objectfs", "--no-such-option")
    assert run.returncode == 2
    assert "demo.py objectfs" in run.stderr
