"""The Alembic migrations create exactly the schema `cdp.db.tables` describes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from cdp.db.tables import metadata

pytestmark = pytest.mark.integration


def test_migrations_match_the_table_definitions(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    meaningful = [d for d in diff if not _of_runtime_table(d)]
    assert meaningful == []


def _of_runtime_table(difference: tuple[Any, ...]) -> bool:
    """A difference about a `_runtime_table`: the table itself, or an index of it."""
    kind, item = difference[0], difference[1]
    if kind == "remove_table":
        return _runtime_table(item.name)
    return kind == "remove_index" and _runtime_table(item.table.name)


def _runtime_table(name: str) -> bool:
    """Tables that exist by design without a definition: Alembic's own, and the timeline's
    monthly partitions (`events_YYYY_MM`), which the processor creates as months arrive (other
    tests sharing this database may have made some)."""
    return name == "alembic_version" or re.fullmatch(r"events_\d{4}_\d{2}", name) is not None
