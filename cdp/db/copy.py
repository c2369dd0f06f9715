"""Writing rows with `COPY ... FROM STDIN` in Postgres's binary format."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import Connection

__all__ = ["copy_binary"]


def copy_binary(
    conn: Connection[Any], target: str, types: list[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """COPY `rows` into `target` ("table (columns)") in the binary format, each column sent as
    the Postgres type named in `types`. Binary values (bytea) go as they are, where the text
    format has them hex-encoded by the client and decoded again by the server."""
    with conn.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)
