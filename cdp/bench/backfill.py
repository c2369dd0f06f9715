"""The backfill part of `cdp bench activation`: a new segment evaluated over many stored profiles.

Profiles are bulk-loaded with COPY (going through Kafka would measure the processor, not the
backfill), each with a user id, a plan trait and an order count drawn from a seeded generator, so
the number of members the segment must get is known in advance. The segment is then applied and
one scheduler pass is timed: it returns when every chunk has committed its membership rows and
outbox records.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import psutil
import psycopg

from cdp.activation.operations import apply_definitions
from cdp.activation.scheduler import Scheduler
from cdp.activation.segments import SegmentDefinition, parse_segment
from cdp.bench.stats import cpu_shares, sample_cpu
from cdp.db import create_engine
from cdp.schemas import codec_for
from cdp.settings import Settings

__all__ = ["BackfillResult", "ProfileMix", "backfill_segment", "load_profiles", "measure_backfill"]

PLANS = ("free", "bronze", "silver", "gold", "platinum")
#: The share of profiles on each plan, in `PLANS` order.
PLAN_WEIGHTS = (0.4, 0.2, 0.2, 0.15, 0.05)
PAYING = ("silver", "gold", "platinum")
#: Rows handed to COPY per write call; the generator and COPY then overlap in large steps.
COPY_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class ProfileMix:
    """What was loaded: how many profiles, and how many of them the bench segment selects."""

    profiles: int
    matching: int


@dataclass(frozen=True, slots=True)
class BackfillResult:
    """One scheduler pass over every profile for a segment new to them."""

    profiles: int
    expected_members: int
    evaluated: int
    """Profiles the pass reported evaluating."""
    members: int
    """Membership rows of the segment after the pass."""
    outbox_rows: int
    """Outbox rows the pass wrote (two per change: the membership topic and the segment topic)."""
    load_s: float
    seconds: float
    cpu: dict[str, float]

    @property
    def profiles_per_s(self) -> float:
        return self.evaluated / self.seconds if self.seconds > 0 else 0.0


def backfill_segment(slug: str) -> SegmentDefinition:
    """The segment the bench backfills: paying plans that have ordered (a fifth of profiles)."""
    return parse_segment(
        {
            "slug": slug,
            "name": "Paying repeat buyers",
            "condition": {
                "all": [
                    {"trait": {"name": "plan", "op": "in", "value": list(PAYING)}},
                    {"computed": {"name": "order_count", "op": "gte", "value": 1}},
                ]
            },
            "emit": {"traits": ["plan"], "identifiers": ["user_id"]},
        }
    )


def _matches(plan: str, orders: int) -> bool:
    return plan in PAYING and orders >= 1


def load_profiles(conn: psycopg.Connection[Any], count: int, seed: int) -> ProfileMix:
    """COPY `count` live profiles, then give each a `user_id` identifier (set-based)."""
    rng = random.Random(seed)
    matching = 0
    with (
        conn.cursor() as cur,
        cur.copy("COPY profiles (traits, trait_times, computed, merge_count) FROM STDIN") as copy,
    ):
        rows = []
        for n in range(count):
            plan = rng.choices(PLANS, PLAN_WEIGHTS)[0]
            orders = min(int(rng.expovariate(0.7)), 50)
            matching += _matches(plan, orders)
            traits = orjson.dumps({"plan": plan, "email": f"p{n}@example.com"}).decode()
            computed = orjson.dumps({"order_count": orders, "event_count": orders + 1}).decode()
            rows.append((traits, "{}", computed, 0))
            if len(rows) == COPY_ROWS:
                for row in rows:
                    copy.write_row(row)
                rows.clear()
        for row in rows:
            copy.write_row(row)
    conn.execute(
        "INSERT INTO identifiers (id_type, id_value, profile_id, first_seen, last_seen) "
        "SELECT 'user_id', 'u' || id, id, now(), now() FROM profiles"
    )
    conn.execute("ANALYZE profiles")
    conn.execute("ANALYZE identifiers")
    return ProfileMix(count, matching)


def measure_backfill(
    settings: Settings,
    count: int,
    seed: int,
    watched: Callable[[], dict[str, psutil.Process]],
) -> BackfillResult:
    """Load `count` profiles into the (empty) database of `settings`, apply the bench segment and
    time one scheduler pass; CPU shares of `watched` (the bench process is added) over the pass."""
    slug = "bench-backfill"
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        started = time.perf_counter()
        with conn.transaction():
            mix = load_profiles(conn, count, seed)
        load_s = time.perf_counter() - started
        engine = create_engine(settings, pool_size=1)
        try:
            apply_definitions(settings, engine, [backfill_segment(slug)])
        finally:
            engine.dispose()
        outbox_before = _count(conn, "SELECT count(*) FROM outbox")
        scheduler = Scheduler(codec_for(settings), settings.topics.membership)
        processes = {**watched(), "bench": psutil.Process()}
        before = sample_cpu(processes)
        started = time.perf_counter()
        done = scheduler.run_pass(conn)
        seconds = time.perf_counter() - started
        after = sample_cpu(processes)
        members = _count(conn, "SELECT count(*) FROM segment_memberships WHERE slug = %s", slug)
        outbox = _count(conn, "SELECT count(*) FROM outbox") - outbox_before
    return BackfillResult(
        profiles=count,
        expected_members=mix.matching,
        evaluated=done.backfilled,
        members=members,
        outbox_rows=outbox,
        load_s=load_s,
        seconds=seconds,
        cpu=cpu_shares(before, after),
    )


def _count(conn: psycopg.Connection[Any], query: str, *params: object) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row else 0
