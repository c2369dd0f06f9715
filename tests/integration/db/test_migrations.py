"""The Alembic migrations create exactly the schema `cdp.db.tables` describes."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Engine

from cdp.db.tables import metadata

pytestmark = pytest.mark.integration


def test_migrations_match_the_table_definitions(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    ignored = {"alembic_version"}
    meaningful = [d for d in diff if not (d[0] == "remove_table" and d[1].name in ignored)]
    assert meaningful == []
