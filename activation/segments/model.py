"""The segment definition language: frozen pydantic models parsed from plain dicts (YAML or JSON).

A definition names a segment (`slug`, `name`, `description`), says who belongs to it (`condition`,
a tree of `all` / `any` / `not` over `event`, `trait`, `computed`, `group` and `consent` leaves) and
what a membership change carries (`emit`). The exact semantics of every operator are given by
`cdp.activation.segments.evaluate`, the reference evaluator.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cdp.activation.segments.errors import SegmentDefinitionError
from cdp.activation.segments.values import MAX_MS, MIN_MS, US_PER_DAY, is_scalar, iso_us, number
from cdp.definitions import join_path, parse_collection, read_definition_file

__all__ = [
    "COMPUTED_COUNTERS",
    "COMPUTED_TIMES",
    "EVENTS_PREFIX",
    "MAX_DEPTH",
    "All",
    "AnyOf",
    "ComputedCondition",
    "ComputedLeaf",
    "Condition",
    "Consent",
    "ConsentLeaf",
    "DaysAgo",
    "Emit",
    "EventLeaf",
    "EventSpec",
    "GroupCondition",
    "GroupLeaf",
    "Not",
    "PropertyCondition",
    "Reads",
    "SegmentDefinition",
    "TimeRange",
    "TraitCondition",
    "TraitLeaf",
    "Window",
    "is_configured",
    "load_segments",
    "parse_segment",
    "parse_segments",
    "reads",
]

Op = Literal[
    "eq", "neq", "in", "contains", "starts_with", "gt", "gte", "lt", "lte", "exists", "between"
]
OPS: tuple[str, ...] = get_args(Op)
ORDERING = frozenset({"gt", "gte", "lt", "lte"})
EventType = Literal["track", "page", "screen", "identify", "group", "alias"]

#: How deep `all` / `any` / `not` may nest.
MAX_DEPTH = 16
#: The largest `at_least` / `at_most` / `exactly`.
MAX_COUNT = 10_000
MAX_DAYS_AGO = 36_500
COMPUTED_COUNTERS = ("event_count", "page_views", "screen_views", "total_revenue", "order_count")
COMPUTED_TIMES = ("first_seen", "last_seen")
EVENTS_PREFIX = "events."
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
#: The names of configured computed traits (`cdp.profiles.computed`).
CONFIGURED_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
TAGS = ("all", "any", "not", "event", "trait", "computed", "group", "consent")
ISO_FORM = "YYYY-MM-DD[THH:MM[:SS[.ffffff]]][Z|±HH:MM]"


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _iso(value: str) -> str:
    us = iso_us(value)
    if us is None:
        raise ValueError(f"{value!r} is not an ISO-8601 date or datetime ({ISO_FORM})")
    if not MIN_MS * 1000 <= us <= MAX_MS * 1000:
        raise ValueError(f"{value!r} is outside the years 0001-9999 in UTC")
    return value


Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_text)]
IsoTime = Annotated[str, AfterValidator(_iso)]


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class DaysAgo(_Model):
    """A moment relative to the evaluation time: `now` minus `days_ago` times 24 hours."""

    days_ago: int = Field(strict=True, ge=0, le=MAX_DAYS_AGO)

    def us(self) -> int:
        """The offset from `now` in microseconds."""
        return self.days_ago * US_PER_DAY


@dataclass(frozen=True)
class _Rules:
    """What a kind of comparison accepts: its operators, equality values, ordered values."""

    ops: frozenset[str]
    numbers_only: bool
    ordered: frozenset[str]

    def kinds(self) -> str:
        words = {
            "number": "a number",
            "time": "an ISO-8601 date or datetime",
            "relative": "{days_ago: N}",
        }
        names = [words[k] for k in ("number", "time", "relative") if k in self.ordered]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]

    def scalar(self, value: Any) -> Any:
        if self.numbers_only:
            if number(value) is None:
                raise ValueError(f"expected a number, got {_describe(value)}")
            return value
        if not is_scalar(value):
            raise ValueError(f"expected a string, number or boolean, got {_describe(value)}")
        return _text(value) if isinstance(value, str) else value

    def bound(self, value: Any) -> Any:
        if "number" in self.ordered and number(value) is not None:
            return value
        if "time" in self.ordered and isinstance(value, str | dt.date):
            return _iso(_plain(value))
        if "relative" in self.ordered and isinstance(value, dict):
            try:
                return DaysAgo.model_validate(value)
            except ValidationError:
                raise ValueError(
                    f"expected {{days_ago: N}} with N a whole number from 0 to {MAX_DAYS_AGO}"
                ) from None
        raise ValueError(f"expected {self.kinds()}, got {_describe(value)}")

    def check(self, op: str, value: Any) -> Any:
        if op == "exists":
            if value is None or value is True:
                return True
            if value is False:
                return False
            raise ValueError("exists takes no value, or true (exists) / false (does not exist)")
        if value is None:
            raise ValueError(f"{op} needs a value")
        if op in ("eq", "neq", "contains"):
            return self.scalar(value)
        if op == "in":
            if not isinstance(value, list | tuple) or not value:
                raise ValueError(f"in takes a non-empty list, got {_describe(value)}")
            return tuple(_item(i, self.scalar, item) for i, item in enumerate(value))
        if op == "starts_with":
            if not isinstance(value, str):
                raise ValueError(f"starts_with takes a string, got {_describe(value)}")
            return _text(value)
        if op in ORDERING:
            return self.bound(value)
        return self.between(value)

    def between(self, value: Any) -> tuple[Any, Any]:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise ValueError(f"between takes [low, high], got {_describe(value)}")
        low, high = (_item(i, self.bound, v) for i, v in enumerate(value))
        if (number(low) is None) != (number(high) is None):
            raise ValueError("low and high must both be numbers or both be times")
        low_number, high_number = number(low), number(high)
        if low_number is not None and high_number is not None and low_number > high_number:
            raise ValueError("low is greater than high")
        low_us, high_us = iso_us(low), iso_us(high)
        if low_us is not None and high_us is not None and low_us > high_us:
            raise ValueError("low is later than high")
        if isinstance(low, DaysAgo) and isinstance(high, DaysAgo) and low.days_ago < high.days_ago:
            raise ValueError("low is later than high (a larger days_ago is earlier)")
        return low, high


def _item(index: int, check: Any, value: Any) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise ValueError(f"item {index}: {exc}") from None


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number" if is_scalar(value) else "a non-finite number"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


ALL_OPS = frozenset(OPS)
GENERAL = _Rules(ALL_OPS, numbers_only=False, ordered=frozenset({"number", "time"}))
TRAIT = _Rules(ALL_OPS, numbers_only=False, ordered=frozenset({"number", "time", "relative"}))
COUNTER = _Rules(
    frozenset({"eq", "neq", "in", "gt", "gte", "lt", "lte", "between"}),
    numbers_only=True,
    ordered=frozenset({"number"}),
)
TIME = _Rules(
    frozenset({"gt", "gte", "lt", "lte", "between", "exists"}),
    numbers_only=True,
    ordered=frozenset({"time", "relative"}),
)


class _Comparison(_Model):
    """`{name, op, value}`; subclasses declare the fields (the name first) and their `_RULES`."""

    _RULES: ClassVar[_Rules] = GENERAL

    @classmethod
    def _rules(cls, data: dict[str, Any]) -> _Rules | None:
        return cls._RULES

    @field_validator("op", check_fields=False)
    @classmethod
    def _check_op(cls, op: str, info: ValidationInfo) -> str:
        rules = cls._rules(info.data)
        if rules is not None and op not in rules.ops:
            allowed = ", ".join(o for o in OPS if o in rules.ops)
            raise ValueError(f"{op!r} is not one of {allowed}{cls._subject(info.data)}")
        return op

    @field_validator("value", check_fields=False)
    @classmethod
    def _check_value(cls, value: Any, info: ValidationInfo) -> Any:
        rules = cls._rules(info.data)
        op = info.data.get("op")
        if rules is None or op is None:
            return value
        return rules.check(op, value)

    @classmethod
    def _subject(cls, data: dict[str, Any]) -> str:
        return ""


class TraitCondition(_Comparison):
    """A profile trait (`profiles.traits -> name`) compared with a value."""

    _RULES: ClassVar[_Rules] = TRAIT
    name: Name
    op: Op
    value: Any = Field(default=None, validate_default=True)


class GroupCondition(_Comparison):
    """A trait of a group (account) the profile belongs to, compared with a value."""

    name: Name
    op: Op
    value: Any = Field(default=None, validate_default=True)


class PropertyCondition(_Comparison):
    """An event property (`events.properties -> property`) compared with a value."""

    property: Name
    op: Op
    value: Any = Field(default=None, validate_default=True)


class ComputedCondition(_Comparison):
    """A computed trait compared with a value.

    Counters (`event_count`, `page_views`, `screen_views`, `order_count`, `total_revenue`,
    `events.<Event Name>`) are numbers, 0 when never counted; `first_seen` / `last_seen` are times.
    Any other name is a configured computed trait (`cdp traits`), compared like a trait; a profile
    without a value for it (no counted event yet) has none, so it does not exist.
    """

    name: Name
    op: Op
    value: Any = Field(default=None, validate_default=True)

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if name in COMPUTED_COUNTERS or name in COMPUTED_TIMES:
            return name
        if name.startswith(EVENTS_PREFIX) and len(name) > len(EVENTS_PREFIX):
            return name
        if CONFIGURED_NAME.fullmatch(name):
            return name
        known = ", ".join(COMPUTED_COUNTERS + COMPUTED_TIMES)
        raise ValueError(
            f"{name!r} is not one of {known}, events.<Event Name> or a configured computed trait "
            "(lowercase letters, digits, underscores)"
        )

    @classmethod
    def _rules(cls, data: dict[str, Any]) -> _Rules | None:
        name = data.get("name")
        if name is None:
            return None
        if name in COMPUTED_TIMES:
            return TIME
        return GENERAL if is_configured(name) else COUNTER

    @classmethod
    def _subject(cls, data: dict[str, Any]) -> str:
        return f" for computed {data['name']!r}"

    @property
    def is_configured(self) -> bool:
        """Whether this reads a configured computed trait rather than a built-in one."""
        return is_configured(self.name)

    @property
    def is_time(self) -> bool:
        """Whether this reads `first_seen` / `last_seen` (epoch milliseconds) rather than a counter."""
        return self.name in COMPUTED_TIMES


def is_configured(name: str) -> bool:
    """Whether a computed-trait name refers to a configured trait (not a built-in one)."""
    return not (
        name in COMPUTED_COUNTERS or name in COMPUTED_TIMES or name.startswith(EVENTS_PREFIX)
    )


class Window(_Model):
    """A sliding window ending now: exactly one of `days`, `hours`, `minutes` (24-hour days)."""

    days: int | None = Field(default=None, strict=True, ge=1, le=3_650)
    hours: int | None = Field(default=None, strict=True, ge=1, le=87_600)
    minutes: int | None = Field(default=None, strict=True, ge=1, le=5_256_000)

    @model_validator(mode="after")
    def _one_unit(self) -> Window:
        if sum(v is not None for v in (self.days, self.hours, self.minutes)) != 1:
            raise ValueError("give exactly one of days, hours, minutes")
        return self

    @property
    def delta(self) -> timedelta:
        """The window's length."""
        return timedelta(days=self.days or 0, hours=self.hours or 0, minutes=self.minutes or 0)


