"""Run one mount: pyfuse3 on asyncio, from ``init`` to a clean unmount.

:func:`serve` mounts, serves requests until the filesystem is unmounted
(``fusermount3 -u``, ``objectfs unmount``) or the process gets SIGTERM or
SIGINT, and then uploads every dirty file before it returns. A SIGKILL
loses what was written and not yet flushed; what was fsynced is in S3.

Each mount keeps its caches in its own folder of ``options.cache_dir``, named
after ``fsname`` and locked (``flock``) while mounted, so two mounts of the
same bucket and prefix never share staging files.

The kernel reads ahead of a sequential reader by its backing device's
read-ahead (``/sys/class/bdi/MAJOR:MINOR/read_ahead_kb``, Linux
Documentation/ABI/stable/sysfs-class-bdi), 128 KiB by default, and a FUSE
filesystem cannot raise it in its INIT reply (the kernel applies the reply's
``max_readahead`` as an upper bound). Each FUSE read costs the daemon a fixed
amount of CPU, so once INIT is answered :func:`serve` sets this mount's own
value to ``options.kernel_readahead`` when it may (root): 1 MiB reads instead
of 128 KiB ones, about half the daemon's CPU per GiB read sequentially on
``lan``. The setting belongs to this mount's device and goes with it at
unmount.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import signal
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pyfuse3
import pyfuse3.asyncio

from objectfs.budget import plan_memory
from objectfs.config import MountOptions
from objectfs.fs import build_filesystem
from objectfs.stats import FsCounters
from opsmetrics import Metrics
from s3opt.protocols import ObjectStore

__all__ = ["MountError", "mount_cache_dir", "mount_device", "serve"]

_logger = logging.getLogger(__name__)


class MountError(RuntimeError):
    """The filesystem could not be mounted; the message says why."""


def mount_cache_dir(options: MountOptions, fsname: str) -> Path:
    """The cache folder of the mount named ``fsname``: ``<cache_dir>/<fsname, percent-encoded>``."""
    return options.cache_dir / urllib.parse.quote(fsname, safe="")


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MountError(f"cache folder {directory} is in use by another mount") from None
        yield
    finally:
        os.close(fd)


_MOUNTINFO_ESCAPE = re.compile(r"\\([0-7]{3})")
"""``\\040`` and the like: how /proc/self/mountinfo writes spaces, tabs, newlines, ``\\``."""


def mount_device(mountinfo: str, mountpoint: str) -> str | None:
    """``MAJOR:MINOR`` of the objectfs mount at ``mountpoint`` in a ``/proc/PID/mountinfo``
    text (proc(5)); the last one when mounts are stacked, ``None`` when there is none."""
    found = None
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) < 10 or " - fuse.objectfs " not in line:
            continue
        where = _MOUNTINFO_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
        if where == mountpoint:
            found = fields[2]
    return found


def _set_kernel_readahead(mountpoint: str, size: int) -> None:
    """Set this mount's ``read_ahead_kb`` to ``size`` (see the module docstring), if allowed.

    Reads /proc and /sys only: a stat of the mountpoint would be a FUSE request
    to this very process, which is not serving yet.
    """
    if size == 0:
        return
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
        device = mount_device(table.read(), mountpoint)
    if device is None:
        _logger.info("kernel read-ahead left as it is: %s not found in mountinfo", mountpoint)
        return
    setting = Path("/sys/class/bdi") / device / "read_ahead_kb"
    try:
        setting.write_text(f"{size // 1024}\n")
    except OSError as exc:
        _logger.info(
            "kernel read-ahead left as it is (%s): cannot write %s", exc.strerror or exc, setting
        )
        return
    _logger.debug("kernel read-ahead of %s set to %d KiB", mountpoint, size // 1024)


def _fuse_options(options: MountOptions, fsname: str) -> set[str]:
    chosen = set(pyfuse3.default_options)
    chosen |= {f"fsname={fsname}", "subtype=objectfs"}
    if options.read_only:
        chosen.add("ro")
    if options.allow_other:
        chosen.add("allow_other")
    return chosen


async def serve(
    store: ObjectStore,
    mountpoint: Path,
    options: MountOptions,
    *,
    fsname: str,
    ready: Callable[[], None] | None = None,
    metrics: Metrics | None = None,
) -> None:
    """Mount ``store`` at ``mountpoint`` and serve it until unmounted or signalled.

    ``ready`` is called once the mount answers. SIGTERM and SIGINT flush the
    dirty files, end the FUSE loop and unmount. Cache lookups, file bytes and
    operations are also recorded into ``metrics`` when given. Raises
    :class:`MountError` if the mount cannot be made (bad mountpoint, cache
    folder in use), :class:`objectfs.config.ConfigError` if the options do
    not fit in the memory limit.
    """
    budget = plan_memory(options)
    _logger.info("%s", budget.describe())
    pyfuse3.asyncio.enable()
    with _locked(mount_cache_dir(options, fsname)):
        counters = FsCounters(metrics=metrics)
        where = os.path.realpath(mountpoint)  # before mounting: after, it would ask us
        fs = build_filesystem(
            store,
            options,
            cache_dir=mount_cache_dir(options, fsname),
            counters=counters,
            budget=budget,
            after_init=lambda: _set_kernel_readahead(where, options.kernel_readahead),
        )
        try:
            pyfuse3.init(fs, str(mountpoint), _fuse_options(options, fsname))
        except RuntimeError as exc:
            await fs.close()
            raise MountError(f"cannot mount {fsname} at {mountpoint}: {exc}") from None
        try:
            await _run(fs.flush_all, ready)
        finally:
            failed = await fs.flush_all()
            if failed:
                _logger.error("%d files could not be uploaded before unmounting", failed)
            await fs.close()
            pyfuse3.close(unmount=True)
            _logger.info("unmounted %s from %s", fsname, mountpoint)


async def _run(flush_all: Callable[[], Awaitable[int]], ready: Callable[[], None] | None) -> None:
    """The FUSE loop, until it ends by itself (unmounted) or a signal ends it after a flush."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    main = asyncio.create_task(pyfuse3.main())
    stopping = asyncio.create_task(stop.wait())
    try:
        if ready is not None:
            ready()
        await asyncio.wait({main, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping.done():
            _logger.info("signal received: flushing and unmounting")
            await flush_all()
            pyfuse3.terminate()
        await main
    finally:
        stopping.cancel()
        for signum in signals:
            loop.remove_signal_handler(signum)
