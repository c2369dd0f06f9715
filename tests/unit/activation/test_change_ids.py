"""Change ids of the outbox: random version-4 UUIDs, as `str(uuid.uuid4())` writes them."""

from __future__ import annotations

import uuid

from cdp.activation.membership import change_ids


def test_change_ids_are_distinct_version_4_uuids_in_canonical_text() -> None:
    ids = change_ids(5000)
    assert len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_every_variant_digit_occurs() -> None:
    assert {text[19] for text in change_ids(2000)} == set("89ab")
    assert change_ids(0) == []
