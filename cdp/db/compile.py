"""Running SQLAlchemy Core statements on a raw psycopg connection (the processor's hot path)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from psycopg import Connection
from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = ["compile_statement", "execute"]

_DIALECT = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]


def execute(conn: Connection[Any], statement: ClauseElement) -> list[tuple[Any, ...]]:
    """Compile `statement` for psycopg (named parameters, expanded IN lists) and run it.

    Parameter values go through their SQLAlchemy types' bind processors (JSONB values become
    JSON text, for one), as they would on a SQLAlchemy connection.
    """
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    processors: Mapping[str, Any] = compiled._bind_processors
    params = {key: _processed(processors.get(key), value) for key, value in compiled.params.items()}
    cursor = conn.execute(str(compiled), params)
    return cursor.fetchall() if cursor.description else []


def compile_statement(statement: ClauseElement) -> tuple[str, dict[str, Any]]:
    """`statement` as psycopg SQL text and its processed parameters, as `execute` runs it; for
    callers that run one statement shape many times with some parameters replaced."""
    compiled = statement.compile(dialect=_DIALECT, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    processors: Mapping[str, Any] = compiled._bind_processors
    params = {key: _processed(processors.get(key), value) for key, value in compiled.params.items()}
    return str(compiled), params


def _processed(processor: Any, value: Any) -> Any:
    return processor(value) if callable(processor) else value
