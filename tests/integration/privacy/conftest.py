"""Privacy fixtures on top of the real processor's: membership topic, API, a person, a scanner."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from pydantic import SecretStr

from cdp.activation import OutboxRelay
from cdp.activation.operations import apply_definitions
from cdp.activation.segments import parse_segment
from cdp.db import create_engine
from cdp.privacy.atrest import SEALED_PREFIX, PiiCodec
from cdp.settings import Settings
from tests.conftest import wait_for
from tests.integration.pii import codec_of, match
from tests.integration.profiles.conftest import (  # noqa: F401 - fixtures
    EventSender,
    RunningProcessor,
    pipeline_settings,
    processed,
    query,
    sender,
    template_database,
)
from tests.integration.profiles.test_api import ApiThread

TOKEN = "privacy-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Profile ids start here in these tests, so a profile id found anywhere is unmistakable.
FIRST_PROFILE_ID = 9_000_000_001


@pytest.fixture
def privacy_settings(
    pipeline_settings: Settings,  # noqa: F811
    topic_factory: Callable[..., str],
) -> Settings:
    """The processor's settings with this test's own membership topic; profile ids start high."""
    topics = pipeline_settings.topics.model_copy(
        update={"membership": topic_factory("membership", 3)}
    )
    with psycopg.connect(pipeline_settings.database_dsn(), autocommit=True) as conn:
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('profiles', 'id'), %s, false)",
            (FIRST_PROFILE_ID,),
        )
    return pipeline_settings.model_copy(update={"topics": topics, "api_token": SecretStr(TOKEN)})


@pytest.fixture
def cli_env(
    privacy_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.MonkeyPatch:
    """The environment under which `cdp` commands reach this test's database, with a CDP home
    of their own; the monkeypatch, to set more."""
    assert privacy_settings.database_url is not None
    monkeypatch.setenv("CDP_DATABASE_URL", privacy_settings.database_url.get_secret_value())
    monkeypatch.setenv("CDP_HOME", str(tmp_path / "home"))
    return monkeypatch


@pytest.fixture
def processor(privacy_settings: Settings) -> Iterator[RunningProcessor]:
    """The real processor, publishing memberships to this test's topic."""
    with RunningProcessor(privacy_settings) as running:
        yield running


@pytest.fixture
def api(privacy_settings: Settings) -> Iterator[httpx.Client]:
    with ApiThread(privacy_settings) as url, httpx.Client(base_url=url, headers=AUTH) as client:
        yield client


def apply_segment(settings: Settings, definition: dict[str, Any]) -> None:
    engine = create_engine(settings, pool_size=1)
    try:
        apply_definitions(settings, engine, [parse_segment(definition)])
    finally:
        engine.dispose()


def drain_outbox(settings: Settings) -> None:
    relay = OutboxRelay(settings)
    while relay.relay_once():
        pass


@dataclass
class Person:
    """What one person sent: their identifiers, a trait only they have, their messageIds."""

    user_id: str
    email: str
    phone: str
    anonymous_ids: list[str]
    marker: str
    group_id: str
    message_ids: list[str] = field(default_factory=list)

    def needles(self) -> list[str]:
        return [
            self.user_id,
            self.email,
            self.phone,
            *self.anonymous_ids,
            self.marker,
            *self.message_ids,
        ]

    def hashes(self, settings: Settings) -> list[str]:
        """The match values of the person's identifiers (their keyed hashes when encrypted)."""
        return [
            match(settings, t, v)
            for t, v in (
                ("user_id", self.user_id),
                ("email", self.email),
                ("phone", self.phone),
                *(("anonymous_id", a) for a in self.anonymous_ids),
            )
        ]


