"""`cdp keys rotate-data-key`: every stored value moved to the active key, resumably."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy.engine import Engine

from cdp.db import create_engine
from cdp.privacy.errors import UnknownDataKey
from cdp.privacy.keystate import check_pii_state
from cdp.privacy.rotation import RotationRefused, RotationRunner, census, request_rotation
from cdp.privacy.rotation import steps as rotation_steps
from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.privacy.rotation_data import (
    KEYS,
    NEW,
    OLD,
    clear,
    seed,
    snapshot,
    with_keys,
)
from tests.integration.profiles.conftest import (  # noqa: F401 - fixtures
    pipeline_settings,
    template_database,
)

pytestmark = pytest.mark.integration

PERSONS = 12


@pytest.fixture
def db_engine(pipeline_settings: Settings) -> Any:  # noqa: F811
    engine = create_engine(pipeline_settings, pool_size=1)
    yield engine
    engine.dispose()


def counts(settings: Settings) -> dict[str, dict[str, int]]:
    with psycopg.connect(settings.database_dsn()) as conn:
        return census(conn)


def resealed(table: str) -> float:
    return REGISTRY.get_sample_value("cdp_pii_values_resealed_total", {"table": table}) or 0.0


def run_to_end(settings: Settings, rotation_id: int, **chunks: int) -> str:
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        return RotationRunner(settings, **chunks).run(conn, rotation_id)


def test_rotation_moves_every_value_and_the_old_key_can_be_dropped(
    pipeline_settings: Settings,  # noqa: F811
    db_engine: Engine,
) -> None:
    before_settings = with_keys(pipeline_settings, OLD, (OLD,))
    seed(before_settings, PERSONS)
    before = snapshot(before_settings)
    stored = counts(before_settings)
    assert stored["identifiers"] == {OLD: 2 * PERSONS}
    assert set(stored) == {"identifiers", "profiles", "groups", "computed_trait_values",
                           "events", "outbox"}  # fmt: skip

    rotated = with_keys(pipeline_settings, NEW)
    rotation = request_rotation(db_engine, rotated)
    assert snapshot(rotated) == before, "both keys configured: everything readable meanwhile"
    counted = resealed("identifiers")
    assert run_to_end(rotated, rotation.id, chunk_rows=5, chunk_blocks=1) == "done"
    assert resealed("identifiers") - counted == 2 * PERSONS

    after = counts(rotated)
    assert all(set(by_key) == {NEW} for by_key in after.values()), after
    assert {t: sum(v.values()) for t, v in after.items()} == {
        t: sum(v.values()) for t, v in stored.items()
    }
    new_only = with_keys(pipeline_settings, NEW, (NEW,))
    assert snapshot(new_only) == before
    with pytest.raises(UnknownDataKey):
        snapshot(with_keys(pipeline_settings, OLD, (OLD,)))
    check_pii_state(db_engine, new_only)

    with psycopg.connect(pipeline_settings.database_dsn()) as conn:
        status, progress = conn.execute(
            "SELECT status, progress FROM data_key_rotations WHERE id = %s", (rotation.id,)
        ).fetchone()  # type: ignore[misc]
        audit = conn.execute(
            "SELECT outcome, target FROM audit_log WHERE action = 'keys.rotate_data_key'"
        ).fetchall()
    assert status == "done"
    assert progress["moved"]["identifiers"] == 2 * PERSONS
    assert progress["moved"]["profiles"] == stored["profiles"][OLD]
    assert ("queued", f"data_key:{NEW}") in audit


def test_refusals(pipeline_settings: Settings, db_engine: Engine) -> None:  # noqa: F811
    old = with_keys(pipeline_settings, OLD, (OLD,))
    seed(old, 2)
    with pytest.raises(RotationRefused, match="nothing to do"):
        request_rotation(db_engine, with_keys(pipeline_settings, OLD))
    with pytest.raises(RotationRefused, match=f"under data key\\(s\\) {OLD}, which"):
        request_rotation(db_engine, with_keys(pipeline_settings, NEW, (NEW,)))
    with pytest.raises(RotationRefused, match="encryption is off"):
        request_rotation(db_engine, clear(old))
    first = request_rotation(db_engine, with_keys(pipeline_settings, NEW))
    with pytest.raises(RotationRefused, match=f"rotation {first.id} .* already queued"):
        request_rotation(db_engine, with_keys(pipeline_settings, NEW))
    with psycopg.connect(pipeline_settings.database_dsn()) as conn:
        outcomes = [
            r[0]
            for r in conn.execute(
                "SELECT outcome FROM audit_log WHERE action = 'keys.rotate_data_key' ORDER BY id"
            )
        ]
    assert outcomes == ["refused", "refused", "refused", "queued", "refused"]


def test_runner_with_another_active_key_fails_the_rotation(
    pipeline_settings: Settings,  # noqa: F811
    db_engine: Engine,
) -> None:
    seed(with_keys(pipeline_settings, OLD, (OLD,)), 2)
    rotation = request_rotation(db_engine, with_keys(pipeline_settings, NEW))
    assert run_to_end(with_keys(pipeline_settings, OLD), rotation.id) == "failed"
    with psycopg.connect(pipeline_settings.database_dsn()) as conn:
        error = conn.execute(
            "SELECT error FROM data_key_rotations WHERE id = %s", (rotation.id,)
        ).fetchone()[0]  # type: ignore[index]
    assert "CDP_PRIVACY__DATA_KEY_ID" in error


class Crash(Exception):
    """Stands for the process dying in the middle of a chunk."""


def test_resumes_after_a_crash_mid_way(
    pipeline_settings: Settings,  # noqa: F811
    db_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seed(with_keys(pipeline_settings, OLD, (OLD,)), PERSONS)
    before = snapshot(with_keys(pipeline_settings, OLD, (OLD,)))
    rotated = with_keys(pipeline_settings, NEW)
    rotation = request_rotation(db_engine, rotated)

    real_events = rotation_steps.STEPS["events"]
    calls = 0

    def crashing(conn: Any, work: Any, cursor: Any) -> Any:
        nonlocal calls
        calls += 1
        result = real_events(conn, work, cursor)
        if calls == 3:
            raise Crash("killed mid-chunk, after its updates")
        return result

    monkeypatch.setitem(rotation_steps.STEPS, "events", crashing)
    with (
        pytest.raises(Crash),
        psycopg.connect(pipeline_settings.database_dsn(), autocommit=True) as conn,
    ):
        RotationRunner(rotated, chunk_rows=5, chunk_blocks=1).run(conn, rotation.id)
    with psycopg.connect(pipeline_settings.database_dsn()) as conn:
        status, progress = conn.execute(
            "SELECT status, progress FROM data_key_rotations WHERE id = %s", (rotation.id,)
        ).fetchone()  # type: ignore[misc]
    assert status == "running"
    assert progress["step"] == "events"
    mid = counts(rotated)
    assert mid["identifiers"] == {NEW: 2 * PERSONS}
    assert OLD in mid["events"], "the timeline was left half done"

    monkeypatch.setitem(rotation_steps.STEPS, "events", real_events)
    assert run_to_end(rotated, rotation.id, chunk_rows=5, chunk_blocks=1) == "done"
    assert all(set(by_key) == {NEW} for by_key in counts(rotated).values())
    assert snapshot(with_keys(pipeline_settings, NEW, (NEW,))) == before


def test_converts_a_database_kept_in_clear(
    pipeline_settings: Settings,  # noqa: F811
    db_engine: Engine,
) -> None:
    legacy = clear(with_keys(pipeline_settings, NEW))
    seed(legacy, PERSONS)
    before = snapshot(legacy)
    with psycopg.connect(pipeline_settings.database_dsn()) as conn:
        dump = conn.execute(
            "SELECT (SELECT string_agg(id_value, ' ') FROM identifiers) || "
            "(SELECT string_agg(traits::text, ' ') FROM profiles) || "
            "(SELECT string_agg(properties::text || context::text, ' ') FROM events)"
        ).fetchone()[0]  # type: ignore[index]
    assert "person3@example.com" in dump
    assert "+33612340003" in dump

    encrypted = with_keys(pipeline_settings, NEW, (NEW,))
    rotation = request_rotation(db_engine, encrypted)
    assert rotation.progress["mode"] == "convert"
    assert run_to_end(encrypted, rotation.id, chunk_rows=5, chunk_blocks=1) == "done"

    check_pii_state(db_engine, encrypted)
    assert snapshot(encrypted) == before
    with psycopg.connect(pipeline_settings.database_dsn()) as conn:
        dump = conn.execute(
            "SELECT (SELECT string_agg(id_value, ' ') FROM identifiers) || "
            "(SELECT string_agg(traits::text, ' ') FROM profiles) || "
            "(SELECT string_agg(traits::text, ' ') FROM groups) || "
            "(SELECT string_agg(concat_ws(' ', name, properties::text, context::text), ' ') "
            "FROM events)"
        ).fetchone()[0]  # type: ignore[index]
    for clear_text in ("person3@example.com", "+33612340003", "rue Cler", "u3 ", "Acme", "anon-3"):
        assert clear_text not in dump
    with psycopg.connect(pipeline_settings.database_dsn()) as conn:
        in_clear = conn.execute(
            "SELECT count(*) FROM identifiers WHERE key_id IS NULL OR id_value = ANY(%s)",
            ([value for _, value in before["identifiers"]],),
        ).fetchone()
    assert in_clear == (0,)
    assert "Lyon" not in dump, "nested values under a PII name are sealed too"
    assert '"name": "analytics.js"' in dump, "software names stay in clear, as the processor has"
    assert all(set(by_key) == {NEW} for by_key in counts(encrypted).values())


#: A runner in a process of its own, each chunk slowed down so that a kill lands mid-way.
SLOW_RUNNER = """
import sys, time
import psycopg
from cdp.privacy.rotation import RotationRunner, steps
from cdp.settings import load_settings

