"""Reading the dead-letter topic back, and replaying letters to the raw topic after a fix."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from cdp.ingest.app import ingest_routes
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.kafka.producer import Record
from cdp.kafka.sender import BlockingSender
from cdp.ops.errors import NoSuchLetter, OpsError, ReplayRefused
from cdp.ops.offsets import POLL_S, READ_TIMEOUT_S, end_offsets
from cdp.schemas import EVENT, Codec, DecodeError
from cdp.settings import Settings

__all__ = [
    "Letter",
    "count_letters",
    "read_letter",
    "read_letters",
    "replay_letters",
    "replay_record",
]

#: Letters read per partition for the per-reason counts: enough to show what is going wrong
#: now without reading a DLQ that grew for months on every refresh.
COUNT_WINDOW = 10_000
FLUSH_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Letter:
    """A decoded dead letter and where it sits in the DLQ topic."""

    partition: int
    offset: int
    record: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """The letter for a browser: the payload as JSON when it is JSON, else as text."""
        record = self.record
        payload: bytes = record.get("payload") or b""
        failed_at = record.get("failed_at")
        if isinstance(failed_at, datetime):
            failed_at_text: Any = failed_at.isoformat()
        elif isinstance(failed_at, int):
            failed_at_text = datetime.fromtimestamp(failed_at / 1000, UTC).isoformat()
        else:
            failed_at_text = failed_at
        return {
            "partition": self.partition,
            "offset": self.offset,
            "stage": record.get("stage"),
            "reason": record.get("reason"),
            "message": record.get("message"),
            "source_id": record.get("source_id"),
            "message_id": record.get("message_id"),
            "origin": record.get("origin"),
            "failed_at": failed_at_text,
            "payload": _payload_view(payload),
        }


def _payload_view(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return (
            {"binary": payload.hex()}
            if b"\x00" in payload[:5]
            else payload.decode(errors="replace")
        )


def read_letters(
    consumer: Consumer, codec: Codec, topic: str, newest: int, partition: int | None = None
) -> tuple[list[Letter], int]:
    """Up to `newest` letters per partition, newest first, and the number the topic holds."""
    bounds = end_offsets(consumer, topic)
    if partition is not None:
        bounds = {p: b for p, b in bounds.items() if p == partition}
    total = sum(end - low for low, end in bounds.values())
    ranges = {p: (max(low, end - newest), end) for p, (low, end) in bounds.items() if end > low}
    letters = [_decode(codec, p, o, v) for p, o, v in _read_ranges(consumer, topic, ranges)]
    letters.sort(key=lambda item: (item.record.get("failed_at") or 0, item.offset), reverse=True)
    return letters, total


def read_letter(
    consumer: Consumer, codec: Codec, topic: str, partition: int, offset: int
) -> Letter:
    """The one letter at `partition`/`offset`; `NoSuchLetter` if there is none."""
    low, end = end_offsets(consumer, topic).get(partition, (0, 0))
    if not low <= offset < end:
        raise NoSuchLetter(f"no dead letter at {topic}[{partition}]@{offset}")
    for p, o, v in _read_ranges(consumer, topic, {partition: (offset, offset + 1)}):
        if o == offset:
            return _decode(codec, p, o, v)
    raise NoSuchLetter(f"no dead letter at {topic}[{partition}]@{offset}")


def count_letters(letters: list[Letter]) -> list[dict[str, Any]]:
    """Letters per (stage, reason), most frequent first."""
    counts = Counter((str(x.record.get("stage")), str(x.record.get("reason"))) for x in letters)
    return [
        {"stage": stage, "reason": reason, "count": n}
        for (stage, reason), n in counts.most_common()
    ]


def _decode(codec: Codec, partition: int, offset: int, value: bytes) -> Letter:
    try:
        record = codec.decode_any(value)
    except DecodeError:
        record = {"stage": "unknown", "reason": "undecodable_letter", "payload": value}
    return Letter(partition, offset, record)


def _read_ranges(
    consumer: Consumer, topic: str, ranges: dict[int, tuple[int, int]]
) -> list[tuple[int, int, bytes]]:
    """``(partition, offset, value)`` of every record in ``[start, end)`` per partition.

    The timeout is on idleness, not on the whole read, so a long DLQ is read to its end.
    """
    ranges = {p: r for p, r in ranges.items() if r[1] > r[0]}
    if not ranges:
        return []
    consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in ranges.items()])
    out: list[tuple[int, int, bytes]] = []
    pending = set(ranges)
    deadline = time.monotonic() + READ_TIMEOUT_S
    try:
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(POLL_S)
            if msg is None:
                continue
            partition, offset, err = msg.partition(), msg.offset(), msg.error()
            if partition is None:
                continue
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending.discard(partition)
                continue
            if offset is None:
                continue
            deadline = time.monotonic() + READ_TIMEOUT_S
            if offset < ranges[partition][1]:
                out.append((partition, offset, msg.value() or b""))
            if offset + 1 >= ranges[partition][1]:
                pending.discard(partition)
    finally:
        consumer.unassign()
    if pending:
        raise OpsError(f"{topic}: partitions {sorted(pending)} not read within {READ_TIMEOUT_S}s")
    return out


def replay_record(codec: Codec, settings: Settings, letter: Letter) -> tuple[bytes, bytes]:
    """The ``(key, value)`` to put back on the raw topic; `ReplayRefused` if it is still bad.

    A collector letter's payload is the JSON item the client sent: it is validated again (the fix
    may have been to the rules or to the source) with the endpoint it came through, and given a
    messageId from its DLQ position if it had none, so replaying it twice is deduplicated. A
    processor letter's payload is the raw record itself and goes back byte for byte.
    """
    record = letter.record
    stage = record.get("stage")
    payload: bytes = record.get("payload") or b""
    if stage == "processor":
        try:
            raw = codec.decode_any(payload)
        except DecodeError as exc:
            raise ReplayRefused(f"the payload is still undecodable: {exc}") from exc
        return (str(raw.get("user_id") or raw.get("anonymous_id") or "").encode(), payload)
    if stage != "collector":
        raise ReplayRefused(f"letters of stage {stage!r} are not replayed to the raw topic")
    return _revalidate(codec, settings, letter, payload)


def _revalidate(
    codec: Codec, settings: Settings, letter: Letter, payload: bytes
) -> tuple[bytes, bytes]:
    try:
        item = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ReplayRefused(f"the payload is not JSON: {exc}") from exc
    if isinstance(item, dict) and not item.get("messageId"):
        item["messageId"] = f"dlq-{letter.partition}-{letter.offset}"
    origin = letter.record.get("origin") or ""
    forced_type = ingest_routes().get(origin, (None, ""))[0]
    failed_at = letter.record.get("failed_at")
    received_at = (
        int(failed_at.timestamp() * 1000)
        if isinstance(failed_at, datetime)
        else int(failed_at or time.time() * 1000)
    )
    batch = BatchContext(
        source_id=str(letter.record.get("source_id") or "replay"),
        received_at=received_at,
        limits=settings.limits,
    )
    oks, errs = validate_batch([item], batch, forced_type)
    if errs:
        raise ReplayRefused(f"still invalid: {errs[0].reason}: {errs[0].message}")
    return oks[0].key or b"", codec.encode(EVENT, oks[0].envelope)


def replay_letters(
    settings: Settings, codec: Codec, letters: list[Letter]
) -> tuple[list[Letter], list[tuple[Letter, str]]]:
    """Produce every replayable letter to the raw topic; the replayed and the refused (with why)."""
    replayed: list[Letter] = []
    refused: list[tuple[Letter, str]] = []
    records: list[tuple[Letter, bytes, bytes]] = []
    for letter in letters:
        try:
            key, value = replay_record(codec, settings, letter)
        except ReplayRefused as exc:
            refused.append((letter, str(exc)))
            continue
        records.append((letter, key, value))
    if not records:
        return replayed, refused
    sender = BlockingSender(lambda: Producer(settings.producer_config()), FLUSH_TIMEOUT_S)
    sent = sender.send(
        [Record(settings.topics.raw, value, key or None) for _, key, value in records]
    )
    sender.close()
    if not sent.ok:
        raise OpsError(f"the raw topic did not take the replayed records: {sent.first_reason()}")
    replayed = [letter for letter, _, _ in records]
    return replayed, refused
