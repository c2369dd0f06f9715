"""Retention of the timeline: whole monthly partitions past `timeline_retention_days` dropped.

`cdp privacy retention` runs it once (from cron, say); the processor's hourly housekeeping
(`cdp.profiles.service.housekeeping`) drops the same partitions while it runs. Dead letters are
kept by the broker for `topics.dlq_retention_ms`, set when cdp creates the topic.
"""

from __future__ import annotations

import time

import psycopg

from cdp.profiles.partitions import PartitionKeeper
from cdp.settings import Settings

__all__ = ["DAY_MS", "apply_retention"]

DAY_MS = 86_400_000


def apply_retention(settings: Settings, now_ms: int | None = None) -> list[str]:
    """Drop the timeline months that ended more than `timeline_retention_days` before `now_ms`
    (nothing when retention is 0, i.e. forever); the partitions dropped."""
    if not settings.timeline_retention_days:
        return []
    now_ms = now_ms if now_ms is not None else int(time.time() * 1000)
    cutoff = now_ms - settings.timeline_retention_days * DAY_MS
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        return PartitionKeeper().drop_older_than(conn, cutoff)
