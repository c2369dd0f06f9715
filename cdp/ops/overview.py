"""The pipeline overview: offsets, lag, dead letters, segment sizes and destinations, as JSON.

Throughput is not stored anywhere: a caller that polls takes the difference of `produced` and
`applied` between two overviews over the difference of `at` (see `rates`).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from cdp.activation.operations import list_segments
from cdp.ops.deadletters import COUNT_WINDOW, count_letters, read_letters
from cdp.ops.errors import OpsError
from cdp.ops.offsets import as_dict, end_offsets, lag_rows, ops_consumer
from cdp.schemas import codec_for
from cdp.settings import Settings

__all__ = ["destinations", "overview", "rates", "segment_history"]

DESTINATIONS_LIMIT = 100


def stored_offsets(conn: Connection) -> list[tuple[str, str, int, int]]:
    """Every ``(group, topic, partition, next_offset)`` a stage keeps in Postgres."""
    rows = conn.execute(
        sa.text(
            "SELECT consumer_group, topic, partition, next_offset FROM consumer_offsets "
            "ORDER BY consumer_group, topic, partition"
        )
    ).all()
    return [(g, t, int(p), int(o)) for g, t, p, o in rows]


def destinations(conn: Connection) -> list[dict[str, Any]]:
    """Each destination's name, channel, whether it is enabled, and its delivery counts (see
    `cdp destinations status`). Only these columns are read: a definition holds secrets."""
    rows = conn.execute(
        sa.text(
            "SELECT d.name, d.definition->'channel'->>'type' AS channel, "
            "coalesce((d.definition->>'enabled')::boolean, true) AS enabled, "
            "coalesce(s.delivered, 0) AS delivered, coalesce(s.retrying, 0) AS retrying, "
            "coalesce(s.aborted, 0) AS aborted, coalesce(s.suppressed, 0) AS suppressed, "
            "s.last_error FROM destinations d "
            "LEFT JOIN destination_status s ON s.destination = d.name ORDER BY d.name LIMIT :n"
        ),
        {"n": DESTINATIONS_LIMIT},
    ).mappings()
    return [{k: _plain(v) for k, v in row.items()} for row in rows]


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def overview(settings: Settings, engine: Engine) -> dict[str, Any]:
    """One snapshot of the pipeline; `OpsError` when Kafka or Postgres cannot be read."""
    try:
        with engine.connect() as conn:
            stored = stored_offsets(conn)
            outbox = int(conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar() or 0)
            profiles = int(
                conn.execute(
                    sa.text("SELECT count(*) FROM profiles WHERE merged_into IS NULL")
                ).scalar()
                or 0
            )
            dests = destinations(conn)
        segments = list_segments(engine)
    except SQLAlchemyError as exc:
        raise OpsError(f"the profile store cannot be read: {exc}") from exc
    topics = settings.topics
    consumer = ops_consumer(settings)
    try:
        ends = {t: end_offsets(consumer, t) for t in {topics.raw, *(s[1] for s in stored)}}
        letters, dlq_total = read_letters(consumer, codec_for(settings), topics.dlq, COUNT_WINDOW)
    finally:
        consumer.close()
    lags = lag_rows(stored, ends)
    return {
        "at": time.time(),
        "produced": sum(end for _, end in ends[topics.raw].values()),
        "applied": sum(r.committed for r in lags if r.topic == topics.raw),
        "lag": [as_dict(r) for r in lags],
        "outbox_backlog": outbox,
        "profiles": profiles,
        "dead_letters": {
            "total": dlq_total,
            "counted": len(letters),
            "by_reason": count_letters(letters),
        },
        "segments": segments,
        "destinations": dests,
    }


def rates(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
    """Events per second into the raw topic and applied by the processor between two overviews."""
    seconds = float(after["at"]) - float(before["at"])
    if seconds <= 0:
        return {"produced_per_s": 0.0, "applied_per_s": 0.0}
    return {
        "produced_per_s": max(0.0, (after["produced"] - before["produced"]) / seconds),
        "applied_per_s": max(0.0, (after["applied"] - before["applied"]) / seconds),
    }


def segment_history(engine: Engine, days: int, today: date | None = None) -> dict[str, Any]:
    """Per segment, its current members counted by the (UTC) day they joined, cumulatively.

    Memberships keep only the current members and when each entered, so the curve is the size
    each day would have had if nobody had left since: exact for segments nobody leaves, an upper
    bound of the past for the others, and always equal to today's size on the last day.
    """
    end = today or datetime.now(UTC).date()
    start = end - timedelta(days=days - 1)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT slug, greatest((since AT TIME ZONE 'UTC')::date, :start) AS day, count(*) "
                    "FROM segment_memberships GROUP BY slug, day ORDER BY slug, day"
                ),
                {"start": start},
            ).all()
    except SQLAlchemyError as exc:
        raise OpsError(f"the profile store cannot be read: {exc}") from exc
    joined: dict[str, dict[date, int]] = {}
    for slug, day, n in rows:
        joined.setdefault(slug, {})[day] = int(n)
    days_list = [start + timedelta(days=i) for i in range(days)]
    series = {}
    for slug, per_day in joined.items():
        total, points = 0, []
        for day in days_list:
            total += per_day.get(day, 0)
            points.append(total)
        series[slug] = points
    return {"days": [d.isoformat() for d in days_list], "series": series}
