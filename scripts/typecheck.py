"""Runs mypy over the `cdp` namespace as it is installed, then over the tests and scripts.

setuptools maps `cdp.ingest` to `ingest/` (and so on) through an import hook mypy cannot follow,
so this mirrors the installed layout in `build/typecheck/cdp` with hard links, checks that, and
rewrites the paths in mypy's report back to the files you edit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"
FOLDERS = {"cdp": "cdp", "cdp/ingest": "ingest", "cdp/identity": "identity", "cdp/profiles": "profiles",
           "cdp/activation": "activation", "cdp/schemas": "schemas"}  # fmt: skip


def mirror(tree: Path = TREE) -> None:
    """The `cdp` namespace as installed, under `tree`: hard links to the sources."""
    shutil.rmtree(tree, ignore_errors=True)
    for target, folder in FOLDERS.items():
        for source in (ROOT / folder).rglob("*.py"):
            dest = tree / target / source.relative_to(ROOT / folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, dest)
    (tree / "cdp" / "py.typed").touch()


def run(args: list[str]) -> int:
    env = {**os.environ, "MYPYPATH": str(TREE)}
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *args]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    out = proc.stdout + proc.stderr
    prefix = str(TREE.relative_to(ROOT)) + "/"
    for target, folder in sorted(FOLDERS.items(), key=lambda kv: -len(kv[0])):
        out = out.replace(prefix + target + "/", folder + "/")
    sys.stdout.write(out)
    return proc.returncode


def main() -> int:
    mirror()
    return run(["-p", "cdp"]) or run(["scripts", "tests"])


if __name__ == "__main__":
    sys.exit(main())
