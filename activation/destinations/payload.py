"""The JSON a destination receives for one membership change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["Change", "change_from_record", "render"]


@dataclass(frozen=True, slots=True)
class Change:
    """A membership change as delivery sees it (decoded from `cdp.MembershipChange`)."""

    change_id: str
    segment: str
    segment_version: int
    profile_id: int
    change: str
    at: datetime
    traits: dict[str, Any]
    identifiers: list[str]
    reason: str | None = None

    @property
    def entered(self) -> bool:
        return self.change == "entered"


def change_from_record(record: dict[str, Any]) -> Change:
    """A `Change` from a decoded Avro record; `KeyError`/`ValueError` if it is not one."""
    at = record["at"]
    if isinstance(at, int):
        at = datetime.fromtimestamp(at / 1000, UTC)
    traits = orjson.loads(record.get("traits") or "{}")
    if not isinstance(traits, dict):
        raise ValueError("traits is not a JSON object")
    return Change(
        change_id=str(record["change_id"]),
        segment=str(record["segment"]),
        segment_version=int(record["segment_version"]),
        profile_id=int(record["profile_id"]),
        change=str(record["change"]),
        at=at,
        traits=traits,
        identifiers=list(record.get("identifiers") or []),
        reason=record.get("reason"),
    )


def render(change: Change, traits: list[str] | None = None) -> bytes:
    """The request body: every field of the change, `traits` narrowed to `traits` if given."""
    kept = (
        change.traits
        if traits is None
        else {k: change.traits[k] for k in traits if k in change.traits}
    )
    return orjson.dumps(
        {
            "type": "segment_membership",
            "change_id": change.change_id,
            "segment": change.segment,
            "segment_version": change.segment_version,
            "profile_id": change.profile_id,
            "change": change.change,
            "at": change.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "traits": kept,
            "identifiers": change.identifiers,
            "reason": change.reason,
        }
    )
