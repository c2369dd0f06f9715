"""What the relay publishes for outbox rows: each row to its topic, a fanned-out row to its
fanout topic right after (its value, or a tombstone)."""

from __future__ import annotations

from cdp.activation.relay import publications


def test_a_row_without_fanout_is_one_record() -> None:
    rows = [(1, "cdp.profiles.changes", b"7", b"v", None, False)]
    assert list(publications(rows)) == [("cdp.profiles.changes", b"7", b"v")]


def test_an_entry_goes_to_both_topics_and_an_exit_leaves_a_tombstone() -> None:
    rows = [
        (1, "cdp.segments.membership", b"7", b"in", "cdp.segment.gold", False),
        (2, "cdp.segments.membership", b"8", b"in", "cdp.segment.gold", False),
        (3, "cdp.segments.membership", b"7", b"out", "cdp.segment.gold", True),
    ]
    assert list(publications(rows)) == [
        ("cdp.segments.membership", b"7", b"in"),
        ("cdp.segment.gold", b"7", b"in"),
        ("cdp.segments.membership", b"8", b"in"),
        ("cdp.segment.gold", b"8", b"in"),
        ("cdp.segments.membership", b"7", b"out"),
        ("cdp.segment.gold", b"7", None),
    ]
