"""Run ``mypy --strict`` once per package, over its sources and its tests.

One run per package: a single run over the whole tree trips on test modules
that share a name across packages (each package's tests are not a package).

    python scripts/typecheck.py            # every package under packages/
    python scripts/typecheck.py netalgo    # only these package folders
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def package_dirs(names: list[str]) -> list[Path]:
    found = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())
    if not names:
        return found
    chosen = [p for p in found if p.name in names]
    missing = set(names) - {p.name for p in chosen}
    if missing:
        raise SystemExit(f"typecheck: no package folder named {', '.join(sorted(missing))}")
    return chosen


def check(package: Path) -> int:
    targets = [str(p) for p in (package / "src").iterdir() if p.is_dir()]
    if any((package / "tests").glob("*.py")):
        targets.append(str(package / "tests"))
    env = dict(os.environ, MYPYPATH=str(package / "src"))
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--strict",
        "--explicit-package-bases",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        *targets,
    ]
    print(f"mypy --strict packages/{package.name}", flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


def main() -> int:
    failures = [p.name for p in package_dirs(sys.argv[1:]) if check(p) != 0]
    if failures:
        print(f"typecheck: mypy failed for {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
