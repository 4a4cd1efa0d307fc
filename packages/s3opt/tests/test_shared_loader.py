"""Stores share botocore's data loader (its parsed JSON models), not their sessions.

Opening a store used to parse botocore's S3 model and endpoint rules again every
time; the loader is now shared per data path, while each client keeps its own
session (credentials whose refresh locks belong to one event loop). The tests
check the sharing and that stores still work from separate event loops and threads.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any, cast

import pytest

from s3opt._aws import _session, open_endpoints
from s3opt.config import S3Config
from s3opt.s3store import S3Store


def test_sessions_share_one_loader_per_data_path(
    s3_config: S3Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _session(s3_config), _session(s3_config)
    assert first is not second
    assert first.get_component("data_loader") is second.get_component("data_loader")
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    elsewhere = _session(s3_config).get_component("data_loader")
    assert elsewhere is not first.get_component("data_loader")
    assert str(tmp_path) in elsewhere.search_paths


def test_clients_share_the_parsed_s3_model(s3_config: S3Config) -> None:
    async def service_model() -> object:
        async with open_endpoints(s3_config) as endpoints:
            model = cast(Any, endpoints.primary.meta.service_model)
            return model._service_description

    # The same dict, parsed once: loaded through one loader's cache.
    assert asyncio.run(service_model()) is asyncio.run(service_model())


def test_stores_work_from_separate_loops_and_threads(s3_config: S3Config, bucket: str) -> None:
    results: dict[str, bytes] = {}

    async def round_trip(name: str) -> None:
        async with S3Store.open(f"s3://{bucket}/loops/", s3_config) as store:
            await store.put(name, name.encode() * 3)
            results[name] = await store.get_range(name, 0, 3 * len(name))

    asyncio.run(round_trip("first-loop"))
    asyncio.run(round_trip("second-loop"))
    threads = [
        threading.Thread(target=asyncio.run, args=(round_trip(f"thread-{n}"),)) for n in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results == {name: name.encode() * 3 for name in results}
    assert sorted(results) == ["first-loop", "second-loop", "thread-0", "thread-1"]
