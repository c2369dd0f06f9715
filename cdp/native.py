"""Which of the processor's hot modules run compiled, and whether a compiled one is out of date.

`make install` compiles `MODULES` with mypyc (`scripts/native.py`) into C extensions beside
their sources, which Python imports in their place. They are the per-event code of the
processor: decoding, identifier extraction and normalisation, identity resolution and folding,
the timeline's COPY text. Compiled, the processor's fold step took about 40% less time and
the processor folded about 7% more events/s (`cdp bench pipeline`, see the README). The build
needs a C compiler; `make install NATIVE=0` keeps them pure Python, which behaves the same.

A compiled module shadows its source, so an edit to the source does nothing until it is
compiled again; `stale` finds such modules (the test suite refuses to run with one).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
from collections.abc import Sequence
from pathlib import Path

__all__ = ["MODULES", "compiled", "stale"]

MODULES = (
    "cdp.identity.extract",
    "cdp.identity.model",
    "cdp.identity.normalize",
    "cdp.identity.resolver",
    "cdp.profiles.copytext",
    "cdp.profiles.decode",
    "cdp.profiles.events",
    "cdp.profiles.fold",
    "cdp.profiles.state",
)


def _files(module: str) -> tuple[Path, list[Path]]:
    """The source of `module` and the extension files built from it."""
    package, _, leaf = module.rpartition(".")
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"no package {package}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    built = [
        folder / f"{leaf}{suffix}"
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if (folder / f"{leaf}{suffix}").exists()
    ]
    return folder / f"{leaf}.py", built


def compiled(modules: Sequence[str] = MODULES) -> list[str]:
    """The modules of `modules` that have a compiled extension beside their source."""
    return [module for module in modules if _files(module)[1]]


def stale(modules: Sequence[str] = MODULES) -> list[str]:
    """The modules of `modules` whose compiled extension is older than their source."""
    out = []
    for module in modules:
        source, built = _files(module)
        if any(path.stat().st_mtime < source.stat().st_mtime for path in built):
            out.append(module)
    return out
