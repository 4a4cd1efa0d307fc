"""A real objectfs mount for tests: the daemon in the foreground of a subprocess.

    from objectfs.testing import ForegroundMount

    with ForegroundMount("s3://bucket/prefix", tmp_path / "mnt", "--cache-dir", str(cache),
                         env=moto.env) as mount:
        (mount.path / "hello.txt").write_text("hello")
        assert mount.stats()["requests"]["PUT"] >= 1

It runs ``python -m objectfs -f -v OPTIONS URL MOUNTPOINT`` as a user would, waits
until the kernel shows the mount, and on exit (or :meth:`~ForegroundMount.stop`)
signals the daemon, waits for it, and lazily unmounts whatever it left behind, so a
failing test never leaves a mount in the way of the next. The daemon's output goes to
``MOUNTPOINT.log`` beside the mount point, whose tail failures quote.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

__all__ = ["MOUNT_TIMEOUT", "ForegroundMount", "is_mounted"]

MOUNT_TIMEOUT: Final = 30.0
"""Seconds a mount may take to appear before :class:`ForegroundMount` gives up."""

_STOP_TIMEOUT: Final = 60.0
_LOG_TAIL: Final = 3000


def is_mounted(path: Path) -> bool:
    """Whether ``path`` is in the mount table (also when its daemon died, where
    :func:`os.path.ismount` says no: the kernel answers ENOTCONN there)."""
    with open("/proc/self/mounts") as table:
        return any(line.split()[1] == str(path) for line in table)


class ForegroundMount:
    """``python -m objectfs -f -v *options url mountpoint`` in a subprocess (see the module doc).

    ``env`` is added to this process's environment (a test server's credentials and
    endpoint). The mount point is created if missing. :class:`RuntimeError`, with the
    daemon's log, when it exits or ``timeout`` seconds pass before the mount appears.
    """

    def __init__(
        self,
        url: str,
        mountpoint: Path,
        *options: str,
        env: Mapping[str, str] | None = None,
        timeout: float = MOUNT_TIMEOUT,
    ) -> None:
        self.path = mountpoint
        mountpoint.mkdir(exist_ok=True)
        self._log_path = mountpoint.parent / f"{mountpoint.name}.log"
        self._log: IO[bytes] = self._log_path.open("ab")
        command = [sys.executable, "-m", "objectfs", "-f", "-v", *options, url, str(mountpoint)]
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while not os.path.ismount(mountpoint):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"objectfs did not mount {mountpoint}: {self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        """The end of the daemon's output."""
        return self._log_path.read_text(errors="replace")[-_LOG_TAIL:]

    def stats(self) -> dict[str, Any]:
        """The mount's statistics (what ``objectfs stats`` prints, from its
        ``user.objectfs.stats`` attribute)."""
        found: dict[str, Any] = json.loads(os.getxattr(self.path, "user.objectfs.stats"))
        return found

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the daemon (SIGTERM: flush and unmount) and wait; whatever happens,
        leave nothing mounted."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(sig)
                try:
                    self.process.wait(timeout=_STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            if is_mounted(self.path):
                subprocess.run(["fusermount3", "-u", "-z", str(self.path)], check=False)
            self._log.close()

    def __enter__(self) -> ForegroundMount:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
