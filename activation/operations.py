"""What the segments CLI and API do: apply definitions, preview them, list and delete segments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cdp.activation.catalog import Applied, apply_segments, delete_segment
from cdp.activation.segments import (
    SegmentDefinition,
    check_pii_conditions,
    membership_condition,
)
from cdp.db.tables import profiles, segment_memberships, segments
from cdp.kafka import TopicSpec, ensure_topics
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.opening import open_document
from cdp.settings import Settings

__all__ = ["Preview", "apply_definitions", "list_segments", "preview", "remove_segment"]


@dataclass(frozen=True)
class Preview:
    size: int
    sample: list[dict[str, Any]]


def segment_topics(settings: Settings, definitions: list[SegmentDefinition]) -> list[TopicSpec]:
    """The compacted topic of each segment: the latest record per profile is its membership."""
    return [
        TopicSpec(d.topic, settings.topics.partitions, {"cleanup.policy": "compact"})
        for d in definitions
    ]


def apply_definitions(
    settings: Settings, engine: Engine, definitions: list[SegmentDefinition]
) -> list[Applied]:
    """Create each segment's topic, then store the definitions (new versions get backfilled).

    A definition comparing a PII trait other than by ``exists`` is refused
    (`SegmentDefinitionError`): its values are encrypted at rest."""
    check_pii_conditions(definitions, settings.pii_names())
    ensure_topics(settings, segment_topics(settings, definitions))
    with engine.begin() as conn:
        return apply_segments(conn, definitions)


def preview(
    engine: Engine, definition: SegmentDefinition, codec: PiiCodec, sample: int = 10
) -> Preview:
    """How many live profiles match now, and a sample of them (traits opened), without saving
    anything. A PII condition other than ``exists`` is refused as `apply_definitions` refuses
    it (over sealed values it would match no one)."""
    check_pii_conditions([definition], codec.names)
    condition = sa.and_(
        profiles.c.merged_into.is_(None), membership_condition(definition, datetime.now(UTC))
    )
    with engine.connect() as conn:
        size = conn.execute(
            sa.select(sa.func.count()).select_from(profiles).where(condition)
        ).scalar_one()
        rows = conn.execute(
            sa.select(profiles.c.id, profiles.c.traits)
            .where(condition)
            .order_by(profiles.c.id)
            .limit(sample)
        ).all()
    return Preview(
        int(size),
        [{"profile_id": str(pid), "traits": open_document(codec, traits)} for pid, traits in rows],
    )


def list_segments(engine: Engine) -> list[dict[str, Any]]:
    size = (
        sa.select(sa.func.count())
        .where(segment_memberships.c.slug == segments.c.slug)
        .scalar_subquery()
        .label("size")
    )
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                segments.c.slug,
                segments.c.name,
                segments.c.version,
                segments.c.state,
                segments.c.backfilled_version,
                segments.c.updated_at,
                size,
            ).order_by(segments.c.slug)
        ).mappings()
        return [
            {
                "slug": r["slug"],
                "name": r["name"],
                "version": r["version"],
                "state": r["state"],
                "backfilled": r["backfilled_version"] >= r["version"],
                "size": r["size"],
                "updated_at": r["updated_at"].isoformat(),
            }
            for r in rows
        ]


def remove_segment(engine: Engine, slug: str) -> bool:
    with engine.begin() as conn:
        return delete_segment(conn, slug)
