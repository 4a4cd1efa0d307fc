"""The emulator in its own process, driven from synchronous code (the benchmark).

A benchmark client, the emulator and moto each need a core at times; in one process they
would share one GIL, so the benchmark runs the emulator as ``python -m benchmarks.wanem``
and asks it for its counters over a pipe (``stats`` on stdin -> one JSON line on stdout).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType

from s3opt.testing import stop_process

__all__ = ["WanEmulatorProcess"]

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STATS_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class WanEmulatorProcess:
    """``with WanEmulatorProcess("far", upstream) as emu: emu.endpoint_url; emu.counters()``."""

    def __init__(self, profile: str, upstream: str, *, seed: int | None = None) -> None:
        self.profile = profile
        self.upstream = upstream
        self.seed = seed
        self.endpoint_url = ""
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def start(self) -> None:
        command = [sys.executable, "-m", "benchmarks.wanem", "--profile", self.profile]
        command += ["--listen", "127.0.0.1:0", "--upstream", self.upstream, "--control"]
        if self.seed is not None:
            command += ["--seed", str(self.seed)]
        env = dict(
            os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
        )
        self._process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.endpoint_url = self._read_line(START_TIMEOUT).strip()
        if not self.endpoint_url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"wanem did not start: {self.endpoint_url!r}")

    def counters(self) -> dict[str, int]:
        """The emulator's counters now (see :class:`benchmarks.wanem.proxy.Counters`)."""
        assert self._process is not None
        assert self._process.stdin is not None
        with self._lock:
            self._process.stdin.write("stats\n")
            self._process.stdin.flush()
            line = self._read_line(STATS_TIMEOUT)
        counters: dict[str, int] = json.loads(line)
        return counters

    def _read_line(self, timeout: float) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        stdout = self._process.stdout
        found: list[str] = []
        reader = threading.Thread(target=lambda: found.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not found:
            raise TimeoutError(f"wanem gave no answer within {timeout:.0f} s")
        return found[0]

    def stop(self) -> None:
        if self._process is None:
            return
        stop_process(self._process, STOP_TIMEOUT)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()
        self._process = None

    def __enter__(self) -> WanEmulatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