class TimeRange(_Model):
    """A fixed range of event times: `from` (inclusive) to `to` (exclusive)."""

    from_: IsoTime = Field(alias="from")
    to: IsoTime

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _dates_as_text(cls, value: Any) -> Any:
        return _plain(value)

    @model_validator(mode="after")
    def _ordered(self) -> TimeRange:
        if (iso_us(self.from_) or 0) >= (iso_us(self.to) or 0):
            raise ValueError("from must be before to")
        return self


class EventSpec(_Model):
    """How many of the profile's events of a kind (and in a time window) there are.

    `type` defaults to `track` when `name` is given (otherwise any type); the count defaults to
    `at_least: 1`. The name is the track event, the page or screen name, the group id of a group
    call or the previous id of an alias; identify calls have none.
    """

    name: Name | None = None
    type: EventType | None = None
    where: tuple[PropertyCondition, ...] = ()
    within: Window | None = None
    between: TimeRange | None = None
    at_least: int | None = Field(default=None, strict=True, ge=1, le=MAX_COUNT)
    at_most: int | None = Field(default=None, strict=True, ge=0, le=MAX_COUNT)
    exactly: int | None = Field(default=None, strict=True, ge=0, le=MAX_COUNT)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("name") is not None and data.get("type") is None:
            data["type"] = "track"
        if all(data.get(k) is None for k in ("at_least", "at_most", "exactly")):
            data["at_least"] = 1
        return data

    @model_validator(mode="after")
    def _consistent(self) -> EventSpec:
        if self.within is not None and self.between is not None:
            raise ValueError("give at most one of within, between")
        counts = [self.at_least, self.at_most, self.exactly]
        if sum(c is not None for c in counts) != 1:
            raise ValueError("give exactly one of at_least, at_most, exactly")
        if self.type == "identify" and self.name is not None:
            raise ValueError("identify events have no name")
        return self


