"""`cdp bench privacy`: export and deletion time for one person with many events.

Postgres only (embedded under a temporary home unless CDP_DATABASE_URL is set; the run gets its
own database either way). The store is seeded straight with SQL, as the processor would have left
it: a background of other people, then per round one person of `events` timeline events spread
over three months, two profiles (one merged into the other), five identifiers, a group, two
segment memberships and their processed messageIds. Each round exports that person (the whole
JSON document read, as a client would) and then deletes them with a deletion job, and checks the
job left none of their rows.

Rows are written in the stored format of the settings' PII mode (`cdp.privacy.atrest`): the
identifiers under their match values with sealed values, the PII traits sealed, and one event in
`PII_EVERY` carrying the person's email in its properties (an order receipt), sealed; so the
export decrypts what a real one would. ``CDP_PRIVACY__ENCRYPT_PII=false`` measures the same in
clear.
"""

from __future__ import annotations

import contextlib
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import psycopg
from pydantic import SecretStr

from cdp.activation.catalog import apply_segments
from cdp.activation.segments import parse_segment
from cdp.bench.environment import bench_database, temporary_home
from cdp.bench.report import machine_info
from cdp.db import create_engine
from cdp.embedded import EmbeddedPostgres
from cdp.identity import Identifier
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.keystate import pii_codec
from cdp.privacy.service import PrivacyService
from cdp.profiles import copytext
from cdp.profiles.partitions import PartitionKeeper, month_of
from cdp.settings import Settings, load_settings

__all__ = ["PrivacyBenchOptions", "PrivacyBenchReport", "run_privacy_bench"]

#: Two segments every seeded person is in, so a deletion writes exits too.
SEGMENTS = ("bench-buyers", "bench-viewers")
SPREAD = timedelta(days=90)
#: One event in this many carries the person's email (a receipt); the rest carry no PII.
PII_EVERY = 10


@dataclass(frozen=True)
class PrivacyBenchOptions:
    events: int = 10_000
    """Timeline events of the person exported and deleted."""
    rounds: int = 3
    background_people: int = 2_000
    background_events: int = 20
    """Timeline events of each background person."""


@dataclass
class PrivacyBenchReport:
    options: PrivacyBenchOptions
    started_at: datetime
    export_s: list[float] = field(default_factory=list)
    export_cpu_s: list[float] = field(default_factory=list)
    export_bytes: int = 0
    delete_s: list[float] = field(default_factory=list)
    delete_cpu_s: list[float] = field(default_factory=list)
    deleted_rows: dict[str, Any] = field(default_factory=dict)
    postgres: str = "embedded"
    machine: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "options": self.options.__dict__,
            "started_at": self.started_at.isoformat(),
            "export_seconds": self.export_s,
            "export_client_cpu_seconds": self.export_cpu_s,
            "export_bytes": self.export_bytes,
            "delete_seconds": self.delete_s,
            "delete_client_cpu_seconds": self.delete_cpu_s,
            "deleted_rows": self.deleted_rows,
            "postgres": self.postgres,
            "machine": self.machine,
        }

    def summary(self) -> list[tuple[str, str]]:
        def spread(values: list[float]) -> str:
            return (
                f"median {statistics.median(values):.3f} s "
                f"(min {min(values):.3f}, max {max(values):.3f})"
            )

        return [
            ("events of the person", f"{self.options.events:,}"),
            ("rounds", str(self.options.rounds)),
            ("export", spread(self.export_s)),
            ("export, client CPU", spread(self.export_cpu_s)),
            ("export size", f"{self.export_bytes / 1e6:.1f} MB"),
            ("deletion job", spread(self.delete_s)),
            ("deletion, client CPU", spread(self.delete_cpu_s)),
            ("rows deleted (last round)", orjson.dumps(self.deleted_rows).decode()),
        ]


def run_privacy_bench(
    options: PrivacyBenchOptions, announce: Callable[[str], None] = print
) -> PrivacyBenchReport:
    """Start Postgres if none is configured, seed, measure every round; the figures."""
    report = PrivacyBenchReport(options, datetime.now(UTC), machine=machine_info())
    with (
        _server(load_settings(), report) as settings,
        bench_database(settings, f"cdp_bench_privacy_{secrets.token_hex(4)}") as bench,
    ):
        announce("seeding the background ...")
        _segments(bench)
        keeper = PartitionKeeper()
        codec = pii_codec(bench)
        with psycopg.connect(bench.database_dsn(), autocommit=True) as conn:
            for i in range(options.background_people):
                seed_person(conn, keeper, codec, f"bg{i}", options.background_events)
        service = PrivacyService(bench)
        for round_no in range(options.rounds):
            announce(f"round {round_no + 1}: seeding {options.events:,} events ...")
            with psycopg.connect(bench.database_dsn(), autocommit=True) as conn:
                reference = seed_person(conn, keeper, codec, f"r{round_no}", options.events)
                conn.execute("VACUUM ANALYZE")
            _measure(service, reference, report)
    return report


@contextlib.contextmanager
def _server(settings: Settings, report: PrivacyBenchReport) -> Iterator[Settings]:
    if settings.database_url is not None:
        report.postgres = "external"
        yield settings
        return
    with temporary_home() as home:
        postgres = EmbeddedPostgres(home / "postgres").start()
        try:
            yield settings.model_copy(update={"database_url": SecretStr(postgres.url())})
        finally:
            postgres.stop()