def send_person(
    sender: EventSender,  # noqa: F811
    settle: Callable[[], None],
    tag: str,
    events: int = 5,
) -> Person:
    """An anonymous visitor on two devices (applied first, so both have profiles), then sign-up
    and an alias merging them; a group, consent and `events` track calls."""
    person = Person(
        user_id=f"user-{tag}",
        email=f"{tag}.person@example.com",
        phone="+14155552671" if tag == "a" else "+14155552672",
        anonymous_ids=[f"anon-{tag}-1", f"anon-{tag}-2"],
        marker=f"Marker{tag.upper()}Quixote",
        group_id=f"acme-{tag}",
    )
    at = datetime(2026, 11, 1, 9, tzinfo=UTC)
    messages: list[dict[str, Any]] = [
        {"type": "page", "anonymousId": person.anonymous_ids[0], "name": "Home"},
        {"type": "track", "anonymousId": person.anonymous_ids[1], "event": "Viewed"},
        {
            "type": "identify",
            "userId": person.user_id,
            "anonymousId": person.anonymous_ids[0],
            "traits": {"email": person.email, "phone": person.phone, "name": person.marker},
        },
        {
            "type": "alias",
            "userId": person.user_id,
            "previousId": person.anonymous_ids[1],
        },
        {"type": "group", "userId": person.user_id, "groupId": person.group_id},
        *(
            {
                "type": "track",
                "userId": person.user_id,
                "event": "Order Completed",
                "properties": {"revenue": 10 + i},
                "context": {"consent": {"categoryPreferences": {"Advertising": True}}},
            }
            for i in range(events)
        ),
    ]
    for i, message in enumerate(messages):
        message["messageId"] = f"m-{tag}-{i}"
        message["timestamp"] = datetime.fromtimestamp(at.timestamp() + i, UTC).isoformat()
        person.message_ids.append(message["messageId"])
    sender.send(*messages[:2])
    settle()
    sender.send(*messages[2:])
    return person


#: Columns that hold keyed hashes of identifiers by design: the suppression list, the counts of
#: suppressed events, and the audit of requests (no clear value, and no key to check a guess).
HOLD_HASHES = frozenset(
    {"privacy_suppressions.id_hash", "privacy_drops.id_hash", "privacy_requests.id_hash"}
)
SEALED = re.compile(re.escape(SEALED_PREFIX) + r"[A-Za-z0-9_-]+:[A-Za-z0-9_=-]+")


def scan(
    settings: Settings, needles: list[str], ints: set[int], hashes: Sequence[str] = ()
) -> list[str]:
    """Every place in any table of the schema (partitions included) where a needle appears in
    text, JSON or bytes, in clear or encrypted (every sealed string and identifier value is
    opened and searched too), where one of `hashes` appears outside `HOLD_HASHES`, or where an
    integer in `ints` appears: ``table.column = value``."""
    found: list[str] = []
    texts = [n for n in needles if n] + [str(i) for i in ints]
    codec = codec_of(settings)
    with psycopg.connect(settings.database_dsn()) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = current_schema() AND c.relkind = 'r' ORDER BY c.relname"
            ).fetchall()
        ]
        for table in tables:
            cur = conn.execute(f'SELECT * FROM "{table}"')
            names = [c.name for c in cur.description or ()]
            for row in cur.fetchall():
                cells = dict(zip(names, row, strict=True))
                for name, value in cells.items():
                    column = f"{table}.{name}"
                    opened = _opened(codec, table, name, cells)
                    if (
                        _holds(value, texts, ints)
                        or _holds(opened, texts, set())
                        or (column not in HOLD_HASHES and _holds(value, list(hashes), set()))
                    ):
                        found.append(f"{column} = {value!r} {opened!r}"[:200])
    return found


def _opened(codec: PiiCodec, table: str, name: str, cells: dict[str, Any]) -> str | None:
    """The clear text of a cell's encrypted parts: an identifier's sealed value, or every
    sealed string in a text or JSON cell; None if it has none."""
    value = cells[name]
    if table == "identifiers" and name == "value_enc" and value is not None:
        return codec.open_identifier(
            cells["id_type"], cells["id_value"], bytes(value), cells["key_id"]
        )
    if value is None or isinstance(value, bytes | memoryview | int | float | bool):
        return None
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    sealed = SEALED.findall(text)
    return orjson.dumps([codec.open_value(s) for s in sealed]).decode() if sealed else None


def _holds(value: Any, texts: list[str], ints: set[int]) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int):
        return value in ints
    if isinstance(value, bytes | memoryview):
        data = bytes(value)
        return any(t.encode() in data for t in texts)
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return any(t in text for t in texts)


def wait_for_request(api: httpx.Client, request_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll the job until it is over; its last state."""
    state: dict[str, Any] = {}

    def over() -> bool:
        nonlocal state
        state = api.get(f"/v1/privacy/requests/{request_id}").json()
        return state.get("status") in ("done", "failed")

    wait_for(over, timeout=timeout, what=f"privacy request {request_id} to finish")
    return state


def now_ms() -> int:
    return int(time.time() * 1000)
