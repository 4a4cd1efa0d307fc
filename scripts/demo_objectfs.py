"""The objectfs half of the README's demo: mount the bucket, work in it with ordinary tools.

The real ``objectfs`` console script mounts ``s3://BUCKET/workspace`` in the
background (its own cache folder and log file in the demo's scratch folder),
then ordinary programs do the work, each a subprocess run from the scratch
folder so the commands print as a user would type them::

    cp -r source mnt/project                    copy the sample tree in
    ls -l mnt/project                           list it
    echo '...' >> mnt/project/json/__init__.py  append a line (the shell's redirection)
    mv mnt/project/blob.bin ...                 rename a 4 MiB file (a server-side COPY)
    mv mnt/project/email mnt/project/mail       rename a directory (one COPY per object)
    diff -r / cmp                               read the bytes back against the source
    objectfs stats mnt                          cache hit ratios, S3 requests and their cost
    objectfs unmount mnt                        upload what is left, unmount, wait for the daemon

Afterwards the bucket is read directly (boto3, past the counting proxy) and
must hold exactly the tree as edited through the mount. Whatever happens
(a failed step, Ctrl-C) the mount is unmounted in ``finally``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
from demo_steps import Counters, Step, StepError, console_script, run_step

__all__ = [
    "PREFIX",
    "MountSession",
    "compare_objects",
    "expected_objects",
    "fuse_problem",
    "in_mount_table",
    "stored_objects",
]

PREFIX = "workspace"
"""Where in the bucket the mount works: a fresh prefix, next to cargoship's ``archives/``."""
MOUNT_WAIT = 30.0
"""Seconds to wait for the mount to appear after ``objectfs`` returns."""
UNMOUNT_WAIT = 60.0
"""Seconds ``objectfs unmount`` may wait for the daemon when cleaning up after a failure."""
EDITED = "json/__init__.py"
APPENDED_LINE = "# edited through objectfs"
MOVED_FILE = ("blob.bin", "blob-moved.bin")
MOVED_DIR = ("email", "mail")


def fuse_problem() -> str | None:
    """Why this machine cannot mount objectfs, in one line, or ``None`` if it can."""
    if not Path("/dev/fuse").exists():
        return "/dev/fuse is missing: this machine (or container) cannot mount FUSE filesystems"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed: install fuse3 (./run demo does it with apt-get)"
    return None


def in_mount_table(path: Path) -> bool:
    """Whether ``path`` is mounted, also when its daemon died (``os.path.ismount`` says no then)."""
    with open("/proc/self/mounts") as table:
        return any(line.split()[1] == str(path) for line in table)


def expected_objects(source: Path) -> dict[str, bytes]:
    """The objects the mount must leave under ``PREFIX/project/``: the source tree with the
    demo's edit and renames applied. Symlinks are objects holding their target (s3fs's
    convention, which objectfs follows); directory markers are not listed."""
    expected: dict[str, bytes] = {}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source).as_posix()
        if path.is_symlink():
            body = os.readlink(path).encode()
        elif path.is_file():
            body = path.read_bytes()
        else:
            continue
        if relative == EDITED:
            body += f"{APPENDED_LINE}\n".encode()
        if relative == MOVED_FILE[0]:
            relative = MOVED_FILE[1]
        elif relative.startswith(f"{MOVED_DIR[0]}/"):
            relative = MOVED_DIR[1] + relative[len(MOVED_DIR[0]) :]
        expected[f"{PREFIX}/project/{relative}"] = body
    return expected


def stored_objects(endpoint_url: str, env: dict[str, str], bucket: str) -> dict[str, bytes]:
    """Every object under ``PREFIX/`` except directory markers, read straight from S3."""
    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    found: dict[str, bytes] = {}
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{PREFIX}/")
    for page in pages:
        for item in page.get("Contents", []):
            key = item["Key"]
            if not key.endswith("/"):
                found[key] = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return found


def compare_objects(expected: dict[str, bytes], stored: dict[str, bytes]) -> list[str]:
    """What differs between the objects the demo expects and those in the bucket."""
    problems = [f"missing in the bucket: {key}" for key in sorted(expected.keys() - stored)]
    problems += [f"unexpected in the bucket: {key}" for key in sorted(stored.keys() - expected)]
    problems += [
        f"wrong bytes in the bucket: {key}"
        for key in sorted(expected.keys() & stored.keys())
        if expected[key] != stored[key]
    ]
    return problems


