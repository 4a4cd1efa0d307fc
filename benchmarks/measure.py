"""Run a benchmark command in its own process and measure it: wall time, exit status, peak memory.

Peak memory is the largest total resident set of the process *and its descendants*
seen while it runs (sampled from /proc every 50 ms), so a shell pipeline such as
``tar --zstd -cf - DIR | aws s3 cp - s3://...`` is charged for every program in it;
for the command's own process its kernel-kept high-water mark (``VmHWM``) counts too.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Measured", "run_measured", "tree_rss_mib"]

SAMPLE_INTERVAL = 0.05


@dataclass(frozen=True, slots=True)
class Measured:
    """What one run of a command did."""

    seconds: float
    """Wall time; a worker that prints ``SECONDS x`` on stdout reports its own time instead."""
    status: int
    peak_rss_mib: float
    stdout: str
    stderr_tail: str


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: the fields after it.
        fields = stat[stat.rindex(")") + 2 :].split()
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _status_kib(pid: int, field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (resident at its peak) of ``pid``, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants now, in MiB."""
    tree = _children()
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += _status_kib(current, "VmRSS")
        stack.extend(tree.get(current, ()))
    return total / 1024


def run_measured(
    command: list[str],
    env: dict[str, str],
    *,
    timeout: float,
    cwd: Path | None = None,
) -> Measured:
    """Run ``command`` to completion (killed after ``timeout`` seconds) and measure it."""
    began = time.perf_counter()
    process = subprocess.Popen(
        command,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    streams: dict[str, str] = {}

    def drain(name: str) -> None:
        stream = process.stdout if name == "stdout" else process.stderr
        assert stream is not None
        streams[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(n,), daemon=True) for n in ("stdout", "stderr")]
    for reader in readers:
        reader.start()
    peak = 0.0
    while process.poll() is None:
        # The tree's sum catches pipelines; the root's own high-water mark catches a
        # single process's peak between two samples.
        peak = max(peak, tree_rss_mib(process.pid), _status_kib(process.pid, "VmHWM") / 1024)
        time.sleep(SAMPLE_INTERVAL)
        if time.perf_counter() - began > timeout:
            os.killpg(process.pid, 9)
    seconds = time.perf_counter() - began
    for reader in readers:
        reader.join(10)
    stdout = streams.get("stdout", "")
    for line in stdout.splitlines():
        if line.startswith("SECONDS "):
            seconds = float(line.split()[1])
    return Measured(seconds, process.returncode, peak, stdout, streams.get("stderr", "")[-400:])
