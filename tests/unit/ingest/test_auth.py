from __future__ import annotations

import base64

from cdp.ingest.auth import write_key_from


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_user_name_is_the_write_key() -> None:
    assert write_key_from(basic("wk_123"), {}) == "wk_123"
    assert write_key_from(basic("wk_123", "ignored"), {}) == "wk_123"


def test_body_write_key_when_no_header() -> None:
    assert write_key_from(None, {"writeKey": "wk_body"}) == "wk_body"


def test_header_wins_over_body() -> None:
    assert write_key_from(basic("wk_header"), {"writeKey": "wk_body"}) == "wk_header"


def test_nothing_usable() -> None:
    assert write_key_from(None, {}) is None
    assert write_key_from("Bearer x", {"writeKey": 5}) is None
    assert write_key_from("Basic !!!notbase64", {}) is None
    assert write_key_from(basic(""), {}) is None
