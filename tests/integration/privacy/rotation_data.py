"""Stored PII written by hand with the codec (as the processor stores it), and read back open."""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb
from pydantic import SecretStr

from cdp.identity import Identifier
from cdp.privacy.keystate import hash_check, pii_codec
from cdp.profiles.partitions import PartitionKeeper
from cdp.schemas import PROFILE_CHANGE, codec_for
from cdp.settings import Settings

OLD, NEW = "k2025", "k2026"
KEYS = {key_id: base64.b64encode(os.urandom(32)).decode() for key_id in (OLD, NEW)}
#: Months of the timeline partitions the seeded events fall in (2027-01 and 2027-02).
EVENT_MS = (1_799_000_000_000, 1_801_500_000_000)


def with_keys(settings: Settings, active: str, keys: tuple[str, ...] = (OLD, NEW)) -> Settings:
    """`settings` holding data keys `keys`, `active` encrypting new values."""
    privacy = settings.privacy.model_copy(
        update={
            "data_keys": {k: SecretStr(KEYS[k]) for k in keys},
            "data_key_id": active,
            "encrypt_pii": True,
        }
    )
    return settings.model_copy(update={"privacy": privacy})


def clear(settings: Settings) -> Settings:
    privacy = settings.privacy.model_copy(update={"encrypt_pii": False})
    return settings.model_copy(update={"privacy": privacy})


def person(n: int) -> dict[str, Any]:
    return {
        "email": f"person{n}@example.com",
        "plan": "pro" if n % 2 else "free",
        "address": {"city": "Lyon", "street": f"{n} rue Cler"},
        "contact": {"phone": f"+3361234{n:04d}", "since": 2020},
    }


def seed(settings: Settings, persons: int, events_per_person: int = 3) -> None:
    """Profiles, identifiers, a group, computed values, timeline rows and outbox records of
    `persons` people, stored as `settings` would store them (in clear when encryption is off)."""
    codec = pii_codec(settings)
    avro = codec_for(settings)
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        encrypted = settings.privacy.encrypt_pii
        conn.execute(
            "INSERT INTO pii_state (id, encrypted, hash_check) VALUES (1, %s, %s) "
            "ON CONFLICT (id) DO NOTHING",
            (encrypted, hash_check(settings) if encrypted else None),
        )
        PartitionKeeper().ensure(conn, [(2027, 1), (2027, 2)])
        with conn.transaction(), conn.cursor() as cur:
            for n in range(persons):
                traits = person(n)
                row = cur.execute(
                    "INSERT INTO profiles (traits, trait_times, computed, merge_count) "
                    "VALUES (%s, '{}', '{}', 0) RETURNING id",
                    (Jsonb(codec.seal_document(traits)),),
                ).fetchone()
                assert row is not None
                pid = row[0]
                for ident in (Identifier("user_id", f"u{n}"), Identifier("email", traits["email"])):
                    match = codec.match(ident)
                    sealed = codec.seal_identifier(ident, match.value)
                    cur.execute(
                        "INSERT INTO identifiers (id_type, id_value, profile_id, first_seen, "
                        "last_seen, value_enc, key_id) VALUES (%s, %s, %s, now(), now(), %s, %s)",
                        (ident.type, match.value, pid, *(sealed or (None, None))),
                    )
                for e in range(events_per_person):
                    properties = orjson.dumps({"email": traits["email"], "n": e}).decode()
                    context = orjson.dumps(
                        {
                            "traits": {"phone": traits["contact"]["phone"]},
                            "library": {"name": "analytics.js", "version": "4.1"},
                        }
                    ).decode()
                    cur.execute(
                        "INSERT INTO events (profile_id, message_id, type, name, event_time, "
                        "received_at, properties, context) VALUES (%s, %s, 'track', 'x', "
                        "to_timestamp(%s / 1000.0), now(), %s, %s)",
                        (pid, f"m{n}-{e}", EVENT_MS[e % 2] + n, codec.properties.seal_json(properties),
                         codec.seal_json(context)),
                    )  # fmt: skip
                previous = f"anon-{n}"
                cur.execute(
                    "INSERT INTO events (profile_id, message_id, type, name, event_time, "
                    "received_at, properties, context) VALUES (%s, %s, 'alias', %s, "
                    "to_timestamp(%s / 1000.0), now(), '{}', '{}')",
                    (pid, f"a{n}", codec.seal_value(previous) if encrypted else previous,
                     EVENT_MS[0] + n),
                )  # fmt: skip
                if encrypted:
                    cur.execute(
                        "INSERT INTO computed_trait_values (profile_id, name, kind, n, last_value) "
                        "VALUES (%s, 'last_email', 'last', 1, %s)",
                        (pid, Jsonb(codec.seal_value(traits["email"]))),
                    )
                    change = {
                        "change_id": f"c{n}", "kind": "updated", "profile_id": pid,
                        "merged_from": [], "reason": None, "message_id": None,
                        "traits": orjson.dumps(codec.seal_document(traits)).decode(),
                        "changed_traits": ["email"], "identifiers": [], "at": 1_800_000_000_000,
                    }  # fmt: skip
                    cur.execute(
                        "INSERT INTO outbox (topic, key, value) VALUES ('changes', %s, %s)",
                        (str(pid).encode(), avro.encode(PROFILE_CHANGE, change)),
                    )
            cur.execute(
                "INSERT INTO groups (group_id, traits, trait_times) VALUES ('acme', %s, '{}')",
                (Jsonb(codec.seal_document({"name": "Acme Inc", "employees": 40})),),
            )


def snapshot(settings: Settings) -> dict[str, Any]:
    """Everything `seed` stored, opened with `settings`' codec (identifiers by type and value)."""
    codec = pii_codec(settings)
    avro = codec_for(settings)
    with psycopg.connect(settings.database_dsn()) as conn:
        identifiers = sorted(
            (t, codec.open_identifier(t, v, None if b is None else bytes(b), k))
            for t, v, b, k in conn.execute(
                "SELECT id_type, id_value, value_enc, key_id FROM identifiers"
            ).fetchall()
        )
        profiles = {
            pid: codec.open_document(traits)
            for pid, traits in conn.execute("SELECT id, traits FROM profiles").fetchall()
        }
        groups = {
            g: codec.open_document(t)
            for g, t in conn.execute("SELECT group_id, traits FROM groups").fetchall()
        }
        events = {
            m: (codec.open_document(name), codec.open_document(p), codec.open_document(c))
            for m, name, p, c in conn.execute(
                "SELECT message_id, name, properties, context FROM events"
            )
        }
        computed = {
            pid: codec.open_document(v)
            for pid, v in conn.execute("SELECT profile_id, value FROM computed_trait_values")
        }
        outbox = []
        for (value,) in conn.execute("SELECT value FROM outbox ORDER BY id"):
            record = avro.decode_any(bytes(value))
            record["traits"] = codec.open_document(orjson.loads(record["traits"]))
            outbox.append(record)
    return {
        "identifiers": identifiers,
        "profiles": profiles,
        "groups": groups,
        "events": events,
        "computed": computed,
        "outbox": outbox,
    }
