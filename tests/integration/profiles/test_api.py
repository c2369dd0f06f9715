"""The profile read API over real HTTP, and `cdp profile show`, on rows seeded straight into Postgres."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
import sqlalchemy as sa
import uvicorn
from pydantic import SecretStr
from sqlalchemy.engine import Connection, Engine
from typer.testing import CliRunner

from cdp.cli import app as cli
from cdp.embedded import free_port
from cdp.identity import normalize_phone
from cdp.profiles.api_service import api_uvicorn_config
from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.pii import identifier_row, seal

pytestmark = pytest.mark.integration

TOKEN = "test-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
EVENT_COUNT = 7


@dataclass
class Seeded:
    """One person's profile (`survivor`) with two profiles merged into it, and its rows."""

    survivor: int
    merged: int
    oldest_merged: int
    user_id: str
    email: str
    phone: str
    anonymous_id: str
    group_id: str
    message_ids: list[str]


class ApiThread:
    """A real profile API (uvicorn, real sockets) served from a thread of the test process."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(api_uvicorn_config(settings, port=self.port))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=30, what="the profile API to start")
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture(scope="module")
def api(base_settings: Settings) -> Iterator[str]:
    settings = base_settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    with ApiThread(settings) as url:
        yield url


def unique_phone() -> str:
    """A valid US number in E.164 that no other test is likely to use."""
    while True:
        found = normalize_phone(
            f"+1 212 {random.randint(200, 999)} {random.randint(0, 9999):04d}", "US"
        )
        if found is not None:
            return found


def new_profile(
    conn: Connection, traits: dict[str, Any], computed: dict[str, Any], created: datetime
) -> int:
    """A profile row; `traits` as stored (seal PII ones first, see `tests.integration.pii`)."""
    return int(
        conn.execute(
            sa.text(
                "INSERT INTO profiles (traits, trait_times, computed, merge_count, created_at, updated_at) "
                "VALUES (CAST(:traits AS jsonb), '{}', CAST(:computed AS jsonb), 0, :created, :created) RETURNING id"
            ),
            {
                "traits": orjson.dumps(traits).decode(),
                "computed": orjson.dumps(computed).decode(),
                "created": created,
            },
        ).scalar_one()
    )


IDENTIFIERS = sa.text(
    "INSERT INTO identifiers (id_type, id_value, value_enc, key_id, profile_id, first_seen, "
    "last_seen) VALUES (:id_type, :id_value, :value_enc, :key_id, :profile_id, :first_seen, "
    ":last_seen)"
)


@pytest.fixture
def seeded(base_settings: Settings, engine: Engine) -> Seeded:
    """A person as the processor stores them: identifiers hashed and sealed, PII traits and
    timeline properties sealed."""
    tag = uuid.uuid4().hex[:10]
    first_seen_ms = int(T0.timestamp() * 1000)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE IF NOT EXISTS events_2026_11 PARTITION OF events "
                "FOR VALUES FROM ('2026-11-01 00:00+00') TO ('2026-12-01 00:00+00')"
            )
        )
        survivor = new_profile(
            conn,
            seal(base_settings, {"name": "Jane", "plan": "pro"}),
            {"first_seen": first_seen_ms, "event_count": EVENT_COUNT},
            T0 - timedelta(days=3),
        )
        merged = new_profile(conn, {"plan": "free"}, {}, T0 - timedelta(days=2))
        oldest_merged = new_profile(conn, {}, {}, T0 - timedelta(days=1))
        conn.execute(
            sa.text("UPDATE profiles SET merged_into = :into WHERE id = :id"),
            [{"id": oldest_merged, "into": merged}, {"id": merged, "into": survivor}],
        )
        conn.execute(
            sa.text("UPDATE profiles SET merge_count = 2 WHERE id = :id"), {"id": survivor}
        )
        conn.execute(
            sa.text(
                "INSERT INTO merges (from_profile, into_profile, reason, message_id, merged_at) "
                "VALUES (:src, :dst, :reason, :mid, :at)"
            ),
            [
                {
                    "src": oldest_merged,
                    "dst": merged,
                    "reason": "alias",
                    "mid": f"alias-{tag}",
                    "at": T0,
                },
                {
                    "src": merged,
                    "dst": survivor,
                    "reason": "shared email",
                    "mid": f"ident-{tag}",
                    "at": T0 + timedelta(hours=1),
                },
            ],
        )
        ids = {
            "user_id": f"User-{tag}",
            "email": f"jane.{tag}@example.com",
            "phone": unique_phone(),
            "anonymous_id": f"anon-{tag}",
        }
        conn.execute(
            IDENTIFIERS,
            [identifier_row(base_settings, t, v, survivor, T0) for t, v in ids.items()],
        )
        group_id = f"acme-{tag}"
        conn.execute(
            sa.text(
                "INSERT INTO groups (group_id, traits, trait_times) VALUES (:g, CAST(:t AS jsonb), '{}')"
            ),
            {"g": group_id, "t": orjson.dumps(seal(base_settings, {"name": "Acme"})).decode()},
        )
        conn.execute(
            sa.text(
                "INSERT INTO group_members (group_id, profile_id, first_seen, last_seen) VALUES (:g, :p, :at, :at)"
            ),
            {"g": group_id, "p": survivor, "at": T0},
        )
        message_ids = [f"m{i}-{tag}" for i in range(EVENT_COUNT)]
        # The last three share one timestamp, so paging must break ties by message id.
        times = [T0 + timedelta(minutes=min(i, EVENT_COUNT - 3)) for i in range(EVENT_COUNT)]
        conn.execute(
            sa.text(
                "INSERT INTO events (profile_id, message_id, type, name, event_time, received_at, properties, context) "
                "VALUES (:p, :mid, 'track', :name, :at, :at, CAST(:props AS jsonb), '{}')"
            ),
            [
                {
                    "p": survivor,
                    "mid": mid,
                    "name": f"Event {i}",
                    "at": at,
                    "props": orjson.dumps(
                        seal(base_settings, {"n": i, "email": ids["email"]})
                    ).decode(),
                }
                for i, (mid, at) in enumerate(zip(message_ids, times, strict=True))
            ],
        )
    return Seeded(
        survivor,
        merged,
        oldest_merged,
        ids["user_id"],
        ids["email"],
        ids["phone"],
        ids["anonymous_id"],
        group_id,
        message_ids,
    )


def get(
    api: str, path: str, headers: dict[str, str] | None = AUTH, **params: Any
) -> httpx.Response:
    return httpx.get(f"{api}{path}", headers=headers, params=params or None, timeout=10)


def newest_first(seeded: Seeded) -> list[str]:
    """The seeded message ids in the API's order: time descending, then message id descending."""
    times = {mid: min(i, EVENT_COUNT - 3) for i, mid in enumerate(seeded.message_ids)}
    return sorted(seeded.message_ids, key=lambda mid: (times[mid], mid), reverse=True)


