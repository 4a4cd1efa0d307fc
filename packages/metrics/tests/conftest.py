"""Shared helpers: run a Python snippet in a fresh interpreter.

``opsmetrics.setup()`` sets OpenTelemetry's process-global meter provider, which
can be set only once per process, so every test that calls it runs in a child
process and this process never installs a provider.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable

import pytest

RunPython = Callable[[str], subprocess.CompletedProcess[str]]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture
def run_python() -> RunPython:
    """Run a snippet with ``python -W error -c``; fail the test if it exits non-zero."""
    return _run
