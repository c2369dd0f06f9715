"""Opening the PII of outbox records before the relay publishes them.

With PII encrypted at rest the outbox holds what the tables hold: profile-change and
membership-change records carry sealed traits and identifiers as ``type:<match value>``
(`cdp.privacy.atrest`). Subscribers and webhooks receive clear values, as before, so the relay
opens each record on its way out: sealed traits are decrypted, and the identifiers' values are
read from their rows (one query per relay batch) and decrypted. An identifier whose row is gone
(the person was deleted meanwhile) is left out rather than published as a hash.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import Connection

from cdp.privacy.atrest import SEALED_PREFIX, PiiCodec
from cdp.schemas import MEMBERSHIP_CHANGE, PROFILE_CHANGE, Codec, DecodeError
from cdp.settings import Settings

__all__ = ["SEGMENT_TOPIC_PREFIX", "OutboxOpener", "Row"]

log = logging.getLogger(__name__)

#: `SegmentDefinition.topic` of every segment starts with this.
SEGMENT_TOPIC_PREFIX = "cdp.segment."

#: An outbox row as the relay reads it: id, topic, key, value (None: a tombstone), fanout topic
#: (or None), whether a tombstone goes there (see `cdp.activation.relay`).
Row = tuple[int, str, bytes | None, bytes | None, str | None, bool]

IDENTIFIER_ROWS = (
    "SELECT i.id_type, i.id_value, i.value_enc, i.key_id FROM identifiers i JOIN ROWS FROM "
    "(unnest(%s::text[]), unnest(%s::text[])) AS k(t, v) ON i.id_type = k.t AND i.id_value = k.v"
)


class OutboxOpener:
    """Rewrites the outbox rows of one relay batch with their PII opened."""

    def __init__(self, settings: Settings, codec: Codec, pii: PiiCodec) -> None:
        self._subjects = {
            settings.topics.profile_changes: PROFILE_CHANGE,
            settings.topics.membership: MEMBERSHIP_CHANGE,
        }
        self._codec = codec
        self._pii = pii

    def subject(self, topic: str) -> str | None:
        """The schema subject of records on `topic` that may carry PII, else None (a row fanned
        out to a segment topic holds a membership change whatever its own topic)."""
        found = self._subjects.get(topic)
        if found is None and topic.startswith(SEGMENT_TOPIC_PREFIX):
            return MEMBERSHIP_CHANGE
        return found

    def open_rows(self, conn: Connection[Any], rows: Sequence[Row]) -> list[Row]:
        """`rows` with every PII-carrying record opened (the rest as they were)."""
        if not self._pii.enabled:
            return list(rows)
        records: dict[int, tuple[str, dict[str, Any]]] = {}
        for index, (_, topic, _, value, fanout, _) in enumerate(rows):
            subject = self.subject(topic) or (self.subject(fanout) if fanout else None)
            if subject is not None and value is not None:
                try:
                    records[index] = (subject, self._codec.decode(subject, bytes(value)))
                except DecodeError as exc:  # not written by cdp, so not sealed by it either
                    log.warning(
                        "outbox row %s on %s published as it is: %s", rows[index][0], topic, exc
                    )
        if not records:
            return list(rows)
        plain = self._identifiers(conn, [r for _, r in records.values()])
        out = list(rows)
        for index, (subject, record) in records.items():
            record["traits"] = self._open_traits(record.get("traits"))
            record["identifiers"] = [
                found
                for ident in record.get("identifiers") or []
                if (found := plain.get(ident) or self._open_sealed(ident)) is not None
            ]
            row_id, topic, key, _, fanout, tombstone = rows[index]
            out[index] = (
                row_id,
                topic,
                key,
                self._codec.encode(subject, record),
                fanout,
                tombstone,
            )
        return out

    def _open_sealed(self, ident: str) -> str | None:
        """``type:<value>`` of a ``type:<sealed value>`` (a privacy deletion's exits carry their
        identifiers so, their rows being gone, see `cdp.privacy.purge`); None otherwise."""
        id_type, _, value = ident.partition(":")
        if not value.startswith(SEALED_PREFIX):
            return None
        return f"{id_type}:{self._pii.open_value(value)}"

    def _open_traits(self, text: str | None) -> str | None:
        if text is None or SEALED_PREFIX not in text:
            return text
        return orjson.dumps(self._pii.open_document(orjson.loads(text))).decode()

    def _identifiers(self, conn: Connection[Any], records: list[dict[str, Any]]) -> dict[str, str]:
        """``type:<match value>`` → ``type:<value>`` for the records' identifiers."""
        wanted = {i for record in records for i in record.get("identifiers") or []}
        if not wanted:
            return {}
        pairs = sorted(i.partition(":")[::2] for i in wanted)
        rows = conn.execute(
            IDENTIFIER_ROWS, ([t for t, _ in pairs], [v for _, v in pairs])
        ).fetchall()
        opened = self._pii.open_identifier
        return {
            f"{t}:{v}": f"{t}:{opened(t, v, bytes(blob) if blob is not None else None, key_id)}"
            for t, v, blob, key_id in rows
        }