def test_lookup_by_user_id_returns_the_whole_summary(api: str, seeded: Seeded) -> None:
    r = get(api, f"/v1/profiles/user_id:{seeded.user_id}")

    assert r.status_code == 200, r.text
    body = r.json()
    assert body["profile_id"] == str(seeded.survivor)
    assert body["traits"] == {"name": "Jane", "plan": "pro"}
    assert body["computed"]["event_count"] == EVENT_COUNT
    assert body["computed"]["first_seen"] == T0.isoformat(), "epoch ms shown as ISO 8601"
    assert body["merge_count"] == 2
    assert {(i["type"], i["value"]) for i in body["identifiers"]} == {
        ("user_id", seeded.user_id),
        ("email", seeded.email),
        ("phone", seeded.phone),
        ("anonymous_id", seeded.anonymous_id),
    }


def test_user_id_keeps_its_case(api: str, seeded: Seeded) -> None:
    assert get(api, f"/v1/profiles/user_id:{seeded.user_id.lower()}").status_code == 404


def test_lookup_by_email_in_any_case_with_spaces(api: str, seeded: Seeded) -> None:
    typed = quote(f"  {seeded.email.upper()} ", safe="@")

    r = get(api, f"/v1/profiles/email:{typed}")

    assert r.status_code == 200, r.text
    assert r.json()["profile_id"] == str(seeded.survivor)


def test_lookup_by_phone_in_national_notation(api: str, seeded: Seeded) -> None:
    national = f"({seeded.phone[2:5]}) {seeded.phone[5:8]}-{seeded.phone[8:]}"

    r = get(api, f"/v1/profiles/phone:{quote(national)}")

    assert r.status_code == 200, r.text
    assert r.json()["profile_id"] == str(seeded.survivor)
    assert get(api, f"/v1/profiles/phone:{quote(seeded.phone)}").json()["profile_id"] == str(
        seeded.survivor
    )


def test_lookup_by_profile_id_follows_merges_to_the_survivor(api: str, seeded: Seeded) -> None:
    for profile_id in (seeded.survivor, seeded.merged, seeded.oldest_merged):
        r = get(api, f"/v1/profiles/profile_id:{profile_id}")
        assert r.status_code == 200, r.text
        assert r.json()["profile_id"] == str(seeded.survivor)


