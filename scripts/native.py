"""Compiles the processor's hot modules (`cdp.native.MODULES`) with mypyc, beside their sources.

    python scripts/native.py build   # compile, then copy each extension next to its source
    python scripts/native.py clean   # remove the extensions: back to pure Python

mypyc needs the modules under their installed names (`cdp.identity.extract`, not
`identity.extract`), so it compiles the mirror of the installed layout that `typecheck.py`
makes, here under `build/native/src`. All modules form one group, `cdp._native`, whose shared
library lives in the `cdp` package; calls between them stay native.
"""

from __future__ import annotations

import importlib.machinery
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from typecheck import FOLDERS, ROOT, mirror

from cdp.native import MODULES

WORK = ROOT / "build" / "native"
SOURCES = WORK / "src"
GROUP = "cdp._native"


def _folder_of(package_path: str) -> Path:
    """The source folder of an installed package path (``cdp/identity`` → ``identity/``)."""
    for target, folder in sorted(FOLDERS.items(), key=lambda kv: -len(kv[0])):
        if package_path == target or package_path.startswith(target + "/"):
            return ROOT / folder / package_path[len(target) :].lstrip("/")
    raise LookupError(package_path)


def _extensions() -> list[Path]:
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found = []
    for module in (*MODULES, f"{GROUP}__mypyc"):
        package, _, leaf = module.rpartition(".")
        folder = _folder_of(package.replace(".", "/"))
        found += [p for p in folder.glob(f"{leaf}.*") if p.name.endswith(suffixes)]
    return found


def clean() -> None:
    for path in _extensions():
        path.unlink()


def build() -> None:
    from mypyc.build import mypycify
    from setuptools import setup  # type: ignore[import-untyped]

    os.chdir(ROOT)
    mirror(SOURCES)
    os.environ["MYPYPATH"] = str(SOURCES)
    paths = [str(SOURCES / (m.replace(".", "/") + ".py")) for m in MODULES]
    extensions = mypycify(
        ["--config-file", str(ROOT / "pyproject.toml"), *paths],
        opt_level="3",
        group_name=GROUP,
        target_dir=str(WORK / "c"),
    )
    lib = WORK / "lib"
    shutil.rmtree(lib, ignore_errors=True)
    os.chdir(WORK)  # away from pyproject.toml, which setup() would read as this build's metadata
    setup(
        name="cdp-native",
        ext_modules=extensions,
        script_args=["--quiet", "build_ext", "--build-lib", str(lib), "--build-temp", str(WORK / "temp")],
    )  # fmt: skip
    clean()
    for built in lib.rglob("*"):
        if built.is_file():
            package = str(built.parent.relative_to(lib))
            shutil.copy2(built, _folder_of(package) / built.name)


def main(argv: list[str]) -> int:
    if argv == ["build"]:
        build()
    elif argv == ["clean"]:
        clean()
    else:
        sys.stderr.write(__doc__ or "")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
