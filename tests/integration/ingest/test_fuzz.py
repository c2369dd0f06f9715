"""Fuzzing the collector over real HTTP: any body, header or message answers without a 5xx or a hang.

The collector runs with its real Kafka producer and Postgres source lookup; anything it accepts
really goes to this test's raw topic.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdp.ingest.app import ingest_routes
from tests.integration.conftest import RunningCollector

pytestmark = pytest.mark.integration

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PATHS = sorted(ingest_routes())
INJECTIONS = ["' OR 1=1 --", "1; DROP TABLE sources; --", "\x00", "a\x00b", "$1", "%s", "🙂" * 40]
texts = st.text(max_size=40) | st.sampled_from(INJECTIONS)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(texts, inner, max_size=5),
    max_leaves=30,
)
messages = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias"]) | texts,
        "userId": json_scalars,
        "anonymousId": json_scalars,
        "event": json_scalars,
        "messageId": json_scalars,
        "timestamp": json_scalars,
        "traits": st.dictionaries(texts, json_values, max_size=6),
        "properties": json_values,
        "context": st.dictionaries(texts, json_values, max_size=4),
        "groupId": json_scalars,
        "previousId": json_scalars,
    },
)


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def post(
    collector: RunningCollector, path: str, body: bytes, headers: dict[str, str]
) -> httpx.Response:
    started = time.monotonic()
    response = httpx.post(
        collector.url + path,
        content=body,
        headers={"content-type": "application/json", **headers},
        timeout=15,
    )
    assert time.monotonic() - started < 15
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response


@FUZZ
@given(path=st.sampled_from(PATHS), body=json_values)
def test_any_json_body_is_answered_without_server_error(
    collector: RunningCollector, write_key: str, path: str, body: Any
) -> None:
    post(collector, path, json.dumps(body).encode(), basic(write_key))


@FUZZ
@given(path=st.sampled_from(PATHS), message=messages, batched=st.booleans())
def test_any_segment_like_message_is_answered_without_server_error(
    collector: RunningCollector, write_key: str, path: str, message: dict[str, Any], batched: bool
) -> None:
    body = {"batch": [message, message]} if batched else message
    response = post(collector, path, json.dumps(body).encode(), basic(write_key))
    assert response.status_code in (200, 400), response.text


@FUZZ
@given(body=st.binary(max_size=2000), gzipped=st.booleans(), claims_gzip=st.booleans())
def test_any_bytes_are_answered_without_server_error(
    collector: RunningCollector, write_key: str, body: bytes, gzipped: bool, claims_gzip: bool
) -> None:
    headers = basic(write_key)
    if claims_gzip:
        headers["content-encoding"] = "gzip"
    post(collector, "/v1/batch", gzip.compress(body) if gzipped else body, headers)


#: What HTTP allows in a header value (visible ASCII and inner spaces); anything else is refused
#: by the HTTP layer (or the client) before the collector sees it.
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80).map(
    str.strip
)


@FUZZ
@given(
    authorization=header_text
    | st.binary(min_size=1, max_size=60).map(lambda b: "Basic " + base64.b64encode(b).decode())
    | header_text.map(lambda t: ("Basic " + t).strip())
)
def test_any_authorization_is_answered_without_server_error(
    collector: RunningCollector, authorization: str
) -> None:
    body = json.dumps({"type": "track", "userId": "u", "event": "e"}).encode()
    response = post(collector, "/v1/track", body, {"Authorization": authorization})
    assert response.status_code in (400, 401), response.text


DEPTH = 100_000


@pytest.mark.parametrize(
    "body",
    [
        b"[" * DEPTH + b"]" * DEPTH,
        b'{"batch":' + b"[" * DEPTH + b"]" * DEPTH + b"}",
        b'{"type":"track","userId":"u","event":"e","properties":'
        + b'{"a":' * DEPTH
        + b"1"
        + b"}" * DEPTH
        + b"}",
        b'{"batch":[' + b",".join([b'{"type":"track","userId":"u","event":"e"}'] * 300_000) + b"]}",
        b'{"type":"track","userId":"' + b"x" * (20 * 1024 * 1024) + b'"}',
    ],
    ids=["deep-array", "deep-batch", "deep-properties", "huge-batch", "huge-string"],
)
@pytest.mark.parametrize("path", ["/v1/track", "/v1/batch"])
def test_deep_or_huge_bodies_are_refused_quickly(
    collector: RunningCollector, write_key: str, body: bytes, path: str
) -> None:
    response = post(collector, path, body, basic(write_key))
    assert 400 <= response.status_code < 500, response.text
