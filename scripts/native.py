"""Compiles the processor's hot modules (`cdp.native.MODULES`) with mypyc, beside their sources.

    python scripts/native.py build   # compile, then copy each extension next to its source
    python scripts/native.py clean   # remove the extensions: back to pure Python

mypyc needs the modules under their installed names (`cdp.identity.extract`, not
`identity.extract`), so it compiles the mirror of the installed layout that `typecheck.py`
makes, here under `build/native/src`. All modules form one group, `cdp._native`, whose shared
library lives in the `cdp` package; calls between them stay native.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from typecheck import ROOT, mirror

from cdp.native import MODULES, extensions, package_folder

WORK = ROOT / "build" / "native"
SOURCES = WORK / "src"
GROUP = "cdp._native"


def _extensions() -> list[Path]:
    return [path for module in (*MODULES, f"{GROUP}__mypyc") for path in extensions(module)]


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
    compiled = mypycify(
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
        ext_modules=compiled,
        script_args=["--quiet", "build_ext", "--build-lib", str(lib), "--build-temp", str(WORK / "temp")],
    )  # fmt: skip
    clean()
    for built in lib.rglob("*"):
        if built.is_file():
            package = ".".join(built.parent.relative_to(lib).parts)
            shutil.copy2(built, package_folder(package) / built.name)


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
