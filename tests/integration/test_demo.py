"""The README's main job (`./run demo`) and the transfer demo behind it start their own servers,
do what they print, and stop everything they started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


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


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEMO), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.integration
@pytest.mark.slow
def test_cargoship_demo_ships_restores_verifies_and_cleans_up() -> None:
    before = orphaned_servers()
    run = demo("--json")
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["problems"] == []
    steps = {step["name"]: step for step in doc["steps"]}
    assert list(steps) == [
        "ship",
        "inventory",
        "restore one file",
        "restore all",
        "verify",
        "verify --quick",
    ]
    # The proxy counted the archive going up, and more than its stored size in requests.
    assert steps["ship"]["bytes_sent"] > steps["ship"]["result"]["bytes_stored"] > 0
    # One small file out of a multi-MiB archive: its frames and the index, a fraction of it all.
    one, everything = steps["restore one file"], steps["restore all"]
    assert one["result"]["restore"]["files"] == 1
    assert one["bytes_fetched"] * 4 < everything["bytes_fetched"]
    assert everything["bytes_fetched"] >= steps["ship"]["result"]["bytes_stored"]
    # --quick downloads no archive bytes: only small replies cross the wire.
    assert steps["verify --quick"]["bytes_fetched"] < 64 << 10
    assert all(step["requests"] >= 1 for step in steps.values())
    assert orphaned_servers() <= before, "the demo left its S3 server or proxy running"


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
