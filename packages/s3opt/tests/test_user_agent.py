"""The User-Agent s3opt sends: one fixed string naming s3opt and the stack beneath it."""

from __future__ import annotations

import platform
from importlib.metadata import version

import pytest

import s3opt
from s3opt import S3Config, S3Store
from s3opt._aws import user_agent


def test_the_user_agent_names_each_layer_and_its_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_SDK_UA_APP_ID", raising=False)
    expected = (
        f"s3opt/{s3opt.__version__} aiobotocore/{version('aiobotocore')} "
        f"Python/{platform.python_version()} {platform.system()}/{platform.release()}"
    )
    assert user_agent() == expected


def test_the_sdk_application_id_is_sent_as_the_sdks_send_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SDK_UA_APP_ID", "inventory-sync")
    assert user_agent().endswith(" app/inventory-sync")


@pytest.mark.asyncio
async def test_every_request_carries_it(
    s3_config: S3Config, bucket: str, sent_requests: list[tuple[str, dict[str, str]]]
) -> None:
    async with S3Store.open(f"s3://{bucket}/ua", s3_config) as store:
        await store.put("k", b"data")
        assert await store.get_range("k", 1, 2) == b"at"
        await store.head("k")
    operations = [operation for operation, _ in sent_requests]
    assert {"PutObject", "GetObject", "HeadObject"} <= set(operations)
    # botocore appends the session's extra (aiobotocore's: botocore's own version).
    sent = {headers.get("user-agent") for _, headers in sent_requests}
    assert sent == {f"{user_agent()} botocore/{version('botocore')}"}
