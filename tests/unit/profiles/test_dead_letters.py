"""`publish_dead_letters` resends what the broker did not acknowledge, cuts what the topic
refuses for its size, and never loops on a letter that cannot be sent."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from cdp.deadletter import DeadLetter
from cdp.kafka.producer import Record
from cdp.kafka.sender import Failure, Sent
from cdp.profiles.dead_letters import PAYLOAD_CUT_BYTES, RESEND_FIRST_S, publish_dead_letters
from cdp.profiles.observability import DEAD_LETTERS_LOST
from cdp.schemas import DEAD_LETTER, Codec, ManifestCatalog

#: Rounds after which a scripted sender fails the test rather than answer forever.
MAX_ROUNDS = 20

#: How a scripted sender answers one record: acknowledge it, or fail it (permanently or not).
Answer = Callable[[dict[str, object]], str]


class ScriptedSender:
    """Answers each record by `answer(decoded letter)`: "ok", "retry" or "too large"; keeps
    every round it was sent."""

    def __init__(self, codec: Codec, answer: Answer) -> None:
        self.codec = codec
        self.answer = answer
        self.rounds: list[list[dict[str, object]]] = []
        self.delivered: list[dict[str, object]] = []

    def send(self, records: Sequence[Record]) -> Sent:
        sent = Sent()
        letters = [self.codec.decode(DEAD_LETTER, r.value or b"") for r in records]
        self.rounds.append(letters)
        assert len(self.rounds) <= MAX_ROUNDS, "the same letters were sent again and again"
        for record, letter in zip(records, letters, strict=True):
            verdict = self.answer(letter)
            if verdict == "ok":
                sent.acknowledged.append(record)
                self.delivered.append(letter)
            else:
                sent.failed.append(Failure(record, verdict, permanent=verdict == "too large"))
        return sent


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(ManifestCatalog())


def letter(payload: bytes, message_id: str) -> DeadLetter:
    return DeadLetter("processor", "undecodable", "not an event", payload, message_id=message_id)


def publish(codec: Codec, sender: ScriptedSender, *letters: DeadLetter) -> list[float]:
    slept: list[float] = []
    publish_dead_letters(sender, codec, "dlq", letters, sleep=slept.append)
    return slept


def test_letters_not_acknowledged_are_sent_again_with_backoff_until_they_are(
    codec: Codec,
) -> None:
    refusals = {"b": 3}

    def answer(decoded: dict[str, object]) -> str:
        left = refusals.get(str(decoded["message_id"]), 0)
        refusals[str(decoded["message_id"])] = left - 1
        return "retry" if left > 0 else "ok"

    sender = ScriptedSender(codec, answer)
    slept = publish(codec, sender, letter(b"x", "a"), letter(b"y", "b"))
    assert [[d["message_id"] for d in r] for r in sender.rounds] == [
        ["a", "b"],
        ["b"],
        ["b"],
        ["b"],
    ]
    assert slept == [RESEND_FIRST_S, RESEND_FIRST_S * 2, RESEND_FIRST_S * 4]
    assert sorted(str(d["message_id"]) for d in sender.delivered) == ["a", "b"]


def test_a_letter_too_large_for_the_topic_is_sent_once_more_with_its_payload_cut(
    codec: Codec,
) -> None:
    big = b"z" * (PAYLOAD_CUT_BYTES * 3)
    sender = ScriptedSender(
        codec,
        lambda d: "too large" if len(d["payload"]) > PAYLOAD_CUT_BYTES else "ok",  # type: ignore[arg-type]
    )
    slept = publish(codec, sender, letter(big, "big"), letter(b"small", "small"))
    assert slept == [], "a cut letter needs no wait"
    delivered = {str(d["message_id"]): d for d in sender.delivered}
    assert delivered["small"]["payload"] == b"small"
    assert delivered["big"]["payload"] == big[:PAYLOAD_CUT_BYTES]
    assert f"payload cut from {len(big):,} to {PAYLOAD_CUT_BYTES:,} bytes" in str(
        delivered["big"]["message"]
    )
    assert delivered["big"]["reason"] == "undecodable", "stage and reason are kept"


def test_a_letter_refused_even_when_cut_is_counted_lost_and_the_rest_still_go(
    codec: Codec,
) -> None:
    before = DEAD_LETTERS_LOST._value.get()
    sender = ScriptedSender(codec, lambda d: "too large" if d["message_id"] == "bad" else "ok")
    slept = publish(codec, sender, letter(b"q" * 10, "bad"), letter(b"fine", "good"))
    assert [str(d["message_id"]) for d in sender.delivered] == ["good"]
    assert len(sender.rounds) == 1, "a small letter refused for its size is not sent again"
    assert slept == []
    assert DEAD_LETTERS_LOST._value.get() == before + 1
