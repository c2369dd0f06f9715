"""Moving one sealed value, or every sealed value of a text or record, to the active data key.

These work on the stored bytes, not on the JSON values inside: a value is decrypted and
encrypted again with the same associated data, so what it opens to is exactly what it was.
Sealed strings hold only ``[A-Za-z0-9_.:=-]``, which JSON never escapes, so they are found and
replaced in a document's JSON text without parsing it.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from typing import Any

from fastavro import schemaless_writer

from cdp.privacy.atrest import SEALED_PREFIX, VALUE_AAD
from cdp.privacy.crypto import KeyRing
from cdp.privacy.errors import DecryptionFailed
from cdp.schemas import Codec
from cdp.schemas.codec import HEADER

__all__ = ["SEALED_TEXT", "reseal_blob", "reseal_record", "reseal_text", "sealed_pattern"]

#: A sealed string inside any text: its key id (group 1) and base64url payload (group 2).
SEALED_TEXT = re.compile(r"cdp:enc:v1:([A-Za-z0-9_.-]{1,32}):([A-Za-z0-9_=-]*)")


def sealed_pattern(key_id: str) -> str:
    """A SQL LIKE pattern matching a text that holds a value sealed under `key_id`."""
    escaped = key_id.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    return f"%{SEALED_PREFIX}{escaped}:%"


def reseal_blob(ring: KeyRing, key_id: str, blob: bytes, aad: bytes) -> bytes:
    """`blob` (under `key_id`, bound to `aad`) encrypted again under the ring's active key."""
    return ring.encrypt(ring.decrypt(key_id, blob, aad), aad)


def reseal_text(ring: KeyRing, text: str) -> tuple[str, int]:
    """`text` with every sealed value that is not under the active key moved to it, and how
    many were moved (0: `text` is returned as it was)."""
    moved = 0

    def move(found: re.Match[str]) -> str:
        nonlocal moved
        key_id = found.group(1)
        if key_id == ring.active:
            return found.group(0)
        try:
            blob = base64.urlsafe_b64decode(found.group(2))
        except (binascii.Error, ValueError) as exc:
            raise DecryptionFailed(f"a value sealed under {key_id!r} is not base64") from exc
        moved += 1
        fresh = reseal_blob(ring, key_id, blob, VALUE_AAD)
        return f"{SEALED_PREFIX}{ring.active}:{base64.urlsafe_b64encode(fresh).decode()}"

    if SEALED_PREFIX not in text:
        return text, 0
    result = SEALED_TEXT.sub(move, text)
    return (result, moved) if moved else (text, 0)


def _reseal_any(ring: KeyRing, value: Any) -> tuple[Any, int]:
    if isinstance(value, str):
        return reseal_text(ring, value)
    if isinstance(value, dict):
        moved = 0
        out: dict[str, Any] = {}
        for k, v in value.items():
            out[k], n = _reseal_any(ring, v)
            moved += n
        return out, moved
    if isinstance(value, list):
        items = [_reseal_any(ring, v) for v in value]
        return [v for v, _ in items], sum(n for _, n in items)
    return value, 0


def reseal_record(ring: KeyRing, codec: Codec, data: bytes) -> tuple[bytes, int]:
    """A Confluent-framed Avro record (an outbox row) with its sealed strings moved to the
    active key, written again with the schema it was written with; the bytes as they were when
    nothing moved. Avro strings carry their length, so the record is decoded and encoded again
    rather than edited in place (key ids differ in length)."""
    if SEALED_PREFIX.encode() not in data:
        return data, 0
    record, moved = _reseal_any(ring, codec.decode_any(data))
    if not moved:
        return data, 0
    schema_id = codec.schema_id(data)
    out = io.BytesIO()
    out.write(data[: HEADER.size])
    schemaless_writer(out, codec.schema(schema_id), record)
    return out.getvalue(), moved
