"""Stopping a helper process: terminate, then kill (:func:`stop_process`)."""

from __future__ import annotations

import subprocess
from typing import Any

__all__ = ["stop_process"]


def stop_process(process: subprocess.Popen[Any], timeout: float) -> None:
    """Stop ``process`` and reap it: SIGTERM, up to ``timeout`` seconds for it to exit,
    then SIGKILL and up to ``timeout`` seconds more.

    A process that has already exited is only reaped, so calling this twice is fine.
    Afterwards ``process.returncode`` is set (``-SIGTERM`` or ``-SIGKILL`` on POSIX when
    the signal ended it). :class:`subprocess.TimeoutExpired` if the process outlives even
    SIGKILL's wait. The process's pipes are left to the caller to close.
    """
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
