"""Finding compiled modules and compiled modules older than their sources (`cdp.native`)."""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp.native import MODULES, compiled, stale

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    """A package `fakepkg` with two modules, importable for the test's duration."""
    root = tmp_path / "fakepkg"
    root.mkdir()
    for name in ("__init__", "hot", "cold"):
        (root / f"{name}.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    yield root
    sys.path.remove(str(tmp_path))
    sys.modules.pop("fakepkg", None)


def _age(path: Path, seconds: float) -> None:
    then = path.stat().st_mtime - seconds
    os.utime(path, (then, then))


def test_an_extension_beside_its_source_counts_as_compiled(package: Path) -> None:
    (package / f"hot{SUFFIX}").write_bytes(b"")
    assert compiled(["fakepkg.hot", "fakepkg.cold"]) == ["fakepkg.hot"]


def test_an_extension_older_than_its_source_is_stale(package: Path) -> None:
    built = package / f"hot{SUFFIX}"
    built.write_bytes(b"")
    assert stale(["fakepkg.hot", "fakepkg.cold"]) == []
    _age(built, 60)
    assert stale(["fakepkg.hot", "fakepkg.cold"]) == ["fakepkg.hot"]


def test_every_listed_module_exists() -> None:
    assert len(compiled()) in (0, len(MODULES))
    assert stale() == []