def slow(step):
    def run(conn, work, cursor):
        time.sleep(0.1)
        return step(conn, work, cursor)
    return run

for name in list(steps.STEPS):
    steps.STEPS[name] = slow(steps.STEPS[name])
settings = load_settings()
with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
    RotationRunner(settings, chunk_rows=2, chunk_blocks=1).run(conn, int(sys.argv[1]))
"""


def test_resumes_after_the_runner_process_is_killed(
    pipeline_settings: Settings,  # noqa: F811
    db_engine: Engine,
    tmp_path: Any,
) -> None:
    seed(with_keys(pipeline_settings, OLD, (OLD,)), PERSONS)
    before = snapshot(with_keys(pipeline_settings, OLD, (OLD,)))
    rotated = with_keys(pipeline_settings, NEW)
    rotation = request_rotation(db_engine, rotated)
    env = dict(os.environ)
    env.update(
        CDP_DATABASE_URL=rotated.database_dsn(),
        CDP_HOME=str(tmp_path),
        CDP_PRIVACY__DATA_KEYS=json.dumps({k: KEYS[k] for k in (OLD, NEW)}),
        CDP_PRIVACY__DATA_KEY_ID=NEW,
    )
    child = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUNNER, str(rotation.id)], env=env, stdin=subprocess.DEVNULL
    )

    def moved_profiles() -> int:
        with psycopg.connect(rotated.database_dsn()) as conn:
            row = conn.execute(
                "SELECT progress FROM data_key_rotations WHERE id = %s", (rotation.id,)
            ).fetchone()
        return int(row[0].get("moved", {}).get("profiles", 0)) if row else 0

    try:
        wait_for(lambda: moved_profiles() >= 4, timeout=60, what="the runner to be mid-way")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    mid = counts(rotated)
    assert mid["identifiers"] == {NEW: 2 * PERSONS}
    assert any(OLD in by_key for by_key in mid.values()), "killed before the end"

    assert run_to_end(rotated, rotation.id, chunk_rows=5, chunk_blocks=1) == "done"
    assert all(set(by_key) == {NEW} for by_key in counts(rotated).values())
    assert snapshot(with_keys(pipeline_settings, NEW, (NEW,))) == before


def test_clear_identifiers_in_an_encrypted_database_are_refused(
    pipeline_settings: Settings,  # noqa: F811
    db_engine: Engine,
) -> None:
    seed(with_keys(pipeline_settings, OLD, (OLD,)), 2)
    with psycopg.connect(pipeline_settings.database_dsn()) as conn:
        conn.execute(
            "INSERT INTO identifiers (id_type, id_value, profile_id, first_seen, last_seen) "
            "SELECT 'email', 'stray@example.com', min(id), now(), now() FROM profiles"
        )
    with pytest.raises(RotationRefused, match="1 identifiers are stored in clear"):
        request_rotation(db_engine, with_keys(pipeline_settings, NEW))
