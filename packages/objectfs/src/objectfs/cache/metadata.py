"""Object attributes and directory listings, remembered for a few seconds.

S3 answers HEAD and LIST in tens of milliseconds; ``ls -l`` asks for the
attributes of every entry, so without a cache a listing costs one HEAD per
file. Entries expire ``ttl`` seconds after they were stored (by an injected
clock, so tests need not sleep): changes made by other clients show up after
at most that long. Negative entries (:data:`ABSENT`) expire after
``negative_ttl`` instead, usually much shorter: a file another client creates
must not stay invisible for the whole ``ttl``. The mount's own writes call
:meth:`MetadataCache.invalidate` at once.

Memory is bounded by ``max_entries``: an attribute entry counts one, a listing
one plus its number of names, and the least recently used entries are evicted
first. A listing longer than ``max_entries // 4`` names is never cached (the
caller pages through S3 instead), so one huge directory cannot flush the rest.
"""

from __future__ import annotations

import posixpath
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, final

from s3opt import ObjectInfo

__all__ = ["ABSENT", "Absent", "MetadataCache"]


@final
class Absent:
    """The type of :data:`ABSENT`: a path known not to exist (a negative entry)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = Absent()
"""Stored for a path that S3 says does not exist, so repeated lookups cost no request."""


@dataclass(frozen=True, slots=True)
class _Entry:
    expires: float
    value: ObjectInfo | Absent | tuple[str, ...]
    cost: int


_Slot = tuple[bool, str]
"""``(is_listing, path)``: attributes and listings of one path are separate entries."""


class MetadataCache:
    """Attributes (or :data:`ABSENT`) by path and sorted child names by directory, with a TTL."""

    def __init__(
        self,
        ttl: float,
        *,
        negative_ttl: float | None = None,
        max_entries: int = 200_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < 0:
            raise ValueError(f"ttl must be >= 0 seconds, got {ttl}")
        if negative_ttl is not None and negative_ttl < 0:
            raise ValueError(f"negative_ttl must be >= 0 seconds, got {negative_ttl}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.ttl = ttl
        self.negative_ttl = ttl if negative_ttl is None else negative_ttl
        """How long :data:`ABSENT` entries last (``ttl`` unless given)."""
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[_Slot, _Entry] = OrderedDict()
        self._cost = 0

    def __len__(self) -> int:
        """Entries held (attributes and listings, expired ones not yet dropped included)."""
        return len(self._entries)

    def get(self, path: str) -> ObjectInfo | Absent | None:
        """Attributes of ``path``; :data:`ABSENT` if known not to exist; ``None`` if not cached."""
        value = self._lookup((False, path))
        assert not isinstance(value, tuple)
        return value

    def put(self, path: str, info: ObjectInfo | Absent) -> None:
        """Remember the attributes of ``path`` for ``ttl`` seconds, or that it does not exist
        for ``negative_ttl`` seconds."""
        self._store((False, path), info, 1)

    def listing(self, directory: str) -> tuple[str, ...] | None:
        """The child names of ``directory``, sorted; ``None`` if not cached."""
        value = self._lookup((True, directory))
        assert value is None or isinstance(value, tuple)
        return value

    def put_listing(self, directory: str, names: Sequence[str]) -> None:
        """Remember the child names of ``directory``, unless more than ``max_entries // 4``."""
        if len(names) > self.max_entries // 4:
            self._drop((True, directory))
            return
        self._store((True, directory), tuple(sorted(names)), 1 + len(names))

    def invalidate(self, path: str) -> None:
        """Forget ``path`` (attributes, and listing if a directory) and its parent's listing."""
        self._drop((False, path))
        self._drop((True, path))
        self._drop((True, posixpath.dirname(path.rstrip("/"))))

    def clear(self) -> None:
        """Forget everything."""
        self._entries.clear()
        self._cost = 0

    def _lookup(self, slot: _Slot) -> ObjectInfo | Absent | tuple[str, ...] | None:
        entry = self._entries.get(slot)
        if entry is None:
            return None
        if self._clock() >= entry.expires:
            self._drop(slot)
            return None
        self._entries.move_to_end(slot)
        return entry.value

    def _store(self, slot: _Slot, value: ObjectInfo | Absent | tuple[str, ...], cost: int) -> None:
        self._drop(slot)
        ttl = self.negative_ttl if value is ABSENT else self.ttl
        if ttl == 0:
            return
        self._entries[slot] = _Entry(self._clock() + ttl, value, cost)
        self._cost += cost
        while self._cost > self.max_entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, slot: _Slot) -> None:
        entry = self._entries.pop(slot, None)
        if entry is not None:
            self._cost -= entry.cost