@dataclass
class MountSession:
    """The objectfs steps against one bucket, run from the scratch folder ``work``.

    ``source`` is the sample tree; ``proxy`` counts the S3 traffic; ``env`` points
    the commands at the proxy; ``detailed_stats`` asks ``objectfs stats --json``.
    """

    work: Path
    source: Path
    bucket: str
    proxy: Counters
    env: dict[str, str]
    detailed_stats: bool
    steps: list[Step] = field(default_factory=list)
    daemon: int | None = None
    """The mount daemon's process id, once mounted (the root's ``user.objectfs.pid``)."""

    @property
    def mountpoint(self) -> Path:
        return self.work / "mnt"

    def run(self) -> list[Step]:
        """Mount, work, show the statistics and unmount; unmount in any case."""
        self.mountpoint.mkdir()
        project = "mnt/project"
        edited = f"{project}/{EDITED}"
        expected_edit = self.work / "expected-edit"
        expected_edit.write_bytes(
            (self.source / EDITED).read_bytes() + f"{APPENDED_LINE}\n".encode()
        )
        moved_file = [f"{project}/{MOVED_FILE[0]}", f"{project}/{MOVED_FILE[1]}"]
        moved_dir = [f"{project}/{MOVED_DIR[0]}", f"{project}/{MOVED_DIR[1]}"]
        try:
            # Its own session, and Ctrl-C held until it returns: cut short, the command
            # would leave its daemon to mount after the cleanup below had looked.
            with deferred_interrupts():
                self._objectfs(
                    "mount",
                    *(f"s3://{self.bucket}/{PREFIX}", "mnt"),
                    *("--cache-dir", "objectfs-cache", "--log-file", "objectfs.log"),
                    new_session=True,
                )
            self._wait_until_mounted()
            self.daemon = int(os.getxattr(self.mountpoint, "user.objectfs.pid"))
            self._step("cp -r", ["cp", "-r", "source", project])
            self._step("ls -l", ["ls", "-l", project])
            self._step(
                "append a line",
                ["sh", "-c", f"echo '{APPENDED_LINE}' >> {edited}"],
                shown=f"echo '{APPENDED_LINE}' >> {edited}",
            )
            self._step("mv a file", ["mv", *moved_file])
            self._step("mv a directory", ["mv", *moved_dir])
            self._step("diff -r", ["diff", "-r", f"source/{MOVED_DIR[0]}", moved_dir[1]])
            self._step("cmp the moved file", ["cmp", f"source/{MOVED_FILE[0]}", moved_file[1]])
            self._step("cmp the edited file", ["cmp", expected_edit.name, edited])
            if self.detailed_stats:
                self._objectfs("objectfs stats", "stats", "--json", "mnt", json_output=True)
            else:
                self._objectfs("objectfs stats", "stats", "mnt")
            self._objectfs("unmount", "unmount", "mnt")
            if in_mount_table(self.mountpoint):
                raise StepError(f"{self.mountpoint} is still mounted after `objectfs unmount`")
        finally:
            self._unmount_if_mounted()
            self._wait_for_daemon()
        return self.steps

    def _step(self, name: str, argv: list[str], **options: Any) -> None:
        self.steps.append(
            run_step("objectfs", name, argv, self.proxy, self.env, cwd=self.work, **options)
        )

    def _objectfs(self, name: str, *args: str, **options: Any) -> None:
        """A step running the ``objectfs`` console script, shown as a user would type it."""
        argv = [*console_script("objectfs"), *args]
        self._step(name, argv, shown=shlex.join(["objectfs", *args]), **options)

    def _wait_until_mounted(self) -> None:
        wait(
            lambda: os.path.ismount(self.mountpoint), MOUNT_WAIT, f"{self.mountpoint} to be mounted"
        )

    def _wait_for_daemon(self) -> None:
        """Return once the daemon has exited (a lazy unmount leaves it serving open files)."""
        if self.daemon is None:
            return
        deadline = time.monotonic() + UNMOUNT_WAIT
        while time.monotonic() < deadline:
            try:
                os.kill(self.daemon, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)

    def _unmount_if_mounted(self) -> None:
        """After a failure or Ctrl-C: ``objectfs unmount``, then a lazy unmount if that fails."""
        if not in_mount_table(self.mountpoint):
            return
        unmount = [
            *console_script("objectfs"),
            "unmount",
            "--timeout",
            str(UNMOUNT_WAIT),
            str(self.mountpoint),
        ]
        done = subprocess.run(unmount, capture_output=True, env=self.env, check=False)
        if done.returncode != 0 and in_mount_table(self.mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], check=False)


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then raise :class:`KeyboardInterrupt`."""
    received: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {signum: signal.signal(signum, hold) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise KeyboardInterrupt


def wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    """Poll ``condition`` until it holds; :class:`StepError` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise StepError(f"gave up waiting {seconds:g} s for {what}")
        time.sleep(0.05)
