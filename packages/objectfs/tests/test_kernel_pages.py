"""KernelPages: when the kernel may keep an inode's pages across an open."""

from __future__ import annotations

from objectfs.fs._pages import KernelPages


def test_kept_only_when_the_same_version_is_opened_again() -> None:
    pages = KernelPages()
    assert not pages.opened(5, ("e1", 10))  # nothing cached yet: the kernel's pages go
    assert pages.opened(5, ("e1", 10))
    assert not pages.opened(5, ("e2", 10))  # replaced: same size, another ETag
    assert not pages.opened(5, ("e2", 11))  # same ETag, another size
    assert not pages.opened(6, ("e2", 11))  # another inode has pages of its own


def test_an_open_of_no_version_forgets_the_one_recorded() -> None:
    pages = KernelPages()
    pages.opened(5, ("e1", 10))
    assert not pages.opened(5, None)  # opened for writing
    assert not pages.opened(5, ("e1", 10))


def test_a_read_of_another_version_makes_the_pages_unknown() -> None:
    pages = KernelPages()
    pages.opened(5, ("e2", 10))
    pages.filled(5, ("e2", 10))
    assert pages.opened(5, ("e2", 10))
    pages.filled(5, ("e1", 10))  # a handle opened before the replacement
    assert not pages.opened(5, ("e2", 10))
    assert pages.opened(5, ("e2", 10))  # read through handles of e2 only since


def test_forgotten_inodes_are_dropped() -> None:
    pages = KernelPages()
    pages.opened(5, ("e1", 10))
    pages.opened(6, ("e1", 10))
    pages.forgotten(5)
    assert len(pages) == 1
    assert not pages.opened(5, ("e1", 10))
