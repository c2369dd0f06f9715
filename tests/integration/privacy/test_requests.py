"""Data subject requests against the real processor, relay, broker and Postgres."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import psycopg
import pytest
from typer.testing import CliRunner

from cdp.cli import app as cli
from cdp.identity import Identifier
from cdp.privacy.atrest import SEALED_PREFIX
from cdp.privacy.hashing import subject_hash
from cdp.privacy.observability import SUPPRESSED_EVENTS
from cdp.privacy.requests import JOB_LOCK
from cdp.privacy.service import PrivacyService
from cdp.settings import Privacy, Settings
from tests.integration.pii import match
from tests.integration.privacy.conftest import (
    FIRST_PROFILE_ID,
    apply_segment,
    drain_outbox,
    scan,
    send_person,
    wait_for_request,
)
from tests.integration.profiles.conftest import EventSender, RunningProcessor, query
from tests.integration.profiles.test_identity_scenarios import profile_of
from tests.kafka_helpers import read_all

pytestmark = pytest.mark.integration

EXTRA_TABLE = (
    "CREATE TABLE deliveries (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
    "profile_id bigint NOT NULL, destination text NOT NULL, payload jsonb NOT NULL)"
)


def live_of(settings: Settings, id_type: str, value: str) -> int:
    found = profile_of(settings, id_type, value)
    assert found is not None, f"no profile holds {id_type}:{value}"
    return found


def profile_ids_of(settings: Settings, live: int) -> set[int]:
    merged = {
        r[0]
        for r in query(settings, "SELECT from_profile FROM merges WHERE into_profile = %s", live)
    }
    return {live, *merged}


def add_delivery(settings: Settings, profile_id: int, payload: dict[str, str]) -> None:
    with psycopg.connect(settings.database_dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS " + EXTRA_TABLE.removeprefix("CREATE TABLE "))
        conn.execute(
            "INSERT INTO deliveries (profile_id, destination, payload) VALUES (%s, 'webhook', %s)",
            (profile_id, orjson.dumps(payload).decode()),
        )


def gold_segment(settings: Settings) -> str:
    slug = f"buyers-{settings.processor_group}"
    apply_segment(
        settings,
        {
            "slug": slug,
            "name": "Buyers",
            "condition": {"event": {"name": "Order Completed"}},
            "emit": {"identifiers": ["user_id"]},
        },
    )
    return slug


def test_export_holds_everything_about_the_person_across_merges(
    privacy_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
    api: httpx.Client,
) -> None:
    slug = gold_segment(privacy_settings)
    a = send_person(sender, processed, "a", events=40)
    send_person(sender, processed, "b", events=3)
    processed()
    live = live_of(privacy_settings, "email", a.email)
    ids = profile_ids_of(privacy_settings, live)
    assert len(ids) == 2, "the setup merges the second device's profile into the user's"
    add_delivery(privacy_settings, live, {"to": "https://hooks.example.com"})

    response = api.post("/v1/privacy/export", json={"identifier": f"email: {a.email.upper()} "})

    assert response.status_code == 200, response.text
    doc = orjson.loads(response.content)
    assert doc["profile_id"] == str(live)
    assert {p["id"] for p in doc["merged_profiles"]} == {str(i) for i in ids - {live}}
    assert doc["traits"]["name"] == a.marker
    assert doc["computed_traits"]["order_count"] == 40
    assert doc["consent"]["Advertising"]["granted"] is True
    assert {(i["id_type"], i["id_value"]) for i in doc["identifiers"]} == {
        ("user_id", a.user_id),
        ("email", a.email),
        ("phone", a.phone),
        *(("anonymous_id", x) for x in a.anonymous_ids),
    }
    assert [g["group_id"] for g in doc["groups"]] == [a.group_id]
    assert [m["slug"] for m in doc["segment_memberships"]] == [slug]
    assert len(doc["merges"]) == 1
    assert doc["other"]["deliveries"][0]["payload"] == {"to": "https://hooks.example.com"}
    assert doc["event_count"] == len(a.message_ids) == len(doc["events"])
    assert sorted(e["message_id"] for e in doc["events"]) == sorted(a.message_ids)
    assert not any("b.person" in orjson.dumps(e).decode() for e in doc["events"])
    identify = next(e for e in doc["events"] if e["type"] == "identify")
    [(stored,)] = query(
        privacy_settings,
        "SELECT properties::text || context::text FROM events WHERE message_id = %s",
        identify["message_id"],
    )
    assert SEALED_PREFIX in stored
    assert a.marker not in stored
    assert a.marker in orjson.dumps(identify).decode(), "the timeline's sealed traits are opened"
    assert SEALED_PREFIX not in response.text, "everything is exported decrypted"
    assert not any(h in response.text for h in a.hashes(privacy_settings))
    audit = query(
        privacy_settings,
        "SELECT kind, status, requested_by, id_type, subject FROM privacy_requests",
    )
    assert audit == [("export", "done", "api:bootstrap", "email", None)]

    assert (
        api.post("/v1/privacy/export", json={"identifier": "email:nobody@example.com"}).status_code
        == 404
    )
    assert api.post("/v1/privacy/export", json={"identifier": "nonsense"}).status_code == 400
    assert (
        httpx.post(
            f"{api.base_url}/v1/privacy/export", json={"identifier": f"email:{a.email}"}
        ).status_code
        == 401
    )


def test_cli_export_writes_the_document_to_a_file(
    privacy_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
    tmp_path: Path,
    cli_env: pytest.MonkeyPatch,
) -> None:
    a = send_person(sender, processed, "a")
    processed()
    out = tmp_path / "export.json"

    result = CliRunner().invoke(
        cli, ["privacy", "export", f"user_id:{a.user_id}", "--out", str(out)]
    )

    assert result.exit_code == 0, result.output
    doc = orjson.loads(out.read_bytes())
    assert doc["event_count"] == len(a.message_ids)
    [(who,)] = query(privacy_settings, "SELECT requested_by FROM privacy_requests")
    assert who.startswith("cli:")


def test_deletion_leaves_no_trace_emits_exits_and_suppresses_replays(
    privacy_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
    api: httpx.Client,
) -> None:
    slug = gold_segment(privacy_settings)
    a = send_person(sender, processed, "a")
    b = send_person(sender, processed, "b")
    processed()
    live = live_of(privacy_settings, "email", a.email)
    ids = profile_ids_of(privacy_settings, live)
    add_delivery(privacy_settings, live, {"to": a.email})
    drain_outbox(privacy_settings)
    hashes = a.hashes(privacy_settings)
    assert scan(privacy_settings, [], set(), hashes), "the scanner finds the match values"
    assert any(
        hit.startswith("identifiers.value_enc") for hit in scan(privacy_settings, [a.email], set())
    ), "the scanner opens sealed identifiers"
    assert any(
        hit.startswith("profiles.traits") for hit in scan(privacy_settings, [a.marker], set())
    ), "the scanner opens sealed traits"
    before = scan(privacy_settings, a.needles(), ids, hashes)
    assert any(hit.startswith("identifiers.") for hit in before), "the scanner finds the person"
    assert any(hit.startswith("deliveries.") for hit in before)

    accepted = api.post("/v1/privacy/delete", json={"identifier": f"phone:{a.phone}"})

    assert accepted.status_code == 202, accepted.text
    job = wait_for_request(api, accepted.json()["request_id"])
    assert job["status"] == "done", job
    assert job["detail"]["memberships_exited"] == 1
    assert job["detail"]["timeline_events"] == len(a.message_ids)
    drain_outbox(privacy_settings)
    assert scan(privacy_settings, a.needles(), ids, hashes) == [], (
        "no table holds the person's identifiers in clear, sealed or hashed, nor the profile id"
    )
    assert scan(privacy_settings, b.needles(), set()), "the other person is untouched"
    suppressed = {r[0] for r in query(privacy_settings, "SELECT id_hash FROM privacy_suppressions")}
    assert suppressed == set(hashes), "the suppression hashes are the identifiers' match values"
    changes = [r.value for r in read_all(privacy_settings, privacy_settings.topics.membership)]
    assert {
        (c["profile_id"], c["change"], c["reason"]) for c in changes if c["profile_id"] == live
    } == {
        (live, "entered", "evaluation"),
        (live, "exited", "privacy_deletion"),
    }
    assert {tuple(c["identifiers"]) for c in changes if c["profile_id"] == live} == {
        (f"user_id:{a.user_id}",)
    }, "the exit names the person as the entry did, so a destination can remove them"
    current = read_all(privacy_settings, f"cdp.segment.{slug}")
    assert [r.tombstone for r in current if r.key == str(live).encode()][-1] is True

    dropped_before = SUPPRESSED_EVENTS._value.get()
    sender.send(
        {
            "type": "track",
            "userId": a.user_id,
            "event": "Order Completed",
            "messageId": a.message_ids[-1],
        },
        {"type": "page", "anonymousId": a.anonymous_ids[1], "name": "Late", "messageId": "late-1"},
        {"type": "identify", "userId": "stranger", "traits": {"email": a.email.upper()}},
    )
    processed()

    assert profile_of(privacy_settings, "user_id", a.user_id) is None
    assert profile_of(privacy_settings, "user_id", "stranger") is None
    assert SUPPRESSED_EVENTS._value.get() - dropped_before == 3
    assert query(privacy_settings, "SELECT sum(events) FROM privacy_drops") == [(3,)]
    assert scan(privacy_settings, [*a.needles(), "late-1"], ids, hashes) == []
    [(kind, status, subject, id_hash)] = query(
        privacy_settings, "SELECT kind, status, subject, id_hash FROM privacy_requests"
    )
    assert (kind, status, subject) == ("delete", "done", None)
    assert id_hash == match(privacy_settings, "phone", a.phone)
    assert min(ids) >= FIRST_PROFILE_ID


def test_suppress_only_keeps_the_profile_and_drops_new_events(
    privacy_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
    cli_env: pytest.MonkeyPatch,
) -> None:
    a = send_person(sender, processed, "a")
    processed()
    live = live_of(privacy_settings, "user_id", a.user_id)
    runner = CliRunner()

    result = runner.invoke(cli, ["privacy", "suppress", f"email:{a.email}"])
    assert result.exit_code == 0, result.output
    sender.send(
        {"type": "track", "userId": a.user_id, "event": "After", "messageId": "after-1"},
        {
            "type": "track",
            "anonymousId": a.anonymous_ids[0],
            "event": "After",
            "messageId": "after-2",
        },
        {"type": "track", "userId": "someone-else", "event": "After", "messageId": "after-3"},
    )
    processed()

    assert live_of(privacy_settings, "user_id", a.user_id) == live
    assert query(privacy_settings, "SELECT count(*) FROM events WHERE profile_id = %s", live) == [
        (len(a.message_ids),)
    ]
    assert profile_of(privacy_settings, "user_id", "someone-else") is not None
    counted = runner.invoke(cli, ["privacy", "suppressed"])
    assert counted.exit_code == 0, counted.output
    assert counted.output.strip() == "2"
    assert query(
        privacy_settings,
        "SELECT message_id FROM processed_messages WHERE message_id LIKE 'after-%%'",
    ) == [("after-3",)]


def test_consent_by_api_folds_by_time_and_moves_segment_membership(
    privacy_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
    api: httpx.Client,
) -> None:
    a = send_person(sender, processed, "a")
    processed()
    live = live_of(privacy_settings, "user_id", a.user_id)
    slug = f"email-ok-{privacy_settings.processor_group}"
    apply_segment(
        privacy_settings,
        {"slug": slug, "name": "Email OK", "condition": {"consent": {"purpose": "Email"}}},
    )

    granted = api.post(
        "/v1/privacy/consent",
        json={
            "identifier": f"user_id:{a.user_id}",
            "purpose": "Email",
            "granted": True,
            "timestamp": "2026-11-02T00:00:00Z",
        },
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["membership_changes"] == 1
    assert query(
        privacy_settings, "SELECT profile_id FROM segment_memberships WHERE slug = %s", slug
    ) == [(live,)]

    stale = api.post(
        "/v1/privacy/consent",
        json={
            "identifier": f"email:{a.email}",
            "purpose": "Email",
            "granted": False,
            "timestamp": "2026-11-01T00:00:00Z",
        },
    )
    assert stale.status_code == 200
    assert stale.json()["applied"] is False, "an older decision never overrides a newer one"

    revoked = api.post(
        "/v1/privacy/consent",
        json={"identifier": f"email:{a.email}", "purpose": "Email", "granted": False},
    )
    assert revoked.json()["applied"] is True
    assert revoked.json()["membership_changes"] == 1
    assert query(
        privacy_settings, "SELECT count(*) FROM segment_memberships WHERE slug = %s", slug
    ) == [(0,)]
    [(consent,)] = query(
        privacy_settings, "SELECT computed->'consent' FROM profiles WHERE id = %s", live
    )
    assert consent["Email"]["granted"] is False
    assert consent["Advertising"]["granted"] is True, "event consent is kept beside it"
    drain_outbox(privacy_settings)
    changes = [r.value for r in read_all(privacy_settings, privacy_settings.topics.membership)]
    assert [(c["change"], c["reason"]) for c in changes if c["segment"] == slug] == [
        ("entered", "consent"),
        ("exited", "consent"),
    ]
    assert (
        api.post(
            "/v1/privacy/consent",
            json={"identifier": "email:nobody@example.com", "purpose": "Email", "granted": True},
        ).status_code
        == 404
    )
    audit = query(privacy_settings, "SELECT kind, status FROM privacy_requests ORDER BY id")
    assert audit == [("consent", "done")] * 3 + [("consent", "failed")]


def test_retention_drops_old_timeline_months(
    privacy_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
    cli_env: pytest.MonkeyPatch,
) -> None:
    sender.send(
        {
            "type": "track",
            "userId": "old",
            "event": "Then",
            "messageId": "t-old",
            "timestamp": "2020-03-15T00:00:00Z",
        },
        {
            "type": "track",
            "userId": "new",
            "event": "Now",
            "messageId": "t-new",
            "timestamp": "2026-11-15T00:00:00Z",
        },
    )
    processed()
    cli_env.setenv("CDP_TIMELINE_RETENTION_DAYS", str(365 * 3))

    result = CliRunner().invoke(cli, ["privacy", "retention"])

    assert result.exit_code == 0, result.output
    assert "events_2020_03" in result.output
    assert [r[0] for r in query(privacy_settings, "SELECT message_id FROM events")] == ["t-new"]


def test_cli_delete_runs_the_job_and_status_shows_it(
    privacy_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
    cli_env: pytest.MonkeyPatch,
) -> None:
    a = send_person(sender, processed, "a")
    processed()
    live = live_of(privacy_settings, "user_id", a.user_id)
    runner = CliRunner()

    deleted = runner.invoke(cli, ["privacy", "delete", f"anonymous_id:{a.anonymous_ids[1]}"])

    assert deleted.exit_code == 0, deleted.output
    job = orjson.loads(deleted.stdout)
    assert job["status"] == "done"
    assert job["detail"]["profiles"] == 2
    assert query(privacy_settings, "SELECT count(*) FROM profiles WHERE id = %s", live) == [(0,)]
    shown = runner.invoke(cli, ["privacy", "status", job["id"]])
    assert shown.exit_code == 0, shown.output
    assert orjson.loads(shown.stdout)["requested_by"].startswith("cli:")
    unknown = runner.invoke(cli, ["privacy", "delete", "email:never-seen@example.com"])
    assert unknown.exit_code == 0, unknown.output
    assert orjson.loads(unknown.stdout)["detail"] == {"found": False, "suppressed": 1}
    assert runner.invoke(cli, ["privacy", "delete", "email:broken"]).exit_code == 2


def test_deletion_with_pii_in_clear_hashes_the_stored_values(
    privacy_settings: Settings,
    sender: EventSender,
    processed: Callable[[], None],
    cli_env: pytest.MonkeyPatch,
) -> None:
    """With encryption off identifiers are stored in clear: the deletion hashes them itself, and
    the processor, hashing what it reads, drops a replay."""
    clear = privacy_settings.model_copy(update={"privacy": Privacy(encrypt_pii=False)})
    with RunningProcessor(clear):
        a = send_person(sender, processed, "a")
        processed()
        assert live_of(clear, "user_id", a.user_id) is not None
        cli_env.setenv("CDP_PRIVACY__ENCRYPT_PII", "false")

        deleted = CliRunner().invoke(cli, ["privacy", "delete", f"email:{a.email}"])

        assert deleted.exit_code == 0, deleted.output
        assert orjson.loads(deleted.stdout)["status"] == "done"
        key = clear.privacy.hash_key.get_secret_value().encode()
        suppressed = {r[0] for r in query(clear, "SELECT id_hash FROM privacy_suppressions")}
        assert suppressed == {
            subject_hash(key, Identifier(t, v))
            for t, v in [
                ("user_id", a.user_id),
                ("email", a.email),
                ("phone", a.phone),
                *(("anonymous_id", x) for x in a.anonymous_ids),
            ]
        }
        sender.send({"type": "track", "userId": a.user_id, "event": "Again", "messageId": "r-1"})
        processed()
    assert scan(clear, a.needles(), set()) == []
    assert query(clear, "SELECT sum(events) FROM privacy_drops") == [(1,)]


def test_a_deletion_whose_worker_died_is_finished_by_run_pending_and_a_live_one_is_left(
    privacy_settings: Settings,
    sender: EventSender,
    processor: RunningProcessor,
    processed: Callable[[], None],
) -> None:
    """A job left `running` by a crashed worker is taken over; one whose worker still holds its
    lock (here: another connection) is not, so no job runs twice at once."""
    a = send_person(sender, processed, "orphan-a")
    b = send_person(sender, processed, "orphan-b")
    processed()
    service = PrivacyService(privacy_settings)
    orphan = service.request_deletion(f"user_id:{a.user_id}", "test")
    busy = service.request_deletion(f"user_id:{b.user_id}", "test")
    dsn = privacy_settings.database_dsn()
    with psycopg.connect(dsn, autocommit=True) as worker:
        worker.execute(
            "UPDATE privacy_requests SET status = 'running' WHERE id = ANY(%s)", ([orphan, busy],)
        )
        worker.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s || %s::text, 0))", (JOB_LOCK, busy)
        )

        assert service.run_pending() == 1

        status = dict(query(privacy_settings, "SELECT id, status FROM privacy_requests"))
        assert (status[orphan], status[busy]) == ("done", "running")
        assert profile_of(privacy_settings, "user_id", b.user_id) is not None
    assert service.run_pending() == 1
    assert query(privacy_settings, "SELECT status FROM privacy_requests WHERE id = %s", busy) == [
        ("done",)
    ]
    for user in (a.user_id, b.user_id):
        assert query(
            privacy_settings,
            "SELECT count(*) FROM identifiers WHERE id_value = %s",
            match(privacy_settings, "user_id", user),
        ) == [(0,)]
