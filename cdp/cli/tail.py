"""`cdp tail`: print the decoded records of a topic as they arrive."""

from __future__ import annotations

import time
from typing import Any

import orjson
import typer
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

from cdp.cli.common import fail, settings_for_command
from cdp.schemas import DecodeError, codec_for

POLL_S = 0.5


def tail(
    topic: str = typer.Argument(..., help="e.g. cdp.events.raw or cdp.events.dlq"),
    from_beginning: bool = typer.Option(
        False, "--from-beginning", "-b", help="Start at the oldest record."
    ),
    limit: int = typer.Option(0, "--max", "-n", help="Stop after this many records (0: never)."),
    timeout: float = typer.Option(0.0, help="Stop after this many idle seconds (0: never)."),
) -> None:
    """Print each record as one JSON line; no consumer group is joined, so it starts at once."""
    settings = settings_for_command()
    codec = codec_for(settings)
    consumer = Consumer(
        settings.kafka_config(**{"group.id": "cdp-tail", "enable.auto.commit": False})
    )
    metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if metadata is None or metadata.error is not None:
        fail(f"no topic {topic}")
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, start) for p in metadata.partitions])
    seen = 0
    idle_since = time.monotonic()
    try:
        while not limit or seen < limit:
            msg = consumer.poll(POLL_S)
            if msg is None or msg.error():
                if timeout and time.monotonic() - idle_since > timeout:
                    break
                continue
            idle_since = time.monotonic()
            typer.echo(render(codec, msg.value(), msg.key(), msg.partition(), msg.offset()))
            seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def render(
    codec: Any, value: bytes | None, key: bytes | None, partition: int | None, offset: int | None
) -> str:
    """One record as a JSON line: its place, its key, and its decoded value."""
    try:
        decoded: Any = _expand(codec.decode_any(value or b""))
    except DecodeError:
        decoded = {"undecodable": (value or b"").decode("utf-8", "replace")}
    return orjson.dumps(
        {
            "partition": partition,
            "offset": offset,
            "key": key.decode("utf-8", "replace") if key else None,
            "value": decoded,
        },
        default=_jsonable,
    ).decode()


def _expand(record: Any) -> Any:
    """JSON carried as text inside a record (properties, traits...) shown as JSON."""
    if not isinstance(record, dict):
        return record
    return {name: _maybe_json(value) for name, value in record.items()}


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value.decode("utf-8", "replace")
    raise TypeError
