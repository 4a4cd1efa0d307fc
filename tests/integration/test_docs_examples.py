"""The Python examples in docs/ run as written, each in a fresh interpreter.

A user copies these blocks first; each one asserts what it claims, so an
example that drifts from the library fails here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for number, code in enumerate(BLOCK.findall(page.read_text()), start=1):
            found.append((f"{page.name}#{number}", code))
    return found


@pytest.mark.integration
@pytest.mark.parametrize(("where", "code"), examples(), ids=[w for w, _ in examples()])
def test_example_runs(where: str, code: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 0, f"{where} failed:\n{run.stderr}"
    assert run.stdout.strip(), f"{where} printed nothing"
