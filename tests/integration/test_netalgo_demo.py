"""The netalgo demo runs, is deterministic for a seed, and shows what the algorithms do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "netalgo_demo.py"


def run_demo(*args: str) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, str(DEMO), "--json", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    document: dict[str, object] = json.loads(run.stdout)
    return document


@pytest.mark.integration
@pytest.mark.slow
def test_demo_is_deterministic_and_bbr_holds_up_under_loss() -> None:
    first = run_demo("--seconds", "4", "--seed", "7")
    assert run_demo("--seconds", "4", "--seed", "7") == first
    runs = first["runs"]
    assert isinstance(runs, list)
    lossy = {r["algorithm"]: r for r in runs if r["link"] == "lossy link"}
    # 1% random loss: the Mathis / RFC 9438 response functions cap NewReno and CUBIC at a few
    # percent of a 50 Mbit/s, 40 ms path; BBR's model-based rate is not cut by random loss.
    assert lossy["BBR"]["utilisation"] > 0.6
    assert lossy["CUBIC"]["utilisation"] < 0.25
    assert lossy["NewReno"]["utilisation"] < 0.25
    for row in runs:
        assert 0 < row["utilisation"] <= 1.0
        assert row["goodput_mbit"] > 0


def test_demo_rejects_bad_arguments() -> None:
    run = subprocess.run(
        [sys.executable, str(DEMO), "--seconds", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert "--seconds must be > 0" in run.stderr