class Consent(_Model):
    """Consent to `purpose` is granted: `computed.consent.<purpose>.granted` is true."""

    purpose: Name


class EventLeaf(_Model):
    TAG: ClassVar[str] = "event"
    event: EventSpec


class TraitLeaf(_Model):
    TAG: ClassVar[str] = "trait"
    trait: TraitCondition


class ComputedLeaf(_Model):
    TAG: ClassVar[str] = "computed"
    computed: ComputedCondition


class GroupLeaf(_Model):
    TAG: ClassVar[str] = "group"
    group: GroupCondition


class ConsentLeaf(_Model):
    TAG: ClassVar[str] = "consent"
    consent: Consent


class All(_Model):
    TAG: ClassVar[str] = "all"
    conditions: tuple[Condition, ...] = Field(alias="all", min_length=1)


class AnyOf(_Model):
    TAG: ClassVar[str] = "any"
    conditions: tuple[Condition, ...] = Field(alias="any", min_length=1)


class Not(_Model):
    TAG: ClassVar[str] = "not"
    condition: Condition = Field(alias="not")


def _tag(value: Any) -> str | None:
    if isinstance(value, dict):
        if len(value) == 1:
            key = next(iter(value))
            return key if key in TAGS else None
        return None
    tag = getattr(value, "TAG", None)
    return tag if isinstance(tag, str) else None


