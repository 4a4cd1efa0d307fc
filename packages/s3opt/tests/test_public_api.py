"""The names ``import s3opt`` offers, and that importing it stays cheap (no aiobotocore)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import s3opt
import s3opt.errors

PUBLIC = [
    "ColdStorage",
    "CommonPrefix",
    "LocalStore",
    "ObjectInfo",
    "ObjectStore",
    "PartInfo",
    "RestoreStatus",
    "S3Config",
    "S3OptError",
    "S3Store",
    "__version__",
    "open_store",
    "parse_url",
]


def test_all_is_pinned_and_every_name_resolves() -> None:
    assert sorted(s3opt.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(s3opt, name) is not None
    assert set(PUBLIC) <= set(dir(s3opt))


def test_s3store_is_the_class_of_its_module() -> None:
    from s3opt.s3store import S3Store

    assert s3opt.S3Store is S3Store


def test_unknown_name_is_an_attribute_error() -> None:
    name = "NoSuchThing"
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        getattr(s3opt, name)


def test_new_errors_are_exported() -> None:
    for name in ("ObjectChangedError", "InvalidTagsError"):
        assert name in s3opt.errors.__all__
        assert issubclass(getattr(s3opt.errors, name), s3opt.S3OptError)
    assert issubclass(s3opt.errors.InvalidTagsError, ValueError)


def test_import_loads_no_aws_sdk_until_s3store_is_used() -> None:
    probe = (
        "import sys, s3opt\n"
        "heavy = ('aiobotocore', 'botocore', 'aiohttp')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(heavy)}))\n"
        "s3opt.S3Store\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith(heavy)}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    before, after = result.stdout.splitlines()
    assert before == "[]"
    assert after == "['aiobotocore', 'aiohttp', 'botocore']"
