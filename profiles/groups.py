"""Groups (accounts) from `group` calls: their traits by event time and their member profiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orjson import loads
from psycopg import Connection

from cdp.profiles.fold import fold_traits
from cdp.profiles.pii import PiiWriter
from cdp.profiles.store import dt, jsonb

__all__ = ["GroupCalls", "write_groups"]


@dataclass
class GroupCalls:
    """The group calls of one batch: traits per group, and (group, profile) → first/last seen."""

    traits: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    members: dict[tuple[str, int], tuple[int, int]] = field(default_factory=dict)

    def add(self, group_id: str, profile_id: int, at: int, traits: dict[str, Any]) -> None:
        if traits:
            self.traits.setdefault(group_id, []).append((at, traits))
        first, last = self.members.get((group_id, profile_id), (at, at))
        self.members[(group_id, profile_id)] = (min(first, at), max(last, at))


def write_groups(
    conn: Connection[Any], calls: GroupCalls, final_id: Any, pii: PiiWriter | None = None
) -> None:
    """Upsert group traits (locked rows, folded by event time; PII-named ones sealed by `pii`)
    and memberships."""
    names = sorted(calls.traits)
    with conn.cursor() as cur:
        if names:
            cur.execute(
                "INSERT INTO groups (group_id) SELECT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                (names,),
            )
            rows = cur.execute(
                "SELECT group_id, traits::text, trait_times FROM groups WHERE group_id = ANY(%s) ORDER BY group_id FOR UPDATE",
                (names,),
            ).fetchall()
            sealing = pii is not None and pii.enabled
            updates = []
            for group_id, text, times in rows:
                traits, stored = pii.open_traits(text) if pii is not None else (loads(text), None)
                for at, incoming in calls.traits[group_id]:
                    fold_traits(traits, times, incoming, at)
                if sealing and pii is not None:
                    traits = pii.seal_traits(traits, stored)
                updates.append((jsonb(traits), jsonb(times), group_id))
            cur.executemany(
                "UPDATE groups SET traits = %s, trait_times = %s, updated_at = now() WHERE group_id = %s",
                updates,
            )
        members: dict[tuple[str, int], tuple[int, int]] = {}
        for (group_id, profile_id), (first, last) in calls.members.items():
            key = (group_id, final_id(profile_id))
            old_first, old_last = members.get(key, (first, last))
            members[key] = (min(first, old_first), max(last, old_last))
        if members:
            cur.executemany(
                "INSERT INTO group_members (group_id, profile_id, first_seen, last_seen) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (group_id, profile_id) DO UPDATE SET "
                "first_seen = LEAST(group_members.first_seen, EXCLUDED.first_seen), "
                "last_seen = GREATEST(group_members.last_seen, EXCLUDED.last_seen)",
                [(g, p, dt(f), dt(lst)) for (g, p), (f, lst) in sorted(members.items())],
            )