def test_value_may_contain_colons_and_slashes(
    api: str, base_settings: Settings, engine: Engine, seeded: Seeded
) -> None:
    odd = f"auth0|{uuid.uuid4().hex}:x/y"
    with engine.begin() as conn:
        conn.execute(IDENTIFIERS, identifier_row(base_settings, "crm_id", odd, seeded.survivor, T0))

    r = get(api, f"/v1/profiles/crm_id:{quote(odd, safe='')}/traits")

    assert r.status_code == 200, r.text
    assert r.json()["profile_id"] == str(seeded.survivor)


@pytest.mark.parametrize(
    "ref",
    [
        f"email:nobody-{uuid.uuid4().hex}@example.com",
        f"user_id:nobody-{uuid.uuid4().hex}",
        "profile_id:999999999999",
        "profile_id:99999999999999999999999",
        "profile_id:not-a-number",
        "email:not-an-email",
        f"no_such_type:{uuid.uuid4().hex}",
    ],
)
def test_unknown_identifier_is_404_json(api: str, ref: str) -> None:
    for suffix in ("", "/traits", "/events", "/identifiers", "/merges", "/groups"):
        r = get(api, f"/v1/profiles/{quote(ref, safe=':@')}{suffix}")
        assert r.status_code == 404, (suffix, r.text)
        assert r.json()["code"] == "not_found"
        assert r.json()["message"]


@pytest.mark.parametrize("ref", ["jane", ":jane", "email:", "email:%20"])
def test_malformed_reference_is_400(api: str, ref: str) -> None:
    r = get(api, f"/v1/profiles/{ref}")

    assert r.status_code == 400
    assert r.json()["code"] == "invalid_reference"


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ],
)
def test_missing_or_wrong_token_is_401(
    api: str, seeded: Seeded, headers: dict[str, str] | None
) -> None:
    r = get(api, f"/v1/profiles/user_id:{seeded.user_id}", headers=headers)

    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["code"] == "unauthorized"
    assert seeded.user_id not in r.text


def test_unknown_identifier_without_token_is_401_not_404(api: str) -> None:
    assert get(api, "/v1/profiles/user_id:nobody", headers=None).status_code == 401


def test_traits(api: str, seeded: Seeded) -> None:
    r = get(api, f"/v1/profiles/email:{seeded.email}/traits")

    assert r.status_code == 200
    assert r.json() == {
        "profile_id": str(seeded.survivor),
        "traits": {"name": "Jane", "plan": "pro"},
        "computed": {"first_seen": T0.isoformat(), "event_count": EVENT_COUNT},
    }


def test_identifiers(api: str, seeded: Seeded) -> None:
    body = get(api, f"/v1/profiles/profile_id:{seeded.merged}/identifiers").json()

    assert body["profile_id"] == str(seeded.survivor)
    assert [(i["type"], i["value"]) for i in body["identifiers"]] == sorted(
        [
            ("anonymous_id", seeded.anonymous_id),
            ("email", seeded.email),
            ("phone", seeded.phone),
            ("user_id", seeded.user_id),
        ]
    )
    assert all(i["first_seen"] == T0.isoformat() for i in body["identifiers"])


def test_merges_include_earlier_merges_of_merged_profiles(api: str, seeded: Seeded) -> None:
    body = get(api, f"/v1/profiles/user_id:{seeded.user_id}/merges").json()

    assert [(m["from_profile"], m["into_profile"], m["reason"]) for m in body["merges"]] == [
        (str(seeded.oldest_merged), str(seeded.merged), "alias"),
        (str(seeded.merged), str(seeded.survivor), "shared email"),
    ]
    assert body["merges"][1]["merged_at"] == (T0 + timedelta(hours=1)).isoformat()


def test_groups(api: str, seeded: Seeded) -> None:
    body = get(api, f"/v1/profiles/user_id:{seeded.user_id}/groups").json()

    assert body == {
        "profile_id": str(seeded.survivor),
        "groups": [
            {
                "group_id": seeded.group_id,
                "traits": {"name": "Acme"},
                "first_seen": T0.isoformat(),
                "last_seen": T0.isoformat(),
            }
        ],
    }


def test_events_newest_first(api: str, seeded: Seeded) -> None:
    body = get(api, f"/v1/profiles/user_id:{seeded.user_id}/events").json()

    assert [e["message_id"] for e in body["events"]] == newest_first(seeded)
    assert body["next_cursor"] is None
    latest = body["events"][0]
    assert latest["type"] == "track"
    assert latest["timestamp"] == (T0 + timedelta(minutes=EVENT_COUNT - 3)).isoformat()
    n = seeded.message_ids.index(latest["message_id"])
    assert latest["properties"] == {"n": n, "email": seeded.email}, "sealed values are opened"


