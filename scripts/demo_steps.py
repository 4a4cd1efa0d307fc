"""One step of the README's demo: run a real command, time it, count its S3 traffic.

Each step is an ordinary subprocess (``cargoship``, ``objectfs``, ``cp``, ``mv``, ...).
Its S3 cost is what the byte-counting proxy in front of the S3 server saw on the
wire between the step's start and end, so it includes work a background daemon
(the objectfs mount) did for the step while it ran.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = [
    "COMMAND_TIMEOUT",
    "Counters",
    "Step",
    "StepError",
    "console_script",
    "human",
    "print_table",
    "run_step",
]

COMMAND_TIMEOUT = 300.0
"""Seconds any one step may take before the demo gives up on it."""


class Counters(Protocol):
    """What the demo needs of the proxy: its running totals (``requests``, ``bytes_up``,
    ``bytes_down``), as ``benchmarks/wanem``'s ``WanEmulatorProcess.counters`` gives them."""

    def counters(self) -> dict[str, int]: ...


class StepError(Exception):
    """A step's command failed; the message is one line naming the command and why."""


@dataclass(frozen=True, slots=True)
class Step:
    """One command of the demo and what it cost."""

    tool: str
    name: str
    command: str
    seconds: float
    requests: int
    bytes_sent: int
    bytes_fetched: int
    result: dict[str, Any]


def console_script(name: str) -> list[str]:
    """The console script ``name`` of this interpreter's environment (else ``python -m name``)."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", name]


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def run_step(
    tool: str,
    name: str,
    argv: list[str],
    proxy: Counters,
    env: dict[str, str],
    *,
    json_output: bool = False,
    shown: str | None = None,
    cwd: Path | None = None,
    new_session: bool = False,
) -> Step:
    """Run ``argv`` and measure it through ``proxy``'s counters.

    The step's ``result`` is the parsed stdout when ``json_output``, else
    ``{"stdout": ...}``. ``shown`` is how the command is printed (default: ``argv``
    quoted); ``cwd`` is where it runs; ``new_session`` starts it in its own session,
    out of reach of the terminal's Ctrl-C. Raises :class:`StepError` if the
    command exits non-zero or times out.
    """
    command = shown if shown is not None else shlex.join(argv)
    print(f"demo: {command}", file=sys.stderr, flush=True)
    before = proxy.counters()
    started = time.monotonic()
    try:
        run = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
            env=env,
            cwd=cwd,
            start_new_session=new_session,
        )
    except subprocess.TimeoutExpired:
        raise StepError(f"`{command}` took longer than {COMMAND_TIMEOUT:g} s") from None
    except OSError as exc:  # the program is missing or cannot run
        raise StepError(f"`{command}` could not start: {exc.strerror}") from None
    seconds = time.monotonic() - started
    after = proxy.counters()
    if run.returncode != 0:
        reason = _last_line(run.stderr or run.stdout)
        raise StepError(f"`{command}` failed (exit {run.returncode}): {reason}")
    result: dict[str, Any] = json.loads(run.stdout) if json_output else {"stdout": run.stdout}
    return Step(
        tool=tool,
        name=name,
        command=command,
        seconds=seconds,
        requests=after["requests"] - before["requests"],
        bytes_sent=after["bytes_up"] - before["bytes_up"],
        bytes_fetched=after["bytes_down"] - before["bytes_down"],
        result=result,
    )


def human(size: int) -> str:
    """``1536`` -> ``"1.5 KiB"`` (binary units)."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def print_table(title: str, steps: list[Step]) -> None:
    """The steps as rows: seconds, requests, bytes sent and fetched on the wire."""
    print(f"{title:<22} {'seconds':>8} {'requests':>9} {'sent':>11} {'fetched':>11}")
    for step in steps:
        print(
            f"  {step.name:<20} {step.seconds:>8.2f} {step.requests:>9} "
            f"{human(step.bytes_sent):>11} {human(step.bytes_fetched):>11}"
        )
