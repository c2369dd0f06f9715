"""Definition files shared by segments and computed traits: one definition, a list of them, or
`{<key>: [...]}`, in YAML or JSON, with every problem named by its path in the document."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

__all__ = ["Problem", "join_path", "parse_collection", "read_definition_file"]

T = TypeVar("T")
Problem = tuple[str, str]
"""(path in the document, what is wrong there)."""
ErrorFactory = Callable[[list[Problem], str | None], Exception]
ItemParser = Callable[[Any, str], tuple[T | None, list[Problem]]]


def join_path(prefix: str, path: str) -> str:
    """`prefix` and `path` joined as a document path: `segments[0]` + `name` is
    `segments[0].name`, + `[2]` is `segments[0][2]`."""
    if not prefix or not path:
        return prefix or path
    return prefix + ("" if path.startswith("[") else ".") + path


def read_definition_file(path: Path, error: ErrorFactory) -> Any:
    """The document in `path`: YAML (`safe_load`), or JSON when the name ends in `.json`;
    `error(...)` naming the file if it cannot be read or parsed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise error([("", f"cannot read the file: {exc}")], str(path)) from exc
    is_json = path.suffix.lower() == ".json"
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if is_json else "YAML"
        message = " ".join(str(exc).split())
        raise error([("", f"not valid {kind}: {message}")], str(path)) from exc


def parse_collection(
    data: Any,
    *,
    key: str,
    what: str,
    parse: ItemParser[T],
    identity: tuple[str, Callable[[T], str]],
    error: ErrorFactory,
    source: str | None = None,
) -> list[T]:
    """Every definition in `data` (one, a list, or `{key: [...]}`; None is none), each parsed by
    `parse(item, path)`. Paths start with `key[i]` (or `[i]` for a bare list). Two definitions
    with the same `identity` (field name, getter) are an error; all problems are raised together
    as `error(problems, source)`."""
    if data is None:
        return []
    prefix: str | None
    if isinstance(data, dict) and key in data:
        extra = sorted(str(k) for k in data if k != key)
        if extra:
            raise error([(extra[0], "unknown key")], source)
        items, prefix = data[key], key
        if not isinstance(items, list):
            raise error([(key, "expected a list")], source)
    elif isinstance(data, list):
        items, prefix = data, ""
    elif isinstance(data, dict):
        items, prefix = [data], None
    else:
        raise error([("", f"expected a {what}, a list of them or {{{key}: [...]}}")], source)
    field, identify = identity
    problems: list[Problem] = []
    found: list[T] = []
    first_at: dict[str, str] = {}
    for index, item in enumerate(items):
        at = "" if prefix is None else f"{prefix}[{index}]"
        definition, errors = parse(item, at)
        problems += errors
        if definition is None:
            continue
        value = identify(definition)
        if value in first_at:
            problems.append(
                (
                    join_path(at, field),
                    f"duplicate {field} {value!r} (first at {first_at[value]})",
                )
            )
        else:
            first_at[value] = at or "the top"
        found.append(definition)
    if problems:
        raise error(problems, source)
    return found
