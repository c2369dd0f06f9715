"""Segment definitions compiled to SQLAlchemy Core over the profile store (Postgres).

Every value and every name from a definition (trait, property, event, purpose) is a bound
parameter, never SQL text. Every cast is guarded by a `CASE` that proves it cannot fail (a failing
cast would abort the caller's transaction): numbers are read only from jsonb numbers, times only
from strings matching `values.ISO_SQL_REGEX` whose day exists in the calendar. Each leaf yields
true or false, never NULL, so `not` is exact.

The Python evaluator in `cdp.activation.segments.evaluate` gives the same answers (a property test
checks it against Postgres).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, INTERVAL, JSONB, TIMESTAMP
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Select

from cdp.activation.segments.model import (
    EVENTS_PREFIX,
    All,
    AnyOf,
    ComputedCondition,
    ComputedLeaf,
    Condition,
    ConsentLeaf,
    DaysAgo,
    EventLeaf,
    EventSpec,
    GroupCondition,
    GroupLeaf,
    Not,
    PropertyCondition,
    SegmentDefinition,
    TraitCondition,
    TraitLeaf,
    Window,
)
from cdp.activation.segments.values import (
    BOUNDARY_LIMIT,
    ISO_SQL_REGEX,
    MAX_MS,
    MIN_MS,
    US_PER_DAY,
    as_datetime,
    epoch_us,
    iso_us_valid,
    number,
)
from cdp.db.tables import computed_trait_values, events, group_members, groups, profiles

__all__ = [
    "NOW",
    "SharedEvents",
    "event_depth",
    "event_key",
    "event_leaves",
    "event_times",
    "live_members_query",
    "membership_condition",
    "next_boundary",
    "property_condition",
]

TIMESTAMPTZ = TIMESTAMP(timezone=True)
#: The evaluation time as a bound parameter (`now=None` below), so that one compiled statement
#: serves every evaluation time; its value here is a placeholder, replaced on every execution.
NOW = sa.bindparam("now", value=datetime(1970, 1, 1, tzinfo=UTC), type_=TIMESTAMPTZ)
_MICROSECOND = timedelta(microseconds=1)
Comparison = TraitCondition | GroupCondition | PropertyCondition | ComputedCondition
#: Per `event_key`, a column (of a relation the caller joins to `profiles`) holding that
#: profile's `event_times` of the key, at least `event_depth` deep for every leaf reading it.
SharedEvents = Mapping[str, ColumnElement[Any]]


def membership_condition(
    defn: SegmentDefinition, now: datetime | None, shared: SharedEvents | None = None
) -> ColumnElement[bool]:
    """Whether a `profiles` row satisfies `defn` at `now` (timezone-aware), as a boolean
    expression correlated to `cdp.db.tables.profiles`; never NULL. It does not look at
    `merged_into`: see `live_members_query`. With `now` None, the time is the `NOW` parameter.
    Event leaves whose `event_key` is in `shared` read the event times there instead of the
    timeline (same answer, see `event_times`)."""
    return _Compiler(now, shared).condition(defn.condition)


def event_leaves(node: Condition) -> Iterator[EventSpec]:
    """The event leaves under `node`, depth first."""
    if isinstance(node, All | AnyOf):
        for child in node.conditions:
            yield from event_leaves(child)
    elif isinstance(node, Not):
        yield from event_leaves(node.condition)
    elif isinstance(node, EventLeaf):
        yield node.event


def event_key(spec: EventSpec) -> str:
    """What decides which events an event leaf counts (all but its count): leaves with the same
    key, in one segment or several, can share one read of the timeline (`event_times`)."""
    return spec.model_dump_json(exclude={"at_least", "at_most", "exactly"})


def event_depth(spec: EventSpec) -> int:
    """How many of the newest matching events the leaf's membership and boundary look at: it
    asks whether there are more than n, and for the (n+1)-th newest, for n below this."""
    if spec.at_least is not None:
        return spec.at_least
    return (spec.at_most if spec.at_most is not None else spec.exactly or 0) + 1


def event_times(spec: EventSpec, now: datetime | None, depth: int) -> ColumnElement[Any]:
    """The times of the `depth` newest events `spec` counts (newest first; ties in any order,
    as only the times are read), as a timestamptz array correlated to `profiles`, never NULL.

    Leaves of `spec`'s key with `event_depth` at most `depth` read their answer from it: more
    than n events is `cardinality > n`, the (n+1)-th newest is element n+1 (NULL past the end),
    exactly what the timeline subqueries (OFFSET n LIMIT 1) give."""
    compiler = _Compiler(now)
    newest = (
        sa.select(events.c.event_time)
        .where(*compiler.event_filters(spec))
        .order_by(events.c.event_time.desc())
        .limit(depth)
    )
    return sa.func.array(newest.scalar_subquery(), type_=ARRAY(TIMESTAMPTZ))


def live_members_query(
    defn: SegmentDefinition, now: datetime | None, profile_ids: Sequence[int] | None = None
) -> Select[Any]:
    """The ids of the live profiles (`merged_into IS NULL`) that are members of `defn` at `now`,
    among `profile_ids` when given (bound as one array parameter)."""
    query = sa.select(profiles.c.id).where(
        profiles.c.merged_into.is_(None), membership_condition(defn, now)
    )
    if profile_ids is not None:
        ids = sa.literal(list(profile_ids), ARRAY(sa.BigInteger))
        query = query.where(profiles.c.id == sa.any_(ids))
    return query


def property_condition(
    properties: ColumnElement[Any], cond: PropertyCondition, now: datetime
) -> ColumnElement[bool]:
    """`cond` applied to the jsonb object `properties` (an event's), exactly as an event leaf's
    `where` reads it; never NULL."""
    return _Compiler(now).compare(_get(properties, cond.property), cond)


def next_boundary(
    defn: SegmentDefinition, now: datetime | None, shared: SharedEvents | None = None
) -> ColumnElement[datetime] | None:
    """Per profile, the earliest instant after `now` at which time alone changes a leaf of `defn`.

    A correlated timestamptz expression over `profiles`, NULL when no leaf will ever change on its
    own; None when `defn` has no time-dependent leaf (`within` windows, `{days_ago: N}`).

    Exactness: assuming the profile's data does not change, every leaf keeps its value on
    [now, boundary), and at `boundary` at least one time-dependent leaf has a different value, so
    membership cannot change before it but may stay the same at it (evaluate again and ask for the
    next boundary). A `within` leaf changes when the event that decides its count leaves the window
    (the k-th newest for `at_least: k`, the (k+1)-th for `at_most: k`); a `days_ago` comparison when
    the moving threshold crosses the stored time. Instants from the year 9999 on are not reported.
    With `now` None, the time is the `NOW` parameter; `shared` as for `membership_condition`.
    """
    compiler = _Compiler(now, shared)
    found = list(compiler.boundaries(defn.condition))
    if not found:
        return None
    if len(found) == 1:
        return found[0]
    return sa.func.least(*found, type_=TIMESTAMPTZ)


def _get(x: ColumnElement[Any], key: str) -> ColumnElement[Any]:
    """`x -> key`: the member `key` of a jsonb object, NULL for any other jsonb (arrays included)."""
    return x.op("->", return_type=JSONB)(sa.literal(key, sa.Text))


def _typeof(x: ColumnElement[Any]) -> ColumnElement[str]:
    return sa.func.jsonb_typeof(x, type_=sa.Text)


def _text(x: ColumnElement[Any]) -> ColumnElement[str]:
    """A jsonb string's text (`x #>> '{}'`)."""
    return x.op("#>>", return_type=sa.Text)(sa.literal_column("'{}'::text[]"))


def _false_if_null(x: ColumnElement[bool]) -> ColumnElement[bool]:
    return sa.func.coalesce(x, sa.false(), type_=sa.Boolean)


def _jsonb(value: Any) -> ColumnElement[Any]:
    return sa.literal(value, JSONB)


def _decimal(value: Decimal) -> ColumnElement[Decimal]:
    return sa.literal(value, sa.Numeric)


def _instant(us: int) -> ColumnElement[datetime]:
    return sa.literal(as_datetime(us), TIMESTAMPTZ)


def _interval(us: int) -> ColumnElement[Any]:
    """An interval of exactly `us` microseconds (no calendar days, so no time zone effects)."""
    return sa.cast(sa.literal(f"{us} microseconds"), INTERVAL)


def _number_of(x: ColumnElement[Any]) -> ColumnElement[Decimal]:
    return sa.case((_typeof(x) == "number", sa.cast(x, sa.Numeric)))


def _iso_time(text: ColumnElement[str]) -> ColumnElement[datetime]:
    """`text` as a timestamptz when it is an ISO-8601 time (see `values`), else NULL; cannot fail."""
    year = sa.cast(sa.func.substr(text, 1, 4), sa.Integer)
    month = sa.cast(sa.func.substr(text, 6, 2), sa.Integer)
    day = sa.cast(sa.func.substr(text, 9, 2), sa.Integer)
    shifted = sa.func.make_date(year, month, 1, type_=sa.Date) + (day - 1)
    real_day = sa.func.date_part("month", shifted) == month
    has_offset = sa.func.substr(text, 11).op("~", return_type=sa.Boolean)("[Z+-]")
    parsed = sa.case(
        (has_offset, sa.cast(text, TIMESTAMPTZ)),
        else_=sa.func.timezone("UTC", sa.cast(text, TIMESTAMP()), type_=TIMESTAMPTZ),
    )
    matches = text.op("~", return_type=sa.Boolean)(ISO_SQL_REGEX)
    return sa.case((matches, sa.case((real_day, parsed))))


def _time_of(x: ColumnElement[Any]) -> ColumnElement[datetime]:
    return sa.case((_typeof(x) == "string", _iso_time(_text(x))))


def _ms_of(x: ColumnElement[Any]) -> ColumnElement[Decimal]:
    """Whole epoch milliseconds within years 0001-9999 as numeric, else NULL."""
    ms = sa.cast(x, sa.Numeric)
    valid = sa.and_(ms == sa.func.trunc(ms), ms.between(MIN_MS, MAX_MS))
    return sa.case((_typeof(x) == "number", sa.case((valid, ms))))


def _ms_instant(ms: ColumnElement[Decimal]) -> ColumnElement[datetime]:
    """The timestamptz of whole epoch milliseconds, computed exactly (days, then milliseconds)."""
    day_ms = US_PER_DAY // 1000
    days = sa.cast(sa.func.div(ms, day_ms), sa.Float)
    rest = sa.cast(sa.func.mod(ms, day_ms), sa.Float)
    day = sa.literal_column("interval '24 hours'", INTERVAL)
    milli = sa.literal_column("interval '1 millisecond'", INTERVAL)
    return (
        sa.func.to_timestamp(0, type_=TIMESTAMPTZ)
        + day.op("*", return_type=INTERVAL)(days)
        + milli.op("*", return_type=INTERVAL)(rest)
    )


class _Compiler:
    """Compiles conditions evaluated at `now`, or at the `NOW` parameter when `now` is None
    (instants relative to it are then computed by Postgres, exactly: intervals of microseconds)."""

    def __init__(self, now: datetime | None, shared: SharedEvents | None = None) -> None:
        self.now_us = None if now is None else epoch_us(now)
        self.shared: SharedEvents = shared or {}

    def shared_times(self, spec: EventSpec) -> ColumnElement[Any] | None:
        return self.shared.get(event_key(spec)) if self.shared else None

    def now(self) -> ColumnElement[datetime]:
        return NOW if self.now_us is None else _instant(self.now_us)

    def before_now(self, us: int) -> ColumnElement[datetime]:
        """The instant `us` microseconds before now."""
        if self.now_us is None:
            return NOW - _interval(us)
        return _instant(self.now_us - us)

    def before_now_ms(self, us: int) -> ColumnElement[Decimal]:
        """Epoch milliseconds (numeric, fractional) of the instant `us` microseconds before now."""
        if self.now_us is None:
            epoch = sa.cast(sa.extract("epoch", NOW), sa.Numeric)
            return epoch * 1000 - _decimal(Decimal(us) / 1000)
        return _decimal(Decimal(self.now_us - us) / 1000)

    def condition(self, node: Condition) -> ColumnElement[bool]:
        if isinstance(node, All):
            return sa.and_(*(self.condition(c) for c in node.conditions))
        if isinstance(node, AnyOf):
            return sa.or_(*(self.condition(c) for c in node.conditions))
        if isinstance(node, Not):
            return sa.not_(self.condition(node.condition))
        if isinstance(node, TraitLeaf):
            return self.compare(_get(profiles.c.traits, node.trait.name), node.trait)
        if isinstance(node, ComputedLeaf):
            return self.compare(_computed_value(node.computed), node.computed)
        if isinstance(node, GroupLeaf):
            return self.group(node.group)
        if isinstance(node, EventLeaf):
            return self.event(node.event)
        return self.consent(node)

    def compare(self, x: ColumnElement[Any], cond: Comparison) -> ColumnElement[bool]:
        """`cond` applied to the jsonb `x` (NULL when missing)."""
        op, value = cond.op, cond.value
        if op == "exists":
            present = _false_if_null(_typeof(x) != "null")
            return present if value else sa.not_(present)
        if op == "eq":
            return _false_if_null(x == _jsonb(value))
        if op == "neq":
            return sa.not_(_false_if_null(x == _jsonb(value)))
        if op == "in":
            return _false_if_null(sa.or_(*(x == _jsonb(v) for v in value)))
        if op == "contains":
            member = sa.and_(
                _typeof(x) == "array",
                x.op("@>", return_type=sa.Boolean)(_jsonb([value])),
            )
            if not isinstance(value, str):
                return _false_if_null(member)
            inside = sa.and_(_typeof(x) == "string", sa.func.strpos(_text(x), value) > 0)
            return _false_if_null(sa.or_(inside, member))
        if op == "starts_with":
            return _false_if_null(
                sa.and_(_typeof(x) == "string", sa.func.starts_with(_text(x), value))
            )
        is_ms = isinstance(cond, ComputedCondition) and cond.is_time
        if op == "between":
            low, high = value
            left = self.ordered_side(x, low, is_ms)
            return _false_if_null(
                sa.and_(
                    left >= self.ordered_value(low, is_ms),
                    left <= self.ordered_value(high, is_ms),
                )
            )
        left = self.ordered_side(x, value, is_ms)
        right = self.ordered_value(value, is_ms)
        compared = {"gt": left > right, "gte": left >= right, "lt": left < right}
        return _false_if_null(compared.get(op, left <= right))

    def ordered_side(self, x: ColumnElement[Any], value: Any, is_ms: bool) -> ColumnElement[Any]:
        if is_ms:
            return _ms_of(x)
        if number(value) is not None:
            return _number_of(x)
        return _time_of(x)

    def ordered_value(self, value: Any, is_ms: bool) -> ColumnElement[Any]:
        decimal = number(value)
        if decimal is not None:
            return _decimal(decimal)
        if isinstance(value, DaysAgo):
            return self.before_now_ms(value.us()) if is_ms else self.before_now(value.us())
        us = iso_us_valid(value)
        return _decimal(Decimal(us) / 1000) if is_ms else _instant(us)

    def group(self, cond: GroupCondition) -> ColumnElement[bool]:
        joined = group_members.outerjoin(groups, groups.c.group_id == group_members.c.group_id)
        return sa.exists(
            sa.select(sa.literal(1))
            .select_from(joined)
            .where(
                group_members.c.profile_id == profiles.c.id,
                self.compare(_get(groups.c.traits, cond.name), cond),
            )
        )

    def consent(self, leaf: ConsentLeaf) -> ColumnElement[bool]:
        consent = _get(_get(profiles.c.computed, "consent"), leaf.consent.purpose)
        granted = consent.op("->>", return_type=sa.Text)(sa.literal("granted", sa.Text))
        return _false_if_null(granted == "true")

    def event_filters(self, spec: EventSpec) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [events.c.profile_id == profiles.c.id]
        if spec.type is not None:
            found.append(events.c.type == spec.type)
        if spec.name is not None:
            found.append(events.c.name == spec.name)
        if spec.within is not None:
            found.append(events.c.event_time > self.before_now(spec.within.delta // _MICROSECOND))
        if spec.between is not None:
            start, end = iso_us_valid(spec.between.from_), iso_us_valid(spec.between.to)
            found += [events.c.event_time >= _instant(start), events.c.event_time < _instant(end)]
        found += [self.compare(_get(events.c.properties, w.property), w) for w in spec.where]
        return found

    def event(self, spec: EventSpec) -> ColumnElement[bool]:
        times = self.shared_times(spec)
        filters = self.event_filters(spec) if times is None else []

        def has_more_than(n: int) -> ColumnElement[bool]:
            if times is not None:
                return sa.func.cardinality(times, type_=sa.Integer) > n
            return sa.exists(sa.select(sa.literal(1)).where(*filters).offset(n).limit(1))

        if spec.at_least is not None:
            return has_more_than(spec.at_least - 1)
        if spec.at_most is not None:
            return sa.not_(has_more_than(spec.at_most))
        exactly = spec.exactly or 0
        if exactly == 0:
            return sa.not_(has_more_than(0))
        return sa.and_(has_more_than(exactly - 1), sa.not_(has_more_than(exactly)))

    def boundaries(self, node: Condition) -> Iterator[ColumnElement[datetime]]:
        """Candidate instants at which a time-dependent leaf under `node` changes (or NULL)."""
        if isinstance(node, All | AnyOf):
            for child in node.conditions:
                yield from self.boundaries(child)
        elif isinstance(node, Not):
            yield from self.boundaries(node.condition)
        elif isinstance(node, EventLeaf) and node.event.within is not None:
            yield self.future(self.event_boundary(node.event, node.event.within))
        elif isinstance(node, TraitLeaf):
            at = _time_of(_get(profiles.c.traits, node.trait.name))
            yield from self.threshold_boundaries(at, node.trait)
        elif isinstance(node, ComputedLeaf) and node.computed.is_time:
            x = _get(profiles.c.computed, node.computed.name)
            yield from self.threshold_boundaries(_ms_instant(_ms_of(x)), node.computed)

    def future(self, at: ColumnElement[datetime]) -> ColumnElement[datetime]:
        """`at` when it lies strictly between now and `BOUNDARY_LIMIT`, else NULL; written with
        `greatest` / `least` (which skip NULLs) and `nullif` so that `at`, often a subquery
        over the timeline, is evaluated once rather than three times as in a `CASE`."""
        now, limit = self.now(), sa.literal(BOUNDARY_LIMIT, TIMESTAMPTZ)
        clamped = sa.func.least(
            sa.func.greatest(at, now, type_=TIMESTAMPTZ), limit, type_=TIMESTAMPTZ
        )
        return sa.func.nullif(
            sa.func.nullif(clamped, now, type_=TIMESTAMPTZ), limit, type_=TIMESTAMPTZ
        )

    def event_boundary(self, spec: EventSpec, within: Window) -> ColumnElement[datetime]:
        times = self.shared_times(spec)
        filters = self.event_filters(spec) if times is None else []
        window = _interval(within.delta // _MICROSECOND)

        def newest(n: int) -> ColumnElement[datetime]:
            """The event time of the (n+1)-th newest matching event in the window, or NULL."""
            if times is not None:
                return sa.cast(times[n + 1], TIMESTAMPTZ)
            return (
                sa.select(events.c.event_time)
                .where(*filters)
                .order_by(events.c.event_time.desc())
                .offset(n)
                .limit(1)
                .scalar_subquery()
            )

        if spec.at_least is not None:
            return newest(spec.at_least - 1) + window
        if spec.at_most is not None or not spec.exactly:
            return newest(spec.at_most or 0) + window
        k = spec.exactly
        over, kth = newest(k), newest(k - 1)
        return sa.case(
            (over.is_not(None), sa.case((kth > over, over + window))),
            else_=kth + window,
        )

    def threshold_boundaries(
        self, at: ColumnElement[datetime], cond: TraitCondition | ComputedCondition
    ) -> Iterator[ColumnElement[datetime]]:
        """When `now - N days` crosses the stored time `at`: at `at + N days` for gt and lte,
        one microsecond later for gte and lt (and for a between's low / high bound likewise)."""
        bounds: list[tuple[Any, bool]] = []
        if cond.op == "between":
            bounds = [(cond.value[0], True), (cond.value[1], False)]
        elif cond.op in ("gt", "gte", "lt", "lte"):
            bounds = [(cond.value, cond.op in ("gte", "lt"))]
        for value, after in bounds:
            if isinstance(value, DaysAgo):
                yield self.future(at + _interval(value.us() + (1 if after else 0)))


def _computed_value(cond: ComputedCondition) -> ColumnElement[Any]:
    """The jsonb of a computed trait; counters read 0 when never counted."""
    if cond.is_time:
        return _get(profiles.c.computed, cond.name)
    if cond.is_configured:
        values = computed_trait_values
        return (
            sa.select(values.c.value)
            .where(values.c.profile_id == profiles.c.id, values.c.name == cond.name)
            .scalar_subquery()
        )
    if cond.name.startswith(EVENTS_PREFIX):
        counted = _get(_get(profiles.c.computed, "events"), cond.name[len(EVENTS_PREFIX) :])
    else:
        counted = _get(profiles.c.computed, cond.name)
    return sa.func.coalesce(counted, _jsonb(0), type_=JSONB)
