"""A canonical, id-free picture of the profile store, to compare runs with each other."""

from __future__ import annotations

from typing import Any

from cdp.privacy.keystate import pii_codec
from cdp.settings import Settings
from tests.integration.profiles.conftest import query


def differences(
    a: dict[frozenset[str], dict[str, Any]], b: dict[frozenset[str], dict[str, Any]]
) -> list[str]:
    """What differs between two snapshots, one line per profile and field."""
    out = [f"only in first: {sorted(k)}" for k in a.keys() - b.keys()]
    out += [f"only in second: {sorted(k)}" for k in b.keys() - a.keys()]
    for key in a.keys() & b.keys():
        for field in ("traits", "computed", "timeline"):
            if a[key][field] != b[key][field]:
                out.append(f"{sorted(key)} {field}: {a[key][field]} != {b[key][field]}")
    return out


def snapshot(settings: Settings) -> dict[frozenset[str], dict[str, Any]]:
    """Each live profile keyed by the set of its identifiers, with its traits, counts and timeline size."""
    codec = pii_codec(settings)  # sealed values differ by their nonce: compare them opened
    idents: dict[int, set[str]] = {}
    for t, v, p in query(settings, "SELECT id_type, id_value, profile_id FROM identifiers"):
        idents.setdefault(p, set()).add(f"{t}:{v}")
    timeline = dict(query(settings, "SELECT profile_id, count(*) FROM events GROUP BY profile_id"))
    out: dict[frozenset[str], dict[str, Any]] = {}
    for pid, traits, computed in query(
        settings, "SELECT id, traits, computed FROM profiles WHERE merged_into IS NULL"
    ):
        counted = {
            k: computed.get(k)
            for k in (
                "event_count",
                "events",
                "page_views",
                "total_revenue",
                "order_count",
                "first_seen",
                "last_seen",
            )
        }
        out[frozenset(idents.get(pid, set()))] = {
            "traits": codec.open_document(traits),
            "computed": counted,
            "timeline": timeline.get(pid, 0),
        }
    return out
