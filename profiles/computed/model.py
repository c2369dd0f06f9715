"""Computed-trait definitions: frozen pydantic models parsed from plain dicts (YAML or JSON).

A definition names a trait (`name`), says how it aggregates (`kind`, over the event `property`
path for every kind but `counter`), which events count (`event`: type, name and property
conditions, as in a segment's event leaf) and optionally over which sliding `window`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cdp.activation.segments.model import (
    COMPUTED_COUNTERS,
    COMPUTED_TIMES,
    EventType,
    PropertyCondition,
    Window,
)
from cdp.definitions import join_path, parse_collection, read_definition_file
from cdp.profiles.computed.errors import TraitDefinitionError

__all__ = [
    "KINDS",
    "NUMERIC_KINDS",
    "TALLY_KINDS",
    "EventFilter",
    "TraitDefinition",
    "load_traits",
    "parse_trait",
    "parse_traits",
]

Kind = Literal[
    "counter",
    "sum",
    "avg",
    "min",
    "max",
    "first",
    "last",
    "most_frequent",
    "unique_list",
    "unique_count",
]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]
#: Kinds that read a JSON number of the property (other values are skipped).
NUMERIC_KINDS = frozenset({"sum", "avg", "min", "max"})
#: Kinds that tally the property's scalar values (string, number, boolean).
TALLY_KINDS = frozenset({"most_frequent", "unique_list", "unique_count"})
NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
RESERVED = frozenset(COMPUTED_COUNTERS + COMPUTED_TIMES + ("events", "consent", "last_context"))
PATH_PART = re.compile(r"[^.\x00]{1,200}")


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class EventFilter(_Model):
    """Which events count: `type` (defaults to `track` when `name` is given, else any type),
    `name` (the track event, page or screen name) and property conditions that must all hold."""

    type: EventType | None = None
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    where: tuple[PropertyCondition, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _default_type(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("name") is not None and data.get("type") is None:
            return {**data, "type": "track"}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> EventFilter:
        if self.type == "identify" and self.name is not None:
            raise ValueError("identify events have no name")
        return self


class TraitDefinition(_Model):
    """One configured computed trait, stored per profile and readable by segments by `name`."""

    name: str
    description: str | None = None
    kind: Kind
    prop: str | None = Field(default=None, alias="property")
    event: EventFilter = EventFilter()
    window: Window | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if NAME.fullmatch(name) is None:
            raise ValueError(
                f"{name!r} must be 1-63 lowercase letters, digits or underscores, starting with a letter"
            )
        if name in RESERVED:
            raise ValueError(f"{name!r} is a built-in computed trait")
        return name

    @field_validator("prop")
    @classmethod
    def _check_property(cls, path: str | None) -> str | None:
        if path is not None and not all(PATH_PART.fullmatch(p) for p in path.split(".")):
            raise ValueError(f"{path!r} is not a property path (names joined by dots)")
        return path

    @model_validator(mode="after")
    def _property_needed(self) -> TraitDefinition:
        if self.kind == "counter" and self.prop is not None:
            raise ValueError("a counter counts events and takes no property")
        if self.kind != "counter" and self.prop is None:
            raise ValueError(f"{self.kind} needs a property (a path such as revenue or item.sku)")
        return self

    @property
    def path(self) -> list[str]:
        """The property path as the list of keys `#>` follows."""
        return [] if self.prop is None else self.prop.split(".")

    def canonical(self) -> dict[str, Any]:
        """The definition as plain JSON data, defaults filled in; `parse_trait` reads it back."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the canonical definition, so re-applying it unchanged is a no-op."""
        data = orjson.dumps(self.canonical(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(data).hexdigest()


def parse_trait(data: Any) -> TraitDefinition:
    """Parse and validate one definition; `TraitDefinitionError` names every bad part by path."""
    definition, problems = _parse(data, "")
    if definition is None:
        raise TraitDefinitionError(problems)
    return definition


def parse_traits(data: Any, source: str | None = None) -> list[TraitDefinition]:
    """One definition, a list of them or `{traits: [...]}`; paths start with `traits[i]` (or
    `[i]`); a name defined twice is an error."""
    return parse_collection(
        data,
        key="traits",
        what="trait definition",
        parse=_parse,
        identity=("name", lambda definition: definition.name),
        error=TraitDefinitionError,
        source=source,
    )


def load_traits(path: Path) -> list[TraitDefinition]:
    """Definitions from a YAML file, or JSON when the name ends in `.json` (see `parse_traits`)."""
    return parse_traits(read_definition_file(path, TraitDefinitionError), str(path))


def _parse(data: Any, at: str) -> tuple[TraitDefinition | None, list[tuple[str, str]]]:
    if not isinstance(data, dict):
        return None, [(at, "expected a mapping (a computed-trait definition)")]
    try:
        return TraitDefinition.model_validate(data), []
    except ValidationError as exc:
        return None, [
            (join_path(at, _path(err["loc"])), _message(err))
            for err in exc.errors(include_url=False)
        ]


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _message(err: Any) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return f"{err['input']!r} is not one of {', '.join(choices)}"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"]))
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown key"
    return str(err["msg"])
