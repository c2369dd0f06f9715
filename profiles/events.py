"""Raw-topic records decoded into what the processor folds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from cdp.identity import Identifier
from cdp.privacy.names import TRAIT_PAYLOADS

__all__ = ["Candidate", "InEvent", "to_in_event"]

#: What configured computed traits make of one event (`cdp.profiles.computed.maintain`): the
#: names of the traits that may count it and its row of their batch statement after the profile
#: id; None when none may count it.
Candidate = tuple[tuple[str, ...], str] | None


@dataclass(slots=True)
class InEvent:
    """One event of the raw topic with its JSON parts parsed, and where it came from."""

    partition: int
    offset: int
    message_id: str
    type: str
    source_id: str
    user_id: str | None
    anonymous_id: str | None
    event: str | None
    name: str | None
    group_id: str | None
    previous_id: str | None
    at: int
    received_at: int
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]
    properties_json: str
    context_json: str
    raw: bytes = b""
    identifiers: list[Identifier] | None = None
    """The event's identifiers as matched and stored (`PiiCodec.match`), once
    `BatchApplier.prepare` has extracted them."""
    plain_identifiers: list[Identifier] | None = None
    """The same identifiers in clear, in the same order (what a new identifier row seals)."""
    timeline: str | None = None
    """Its timeline row as COPY text after the profile id, once `BatchApplier.prepare` made it."""
    traits_json: str = "{}"
    """`traits` as the record held them, for sealing them in another process."""
    trait_candidate: tuple[object, Candidate] | None = None
    """What `ComputedTraits.prepare` found for the event, with the definitions list it used."""
    deferrals: int = 0
    """How many batches deferred it because another transaction held one of its identity
    locks (`cdp.profiles.contention`)."""

    def as_identity_input(self) -> dict[str, Any]:
        """The shape `cdp.identity.extract_identifiers` reads."""
        return {
            "type": self.type,
            "user_id": self.user_id,
            "anonymous_id": self.anonymous_id,
            "previous_id": self.previous_id,
            "traits": self.traits,
            "context": self.context,
            "properties": self.properties,
        }

    def payload(self) -> dict[str, Any]:
        """What the timeline's `properties` column holds for this event: an identify or group
        call's traits, any other event's properties."""
        return self.traits if self.type in TRAIT_PAYLOADS else self.properties

    def payload_json(self) -> str:
        """`payload()` as the timeline stores it in clear (and computed traits read it)."""
        if self.type in TRAIT_PAYLOADS:
            return orjson.dumps(self.traits).decode()
        return self.properties_json

    def fold_input(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "event": self.event,
            "properties": self.properties,
            "context": self.context,
        }

    def incoming_traits(self) -> dict[str, Any]:
        """User traits this event sets: `context.traits`, under an identify call's own `traits`.

        A group call's own `traits` describe the group (account), not the user.
        """
        context_traits = self.context.get("traits")
        user_traits = dict(context_traits) if isinstance(context_traits, dict) else {}
        if self.type == "identify":
            user_traits.update(self.traits)
        return user_traits


def _millis(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


def _object(text: str) -> dict[str, Any]:
    value = orjson.loads(text) if text and text != "{}" else {}
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def to_in_event(record: dict[str, Any], partition: int, offset: int, raw: bytes = b"") -> InEvent:
    """Build an `InEvent` from a decoded `cdp.Event`; raises ValueError/KeyError on a malformed one."""
    return InEvent(
        partition=partition,
        offset=offset,
        message_id=record["message_id"],
        type=record["type"],
        source_id=record["source_id"],
        user_id=record.get("user_id"),
        anonymous_id=record.get("anonymous_id"),
        event=record.get("event"),
        name=record.get("name"),
        group_id=record.get("group_id"),
        previous_id=record.get("previous_id"),
        at=_millis(record["timestamp"]),
        received_at=_millis(record["received_at"]),
        properties=_object(record.get("properties", "{}")),
        traits=_object(record.get("traits", "{}")),
        context=_object(record.get("context", "{}")),
        properties_json=record.get("properties", "{}"),
        context_json=record.get("context", "{}"),
        raw=raw,
        traits_json=record.get("traits") or "{}",
    )