Condition = Annotated[
    Annotated[All, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[Not, Tag("not")]
    | Annotated[EventLeaf, Tag("event")]
    | Annotated[TraitLeaf, Tag("trait")]
    | Annotated[ComputedLeaf, Tag("computed")]
    | Annotated[GroupLeaf, Tag("group")]
    | Annotated[ConsentLeaf, Tag("consent")],
    Discriminator(
        _tag,
        custom_error_type="condition_kind",
        custom_error_message="expected exactly one key of " + ", ".join(TAGS),
    ),
]

All.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


class Emit(_Model):
    """What each membership change carries besides the profile id: these traits and identifiers."""

    traits: tuple[Name, ...] = ()
    identifiers: tuple[Name, ...] = ()

    @field_validator("traits", "identifiers")
    @classmethod
    def _unique(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"{name!r} is listed twice")
            seen.add(name)
        return names


class SegmentDefinition(_Model):
    """One segment: its slug (the topic `cdp.segment.<slug>`), its condition and what it emits."""

    slug: str
    name: Name
    description: Annotated[str, AfterValidator(_text)] | None = None
    condition: Condition
    emit: Emit = Emit()

    @field_validator("slug")
    @classmethod
    def _check_slug(cls, slug: str) -> str:
        if SLUG.fullmatch(slug) is None:
            raise ValueError(
                f"{slug!r} must be 1-63 lowercase letters, digits or hyphens, not starting with a hyphen"
            )
        return slug

    @property
    def topic(self) -> str:
        """The compacted topic carrying the segment's current members."""
        return f"cdp.segment.{self.slug}"

    def canonical(self) -> dict[str, Any]:
        """The definition as plain JSON data, defaults filled in; `parse_segment` reads it back."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def fingerprint(self) -> str:
        """SHA-256 (hex) of the canonical definition: equal definitions have equal fingerprints.

        Spelling differences that parse to the same model (key order, omitted defaults such as
        `at_least: 1` or `type: track`, YAML dates versus ISO strings) do not change it; any change
        of slug, name, description, condition or emit does.
        """
        data = orjson.dumps(self.canonical(), option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Reads:
    """What a definition's membership depends on, to re-evaluate only segments a batch touched.

    `events` holds the event names read, `None` standing for "any name"; `windows` is true when
    membership can change with the passage of time alone (a `within` window, a `{days_ago: N}`).
    """

    traits: frozenset[str]
    computed: frozenset[str]
    events: frozenset[str | None]
    groups: bool
    consent: bool
    windows: bool

    def touched_by(
        self,
        *,
        traits: frozenset[str] | set[str] = frozenset(),
        computed: frozenset[str] | set[str] = frozenset(),
        events: frozenset[str | None] | set[str | None] = frozenset(),
        groups: bool = False,
        consent: bool = False,
    ) -> bool:
        """Whether a change of these traits, computed traits, event names (None: an unnamed
        event), group memberships or group traits, or consent may change membership."""
        return bool(
            self.traits & traits
            or self.computed & computed
            or (events and (None in self.events or self.events & events))
            or (groups and self.groups)
            or (consent and self.consent)
        )


def reads(defn: SegmentDefinition) -> Reads:
    """What `defn`'s condition reads (see `Reads`)."""
    traits: set[str] = set()
    computed: set[str] = set()
    events: set[str | None] = set()
    flags = {"groups": False, "consent": False, "windows": False}
    stack: list[Condition] = [defn.condition]
    while stack:
        node = stack.pop()
        if isinstance(node, All | AnyOf):
            stack.extend(node.conditions)
        elif isinstance(node, Not):
            stack.append(node.condition)
        elif isinstance(node, TraitLeaf):
            traits.add(node.trait.name)
            flags["windows"] |= _relative(node.trait.value)
        elif isinstance(node, ComputedLeaf):
            computed.add(node.computed.name)
            flags["windows"] |= _relative(node.computed.value)
        elif isinstance(node, EventLeaf):
            events.add(node.event.name)
            flags["windows"] |= node.event.within is not None
        elif isinstance(node, GroupLeaf):
            flags["groups"] = True
        else:
            flags["consent"] = True
    return Reads(frozenset(traits), frozenset(computed), frozenset(events), **flags)


def _relative(value: Any) -> bool:
    if isinstance(value, tuple):
        return any(isinstance(v, DaysAgo) for v in value)
    return isinstance(value, DaysAgo)


def parse_segment(data: Any) -> SegmentDefinition:
    """Parse and validate one definition; `SegmentDefinitionError` names every bad part by path.

    YAML dates and datetimes are taken as their ISO-8601 text.
    """
    definition, problems = _parse(data, "")
    if definition is None:
        raise SegmentDefinitionError(problems)
    return definition


def parse_segments(data: Any, source: str | None = None) -> list[SegmentDefinition]:
    """Parse a collection: one definition, a list of them, or `{segments: [...]}`; none (empty).

    Paths in errors start with `segments[i]` (or `[i]` for a bare list); two definitions with the
    same slug are an error.
    """
    return parse_collection(
        data,
        key="segments",
        what="segment definition",
        parse=_parse,
        identity=("slug", lambda definition: definition.slug),
        error=SegmentDefinitionError,
        source=source,
    )


def load_segments(path: Path) -> list[SegmentDefinition]:
    """Read definitions from a YAML file (`safe_load`), or JSON when the name ends in `.json`.

    The file holds one definition, a list of them or `{segments: [...]}`; see `parse_segments`.
    """
    return parse_segments(read_definition_file(path, SegmentDefinitionError), str(path))


def _parse(data: Any, at: str) -> tuple[SegmentDefinition | None, list[tuple[str, str]]]:
    if not isinstance(data, dict):
        return None, [(at, f"expected a mapping (a segment definition), got {_describe(data)}")]
    data = _plain(data)
    deep = _too_deep(data.get("condition"), join_path(at, "condition"), 1)
    if deep is not None:
        return None, [deep]
    try:
        return SegmentDefinition.model_validate(data), []
    except ValidationError as exc:
        return None, [
            (join_path(at, _path(err["loc"])), _message(err))
            for err in exc.errors(include_url=False)
        ]


def _plain(value: Any) -> Any:
    """`value` with YAML's dates and datetimes replaced by their ISO-8601 text."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _too_deep(node: Any, at: str, depth: int) -> tuple[str, str] | None:
    if not isinstance(node, dict) or len(node) != 1:
        return None
    ((key, child),) = node.items()
    if key not in ("all", "any", "not"):
        return None
    if depth > MAX_DEPTH:
        return at, f"conditions nest deeper than {MAX_DEPTH} levels of all/any/not"
    children = list(enumerate(child)) if isinstance(child, list) else [(None, child)]
    for index, sub in children:
        where = f"{at}.{key}" if index is None else f"{at}.{key}[{index}]"
        found = _too_deep(sub, where, depth + 1)
        if found is not None:
            return found
    return None


def _path(loc: tuple[int | str, ...]) -> str:
    """Pydantic's error location as `a.b[2].c`, without the union tags it inserts."""
    parts: list[int | str] = []
    i = 0
    while i < len(loc):
        part = loc[i]
        if part in TAGS and i + 1 < len(loc) and loc[i + 1] == part:
            i += 1
        parts.append(part)
        i += 1
    text = ""
    for part in parts:
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
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "condition_kind":
        got = err["input"]
        if isinstance(got, dict):
            keys = ", ".join(str(k) for k in got) or "none"
            return f"{err['msg']}; got keys {keys}"
        return f"{err['msg']}; got {_describe(got)}"
    return str(err["msg"])
