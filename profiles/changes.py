"""Profile change records (`cdp.profiles.changes`, Avro) for the outbox, one per profile a batch
created, merged into or updated."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from psycopg import Connection

from cdp.activation.relay import notify_outbox
from cdp.db.copy import copy_binary
from cdp.profiles.state import BatchState
from cdp.schemas import PROFILE_CHANGE, Codec

__all__ = ["ChangeRow", "change_rows", "copy_changes"]

#: An outbox row: topic, key, value.
ChangeRow = tuple[str, bytes, bytes]


def change_rows(
    state: BatchState,
    final: Callable[[int], int],
    real: dict[int, int],
    codec: Codec,
    topic: str,
) -> list[ChangeRow]:
    """The change records of the batch folded into `state` (`final` maps a profile id to the
    stored id of the profile it ended in, `real` a temporary id to its stored one). Reads
    nothing from Postgres."""
    now = int(time.time() * 1000)
    rows: list[ChangeRow] = []
    merged_into: dict[int, list[int]] = {}
    for merge in state.merges:
        merged_from = real.get(merge.from_profile, merge.from_profile)
        merged_into.setdefault(final(merge.into_profile), []).append(merged_from)
    reasons = {final(m.into_profile): (m.reason, m.message_id) for m in state.merges}
    for profile in state.profiles.values():
        if profile.merged_into is not None:
            continue
        pid = final(profile.id)
        if profile.is_new:
            kind = "created"
        elif pid in merged_into:
            kind = "merged"
        elif profile.changed_traits or profile.identifiers_added:
            kind = "updated"
        else:
            continue
        reason, message_id = reasons.get(pid, (None, None))
        record = {
            "change_id": str(uuid.uuid4()),
            "kind": kind,
            "profile_id": pid,
            "merged_from": sorted(merged_into.get(pid, [])),
            "reason": reason if kind == "merged" else None,
            "message_id": message_id if kind == "merged" else None,
            "traits": orjson.dumps(
                profile.traits if profile.stored_traits is None else profile.stored_traits
            ).decode(),
            "changed_traits": sorted(profile.changed_traits),
            "identifiers": sorted(str(i) for i in profile.identifiers),
            "at": now,
        }
        rows.append((topic, str(pid).encode(), codec.encode(PROFILE_CHANGE, record)))
    return rows


def copy_changes(conn: Connection[Any], rows: list[ChangeRow]) -> None:
    """Write `rows` to the outbox and wake the relay. A binary COPY: in the text format the
    keys and values went hex-encoded and were decoded again (the 37,000 change rows of `cdp
    bench pipeline --processors 2` took Postgres 463 ms that way, 285 ms in binary)."""
    if not rows:
        return
    copy_binary(conn, "outbox (topic, key, value)", ["text", "bytea", "bytea"], rows)
    notify_outbox(conn)