@pytest.mark.parametrize("page_size", [1, 2, 3, EVENT_COUNT])
def test_events_pages_return_each_event_exactly_once(
    api: str, seeded: Seeded, page_size: int
) -> None:
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": page_size}
        if cursor is not None:
            params["cursor"] = cursor
        r = get(api, f"/v1/profiles/user_id:{seeded.user_id}/events", **params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["events"]) <= page_size
        seen += [e["message_id"] for e in body["events"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages <= EVENT_COUNT, "paging does not end"

    assert seen == newest_first(seeded)
    assert pages == -(-EVENT_COUNT // page_size)


@pytest.mark.parametrize("limit", ["0", "501", "-1", "ten", "1.5", ""])
def test_invalid_limit_is_400(api: str, seeded: Seeded, limit: str) -> None:
    r = get(api, f"/v1/profiles/user_id:{seeded.user_id}/events", limit=limit)

    assert r.status_code == 400
    assert r.json()["code"] == "invalid_limit"


@pytest.mark.parametrize(
    "cursor", ["garbage!", "bm90IGpzb24", "WyJub3QgYSB0aW1lIiwgIm0iXQ", "WzEsIDJd"]
)
def test_invalid_cursor_is_400(api: str, seeded: Seeded, cursor: str) -> None:
    r = get(api, f"/v1/profiles/user_id:{seeded.user_id}/events", cursor=cursor)

    assert r.status_code == 400
    assert r.json()["code"] == "invalid_cursor"


def test_framework_errors_are_json_with_a_code(api: str) -> None:
    missing = httpx.get(f"{api}/nowhere", timeout=10)
    wrong_method = httpx.post(f"{api}/v1/profiles/user_id:x", headers=AUTH, timeout=10)

    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == "method_not_allowed"
    assert wrong_method.json()["message"]


def test_health_readiness_and_metrics_need_no_token(api: str, seeded: Seeded) -> None:
    get(api, f"/v1/profiles/user_id:{seeded.user_id}")

    assert get(api, "/healthz", headers=None).json() == {"status": "ok"}
    ready = get(api, "/readyz", headers=None)
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "checks": {"postgres": True}}
    metrics = get(api, "/metrics", headers=None)
    assert metrics.status_code == 200
    assert 'cdp_api_requests_total{route="/v1/profiles/{ref:path}",status="200"}' in metrics.text


def test_cli_profile_show(
    base_settings: Settings, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert base_settings.database_url is not None
    monkeypatch.setenv("CDP_DATABASE_URL", base_settings.database_url.get_secret_value())
    monkeypatch.setenv("CDP_HOME", str(base_settings.home))
    monkeypatch.setenv("COLUMNS", "250")
    runner = CliRunner()

    shown = runner.invoke(
        cli,
        ["profile", "show", f"email:{seeded.email.upper()}", "--events", "2"],
        terminal_width=250,
    )

    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert f"profile {seeded.survivor}" in out
    for expected in (
        "Jane",
        "event_count",
        seeded.user_id,
        seeded.phone,
        seeded.group_id,
        "shared email",
        "alias",
    ):
        assert expected in out, expected
    latest = newest_first(seeded)
    assert latest[0] in out
    assert latest[1] in out
    assert latest[2] not in out, "--events 2 shows the two most recent only"

    as_json = runner.invoke(
        cli, ["profile", "show", f"profile_id:{seeded.merged}", "--json", "--events", "50"]
    )
    assert as_json.exit_code == 0, as_json.output
    body = orjson.loads(as_json.stdout)
    assert body["profile_id"] == str(seeded.survivor)
    assert [e["message_id"] for e in body["events"]] == newest_first(seeded)
    assert len(body["merges"]) == 2

    unknown = runner.invoke(
        cli, ["profile", "show", f"email:nobody-{uuid.uuid4().hex}@example.com"]
    )
    assert unknown.exit_code == 2
    assert "no profile has email:nobody-" in unknown.output

    malformed = runner.invoke(cli, ["profile", "show", "jane"])
    assert malformed.exit_code == 2
    assert "type:value" in malformed.output


def test_postgres_down_is_503_with_retry_after(base_settings: Settings) -> None:
    closed = f"postgresql://cdp@127.0.0.1:{free_port()}/cdp"
    settings = base_settings.model_copy(
        update={"api_token": SecretStr(TOKEN), "database_url": SecretStr(closed)}
    )
    with ApiThread(settings) as url:
        ready = get(url, "/readyz", headers=None)
        lookup = get(url, "/v1/profiles/user_id:jane")

    assert ready.status_code == 503
    assert ready.json() == {"ready": False, "checks": {"postgres": False}}
    assert lookup.status_code == 503
    assert lookup.json()["code"] == "unavailable"
    assert lookup.headers["retry-after"]
