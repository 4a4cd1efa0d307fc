"""The inventory writer's plain scalars: a value with a '/' is never another YAML type, so it
is written plain without trying the implicit types, and PyYAML agrees byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from cargoship.inventory import EntryType, InventoryEntry
from cargoship.inventory._write import _entry_yaml, entry_doc

# Each is a YAML 1.1 int, float, bool, null or timestamp before its '/'.
NAMES = ("1/2", "0x1F/a", "0777/x", "1.5/e3", "2025-07-27/x", "yes/no", "null/x", "~/x", "1:30/x")


@pytest.mark.parametrize("name", NAMES)
def test_a_path_with_a_slash_is_written_as_pyyaml_writes_it(name: str) -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    entry = InventoryEntry(name, EntryType.FILE, 3, "sha256:" + "0" * 64, "zstd", when, 0o644, 7)
    reference = yaml.dump(
        [entry_doc(entry)],
        Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=1 << 16,
    )
    assert _entry_yaml(entry, {}, {}) == reference  # the item ship spools for this entry
    assert f"- path: {name}\n" in reference  # plain, as the writer's fast path writes it
    assert yaml.safe_load(reference)[0]["path"] == name