def _segments(settings: Settings) -> None:
    """The segments, saved without their topics (the bench has no broker; exits stay in the
    outbox)."""
    engine = create_engine(settings, pool_size=1)
    try:
        with engine.begin() as conn:
            apply_segments(
                conn,
                [
                    parse_segment(
                        {"slug": slug, "name": slug, "condition": {"event": {"name": "Viewed"}}}
                    )
                    for slug in SEGMENTS
                ],
            )
    finally:
        engine.dispose()


def _measure(service: PrivacyService, reference: str, report: PrivacyBenchReport) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    export = service.start_export(reference, "bench")
    size = sum(len(chunk) for chunk in export.chunks())
    report.export_s.append(time.perf_counter() - wall)
    report.export_cpu_s.append(time.process_time() - cpu)
    report.export_bytes = size

    wall, cpu = time.perf_counter(), time.process_time()
    done = service.delete(reference, "bench")
    report.delete_s.append(time.perf_counter() - wall)
    report.delete_cpu_s.append(time.process_time() - cpu)
    if done["status"] != "done" or done["detail"]["timeline_events"] == 0:
        raise RuntimeError(f"the deletion job did not delete the person: {done}")
    report.deleted_rows = done["detail"]


def seed_person(
    conn: psycopg.Connection[Any], keeper: PartitionKeeper, codec: PiiCodec, tag: str, events: int
) -> str:
    """One person as the processor leaves them, PII stored as `codec` stores it (see the module
    docstring); their reference."""
    end = datetime(2026, 11, 1, tzinfo=UTC)
    start = end - SPREAD
    step = SPREAD / max(events, 1)
    times = [start + step * i for i in range(events)]
    keeper.ensure(conn, {month_of(int(t.timestamp() * 1000)) for t in times})
    email = f"{tag}@bench.example.com"
    with conn.transaction():
        [(live,)] = conn.execute(
            "INSERT INTO profiles (traits, trait_times, computed, merge_count) VALUES "
            "(%s, '{}', %s, 1) RETURNING id",
            (
                orjson.dumps(
                    codec.seal_document({"email": email, "name": f"Person {tag}"})
                ).decode(),
                orjson.dumps(
                    {"event_count": events, "consent": {"Email": {"granted": True, "at": 1}}}
                ).decode(),
            ),
        ).fetchall()
        conn.execute(
            "INSERT INTO profiles (traits, trait_times, computed, merge_count, merged_into) "
            "VALUES ('{}', '{}', '{}', 0, %s) RETURNING id",
            (live,),
        )
        conn.execute(
            "INSERT INTO merges (from_profile, into_profile, reason) "
            "SELECT id, %s, 'bench' FROM profiles WHERE merged_into = %s",
            (live, live),
        )
        idents = [
            ("user_id", f"u-{tag}"),
            ("email", email),
            ("anonymous_id", f"a1-{tag}"),
            ("anonymous_id", f"a2-{tag}"),
            ("phone_hash", f"p-{tag}"),
        ]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO identifiers (id_type, id_value, value_enc, key_id, profile_id, "
                "first_seen, last_seen) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(t, *_stored(codec, t, v), live, start, end) for t, v in idents],
            )
            cur.executemany(
                "INSERT INTO segment_memberships (slug, profile_id, version) VALUES (%s, %s, 1)",
                [(slug, live) for slug in SEGMENTS],
            )
        conn.execute(
            "INSERT INTO group_members (group_id, profile_id, first_seen, last_seen) "
            "VALUES (%s, %s, %s, %s)",
            (f"g-{tag}", live, start, end),
        )
        _copy_events(conn, codec, tag, email, live, times)
    return f"email:{email}"


def _stored(codec: PiiCodec, id_type: str, value: str) -> tuple[str, bytes | None, str | None]:
    """(id_value, value_enc, key_id) of an identifier as the processor stores it."""
    match = codec.match(Identifier(id_type, value)).value
    sealed = codec.seal_identifier(Identifier(id_type, value), match)
    return (match, *sealed) if sealed else (match, None, None)


def _copy_events(
    conn: psycopg.Connection[Any],
    codec: PiiCodec,
    tag: str,
    email: str,
    live: int,
    times: list[datetime],
) -> None:
    context = orjson.dumps(
        {"ip": "203.0.113.7", "userAgent": "Mozilla/5.0 (bench)", "page": {"path": "/p"}}
    ).decode()
    rows = []
    for i, at in enumerate(times):
        receipt = {"email": email} if i % PII_EVERY == 0 else {}
        props = codec.properties.seal_json(
            orjson.dumps({"sku": f"sku-{i % 97}", "price": i % 50, "i": i, **receipt}).decode()
        )
        stamp = copytext.timestamp(int(at.timestamp() * 1000))
        rows.append(
            copytext.row(
                (
                    str(live),
                    f"{tag}-{i}",
                    "track",
                    "Viewed",
                    stamp,
                    stamp,
                    "src_bench",
                    props,
                    context,
                )
            )
        )
    data = "\n".join(rows) + "\n"
    with conn.cursor() as cur:
        with cur.copy(
            "COPY events (profile_id, message_id, type, name, event_time, received_at, source_id, "
            "properties, context) FROM STDIN"
        ) as copy:
            copy.write(data)
        with cur.copy("COPY processed_messages (message_id) FROM STDIN") as copy:
            copy.write("".join(f"{tag}-{i}\n" for i in range(len(times))))
