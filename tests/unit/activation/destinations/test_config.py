"""Destination definitions: validation, secrets kept out of listings, file formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cdp.activation.destinations import (
    DestinationConfigError,
    KafkaChannel,
    WebhookChannel,
    load_destinations,
    parse_destinations,
)

WEBHOOK: dict[str, Any] = {
    "name": "crm",
    "segments": ["vip"],
    "channel": {"type": "webhook", "url": "http://127.0.0.1:9/hook", "secret": "whsec_abc"},
}


def test_defaults_and_channel_kinds() -> None:
    kafka = {"name": "k", "segments": ["a", "b"], "channel": {"type": "kafka", "topic": "out.t"}}
    crm, k = parse_destinations({"destinations": [WEBHOOK, kafka]})
    assert isinstance(crm.channel, WebhookChannel)
    assert isinstance(k.channel, KafkaChannel)
    assert crm.consent == []
    assert crm.retry.max_attempts == 8
    assert crm.rate_limit == 100


def test_secret_is_masked_in_listings_but_stored() -> None:
    (crm,) = parse_destinations(WEBHOOK)
    assert "whsec_abc" not in repr(crm)
    assert "whsec_abc" not in str(crm.public())
    assert crm.stored()["channel"]["secret"] == "whsec_abc"
    assert parse_destinations(crm.stored()) == [crm]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"name": "Bad Name"}, "name"),
        ({"segments": []}, "segments"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"retry": {"max_attempts": 0}}, "max_attempts"),
        ({"channel": {"type": "webhook", "url": "ftp://x", "secret": "s"}}, "url"),
        ({"channel": {"type": "sms"}}, "channel"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_invalid_definitions_name_the_problem(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(DestinationConfigError, match=fragment):
        parse_destinations({**WEBHOOK, **change})


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(DestinationConfigError, match="duplicate names: crm"):
        parse_destinations([WEBHOOK, WEBHOOK])


def test_yaml_and_json_files(tmp_path: Path) -> None:
    yml = tmp_path / "d.yaml"
    yml.write_text(
        "name: crm\nsegments: [vip]\nconsent: [marketing]\nchannel:\n"
        "  type: webhook\n  url: https://example.com/h\n  secret: s\n"
    )
    (crm,) = load_destinations(yml)
    assert crm.consent == ["marketing"]
    bad = tmp_path / "d.json"
    bad.write_text("{not json")
    with pytest.raises(DestinationConfigError, match="not valid"):
        load_destinations(bad)
