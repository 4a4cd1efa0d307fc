"""The exceptions cargoship raises: one base, a type per outcome, each with its exit code.

Every message is one line naming what went wrong and where, fit for a CLI's
stderr. ``exit_code`` is the code the ``cargoship`` command exits with when
the error ends it (borg's table is the model):

====  ===========================================================
0     success
1     finished with warnings (files skipped with --skip-unreadable)
2     error (:class:`CargoshipError` and s3opt's typed errors)
3     integrity: damaged data or hostile archive members
4     a retrieval from GLACIER / DEEP_ARCHIVE is needed or pending
130   interrupted
====  ===========================================================

s3opt's errors (:class:`s3opt.errors.S3OptError` subclasses such as
``NoSuchBucketError``) pass through cargoship unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

__all__ = [
    "ArchiveNotFoundError",
    "CargoshipError",
    "DestinationExistsError",
    "HostileMemberError",
    "IncompleteArchiveError",
    "IntegrityError",
    "InventoryFormatError",
    "RetrievalRequiredError",
    "SourceChangedError",
    "UnreadableFilesError",
]


class CargoshipError(Exception):
    """Base of every error cargoship raises on purpose; the message is one line."""

    exit_code: ClassVar[int] = 2


class ArchiveNotFoundError(CargoshipError):
    """No archive of that name (no inventory for it) under the prefix."""


class IncompleteArchiveError(CargoshipError):
    """The archive object is there but its inventory is not: a ship that was interrupted."""


class InventoryFormatError(CargoshipError):
    """An inventory that is malformed, too large, or of an unknown format version."""


def _listing(paths: tuple[str, ...]) -> str:
    """The first few paths, quoted, and how many more there are: one line whatever the count."""
    shown = ", ".join(repr(path) for path in paths[:5])
    return shown + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")


class _PathsError(CargoshipError):
    """An error about a set of paths, kept in :attr:`paths` for callers to list."""

    _what: ClassVar[str]

    def __init__(self, paths: Iterable[str], reason: str | None = None) -> None:
        self.paths: tuple[str, ...] = tuple(paths)
        tail = f": {reason}" if reason else ""
        super().__init__(f"{self._what} {_listing(self.paths)}{tail}")


class UnreadableFilesError(_PathsError):
    """Source files or directories that could not be read (without ``--skip-unreadable``).

    Raised by :meth:`cargoship.pack.TarPacker.add` *before* any byte of the
    member is written when a file cannot be opened or changed since it was
    scanned: the archive stream is intact and the caller may skip the file.
    """

    _what = "cannot read"


class SourceChangedError(UnreadableFilesError):
    """A file changed or vanished *while* its member was written: the archive stream is spoilt.

    The member was completed with zero padding so the stream stays well-formed,
    but its bytes are not the file's: the archive must be abandoned, not
    completed. Unlike its base class it cannot be skipped; the packer refuses
    every later call with this same error.
    """

    _what = "changed while it was archived:"


class DestinationExistsError(_PathsError):
    """Restoring would overwrite existing files (without ``--overwrite``)."""

    _what = "refusing to overwrite existing"


class HostileMemberError(CargoshipError):
    """Archive members that would escape the destination or create devices; none was written."""

    exit_code: ClassVar[int] = 3

    def __init__(self, message: str, members: Iterable[str]) -> None:
        super().__init__(message)
        self.members: tuple[str, ...] = tuple(members)


class IntegrityError(CargoshipError):
    """Data that does not match what was recorded: checksum, frame or size mismatches."""

    exit_code: ClassVar[int] = 3

    def __init__(self, message: str, problems: Iterable[str]) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems)


class RetrievalRequiredError(CargoshipError):
    """The archive is in GLACIER or DEEP_ARCHIVE and not restored (yet)."""

    exit_code: ClassVar[int] = 4
