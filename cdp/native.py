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

__all__ = ["MODULES", "compiled", "extensions", "package_folder", "stale"]

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


def package_folder(package: str) -> Path:
    """The folder `package` is imported from (``cdp.identity`` → ``identity/``)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LookupError(f"no package {package}")
    return Path(next(iter(spec.submodule_search_locations)))


def extensions(module: str) -> list[Path]:
    """The extension files of `module` for this interpreter that exist beside its source."""
    package, _, leaf = module.rpartition(".")
    folder = package_folder(package)
    candidates = (folder / f"{leaf}{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES)
    return [path for path in candidates if path.exists()]


def _source(module: str) -> Path:
    package, _, leaf = module.rpartition(".")
    return package_folder(package) / f"{leaf}.py"


def compiled(modules: Sequence[str] = MODULES) -> list[str]:
    """The modules of `modules` that have a compiled extension beside their source."""
    return [module for module in modules if extensions(module)]


def stale(modules: Sequence[str] = MODULES) -> list[str]:
    """The modules of `modules` whose compiled extension is older than their source."""
    out = []
    for module in modules:
        source = _source(module).stat().st_mtime
        if any(path.stat().st_mtime < source for path in extensions(module)):
            out.append(module)
    return out
