"""The README's main job starts its own S3 server and emulator, moves verified bytes, and stops."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def moto_servers() -> set[int]:
    """PIDs of moto server processes now running (the demo must leave none behind)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"s3server" in command or b"wanem" in command:
                found.add(int(entry.name))
    return found


@pytest.mark.integration
@pytest.mark.slow
def test_demo_moves_verified_bytes_with_both_tools_and_cleans_up() -> None:
    before = moto_servers()
    run = subprocess.run(
        [sys.executable, str(DEMO), "--size", "8", "--profile", "wan", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
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
    assert moto_servers() <= before, "the demo left its S3 server or emulator running"


def test_demo_rejects_bad_arguments() -> None:
    run = subprocess.run(
        [sys.executable, str(DEMO), "--size", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "--size must be > 0" in run.stderr
