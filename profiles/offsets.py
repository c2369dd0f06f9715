"""Consumer offsets kept in Postgres, written in the same transaction as the batch's effects."""

from __future__ import annotations

from typing import Any

from psycopg import Connection

__all__ = ["claim_offsets", "read_offsets", "save_offsets"]


def read_offsets(
    conn: Connection[Any], group: str, topic: str, partitions: list[int]
) -> dict[int, int]:
    """The next offset to read per partition, for the partitions that have one stored."""
    rows = conn.execute(
        "SELECT partition, next_offset FROM consumer_offsets WHERE consumer_group = %s AND topic = %s "
        "AND partition = ANY(%s)",
        (group, topic, partitions),
    ).fetchall()
    return {p: o for p, o in rows}


def claim_offsets(
    conn: Connection[Any], group: str, topic: str, partitions: list[int]
) -> dict[int, int]:
    """Lock the offset rows of `partitions` for this transaction and return the stored ones.

    Taking the row lock fences a consumer that lost the partition in a rebalance but still holds
    a batch: it waits, then sees the advanced offset and skips what was already applied.
    """
    conn.execute(
        "INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset) "
        "SELECT %s, %s, p, 0 FROM unnest(%s::int[]) AS p ON CONFLICT DO NOTHING",
        (group, topic, partitions),
    )
    rows = conn.execute(
        "SELECT partition, next_offset FROM consumer_offsets WHERE consumer_group = %s AND topic = %s "
        "AND partition = ANY(%s) ORDER BY partition FOR UPDATE",
        (group, topic, sorted(partitions)),
    ).fetchall()
    return {p: o for p, o in rows}


def save_offsets(
    conn: Connection[Any], group: str, topic: str, next_offsets: dict[int, int]
) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "UPDATE consumer_offsets SET next_offset = GREATEST(next_offset, %s), updated_at = now() "
            "WHERE consumer_group = %s AND topic = %s AND partition = %s",
            [(o, group, topic, p) for p, o in next_offsets.items()],
        )
