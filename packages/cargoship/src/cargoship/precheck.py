"""The checks a restore makes before it writes anything, as passes over an :class:`EntryTable`.

:func:`check_entries` refuses (:class:`HostileMemberError`) a chosen entry
whose path could escape DEST: not a plain relative path, naming DEST itself,
under a path the inventory stores as a symlink, a hard link whose target is not
a regular file of the archive, or a symlink whose target resolves outside DEST
(unless ``outside_symlinks``: a user's tree may hold ``venv/bin/python ->
/usr/bin/python3``, and nothing is written through a symlink either way).
Symlink targets are resolved as the kernel would (POSIX.1-2017, "Pathname
Resolution"): the symlinks the restore creates and those already under DEST are
followed, and a ``..`` above DEST, an absolute target or more than
:data:`MAX_SYMLINK_HOPS` hops is outside.

:func:`find_conflicts` looks at DEST itself: a path that goes through a
symlink already there is hostile, an existing name is a conflict unless
``overwrite``.

Each is a pass over the chosen entries or an indexed query per symlink, so
memory does not grow with the number of entries; only the problems found are
kept (at most :data:`LISTED_CONFLICTS` of the conflicts).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from cargoship.entry_table import EntryTable
from cargoship.errors import DestinationExistsError, HostileMemberError
from cargoship.extract import hostile, member_parts, normal_path
from cargoship.inventory import EntryType

__all__ = [
    "LISTED_CONFLICTS",
    "MAX_SYMLINK_HOPS",
    "OUTSIDE_SYMLINKS_HINT",
    "check_entries",
    "find_conflicts",
]

MAX_SYMLINK_HOPS: Final = 40
"""Symlinks followed while resolving one target before it counts as a loop (Linux's limit)."""
LISTED_CONFLICTS: Final = 1000
"""Existing paths a DestinationExistsError carries (the count of all is in its message)."""

OUTSIDE_SYMLINKS_HINT: Final = (
    "symlinks that point outside DEST are restored as archived with --allow-outside-symlinks"
)
"""Added to the refusal when some of its problems are such symlinks."""
_REMEMBERED: Final = 4096  # directory prefixes find_conflicts remembers between entries


def check_entries(dest: Path, table: EntryTable, *, outside_symlinks: bool = False) -> None:
    """HostileMemberError naming every chosen entry of ``table`` that could escape ``dest``.

    A chosen entry under a path the inventory stores as a symlink is refused even
    when that symlink is not chosen. With ``outside_symlinks``, a symlink whose target
    lies outside ``dest`` is allowed (it is created, never followed).
    """
    problems: dict[str, str] = {}
    outside = 0
    for path, kind, link in table.chosen_shapes():
        try:
            key = normal_path(path)
            if key != path:
                raise ValueError("not a plain relative path")
            if not key and kind is not EntryType.DIRECTORY:
                raise ValueError("names DEST itself")
            if kind is EntryType.SYMLINK:
                if link is None:
                    raise ValueError("symlink without a target")
                if not outside_symlinks and _symlink_escapes(
                    dest, member_parts(key)[:-1], link, table
                ):
                    outside += 1
                    raise ValueError(f"symlink to {link!r} resolves outside the destination")
        except ValueError as error:
            problems[path] = str(error)
    for path, link in table.hardlinks_without_file():
        why = f"hard link to {link!r}, which is not a file in the archive"
        problems.setdefault(path, "hard link without a target" if link is None else why)
    for symlink in table.symlink_paths():
        for path in table.chosen_under(symlink):
            problems.setdefault(path, "its path goes through a symlink in the archive")
    if problems:
        hint = OUTSIDE_SYMLINKS_HINT if outside else ""
        raise hostile(problems, hint=hint)


def _symlink_escapes(dest: Path, link_dir: tuple[str, ...], target: str, table: EntryTable) -> bool:
    """Whether ``target``, the target of a symlink in ``link_dir``, resolves outside ``dest``.

    The chosen entries of ``table`` are what the restore creates; elsewhere the
    filesystem under ``dest`` is looked at as it is now.
    """
    if target.startswith("/"):
        return True
    where = list(link_dir)
    todo = list(reversed(target.split("/")))
    hops = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not where:
                return True
            where.pop()
            continue
        candidate = (*where, part)
        planned = table.chosen_link("/".join(candidate))
        if planned is not None:
            kind, link = planned
            link = link if kind is EntryType.SYMLINK else None
        else:
            link = _existing_symlink(dest, candidate)
        if link is None:
            where.append(part)
            continue
        hops += 1
        if hops > MAX_SYMLINK_HOPS or link.startswith("/"):
            return True
        todo.extend(reversed(link.split("/")))
    return False


def _existing_symlink(dest: Path, parts: tuple[str, ...]) -> str | None:
    try:
        return os.readlink(dest.joinpath(*parts))
    except OSError:  # absent, or not a symlink
        return None


def find_conflicts(dest: Path, table: EntryTable, *, overwrite: bool) -> None:
    """HostileMemberError for a chosen path that goes through a symlink already under
    ``dest``; without ``overwrite``, DestinationExistsError listing the chosen entries whose
    names exist there (an existing directory is no conflict for a directory entry).

    An empty or absent ``dest`` (a restore into a new directory) has nothing to conflict
    with: no entry is looked at. A name created there meanwhile is still never replaced
    (:mod:`cargoship.extract` links without ``overwrite``)."""
    if _empty(dest):
        return
    conflicts: list[str] = []
    found_conflicts = 0
    through: dict[str, str] = {}
    directories: set[tuple[str, ...]] = {()}
    absent: set[tuple[str, ...]] = set()  # nothing under these exists, so no lstat
    for entry in table.chosen():
        if len(directories) + len(absent) > _REMEMBERED:  # a cache: forgetting costs lstats
            directories, absent = {()}, set()
        parts = member_parts(entry.path)
        for depth in range(1, len(parts) + 1):
            prefix = parts[:depth]
            if prefix in directories:
                continue
            if prefix in absent:
                break
            try:
                found = os.lstat(os.path.join(dest, *prefix)).st_mode
            except FileNotFoundError:
                absent.add(prefix)
                break
            last = depth == len(parts)
            if stat.S_ISDIR(found):
                directories.add(prefix)
                if not last or entry.type is EntryType.DIRECTORY:
                    continue
            elif stat.S_ISLNK(found) and not last:
                through[entry.path] = f"its path goes through the symlink {'/'.join(prefix)!r}"
                break
            found_conflicts += 1
            if len(conflicts) < LISTED_CONFLICTS:
                conflicts.append(entry.path)
            break
    if through:
        listed = "; ".join(f"{path!r} ({why})" for path, why in list(through.items())[:5])
        raise HostileMemberError(f"refusing to write through symlinks in DEST: {listed}", through)
    if conflicts and not overwrite:
        more = "" if found_conflicts == len(conflicts) else f"{found_conflicts} in all; "
        raise DestinationExistsError(conflicts, f"{more}pass --overwrite to replace them")


def _empty(directory: Path) -> bool:
    """Whether ``directory`` is absent or holds nothing (False when it cannot be listed)."""
    try:
        with os.scandir(directory) as names:
            return next(names, None) is None
    except FileNotFoundError:
        return True
    except OSError:
        return False
