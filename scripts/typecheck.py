"""Run ``mypy --strict`` once per package, over its sources and its tests, then over the tools.

One run per package: a single run over the whole tree trips on test modules
that share a name across packages (each package's tests are not a package).
The repository's own tools (scripts/, benchmarks/, docs/figures/,
tests/integration/) get one more run when every package is checked.

    python scripts/typecheck.py            # every package, then the tools
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


TOOLS = (".", "scripts", "benchmarks", "docs/figures", "tests/integration")


def check_tools() -> int:
    """The repository's own scripts: each folder's files are scripts, not packages.

    Scripts import their folder's packages (``benchmarks/wanem/``) and the
    benchmark modules as top-level modules, so each folder and ``benchmarks/``
    are on the search path of each run.
    """
    status = 0
    for folder in TOOLS:
        base = ROOT / folder
        targets = sorted(str(p) for p in base.glob("*.py"))
        targets += sorted(str(p.parent) for p in base.glob("*/__init__.py"))
        if not targets:
            continue
        print(f"mypy --strict {folder}", flush=True)
        cmd = [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(ROOT / "pyproject.toml"),
        ]
        env = dict(os.environ, MYPYPATH=os.pathsep.join([str(base), str(ROOT / "benchmarks")]))
        status |= subprocess.call([*cmd, *targets], cwd=ROOT, env=env)
    return status


def main() -> int:
    names = sys.argv[1:]
    failures = [p.name for p in package_dirs(names) if check(p) != 0]
    if not names and check_tools() != 0:
        failures.append("the tools")
    if failures:
        print(f"typecheck: mypy failed for {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
