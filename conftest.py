"""Repository-wide test policy: with ``FORBID_SKIPS=1`` (``.ci/run`` sets it) a skip fails the run.

Tests skip only where the machine lacks something they need (``/dev/fuse``,
a reference tool); on CI that means the set-up is broken, not that the test
may be ignored.
"""

from __future__ import annotations

import os

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("FORBID_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = len(reporter.stats.get("skipped", []))
    if skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"FORBID_SKIPS=1: {skipped} test(s) skipped; failing the run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
