"""PII masking of profile and segment API answers, for keys without the ``pii:read`` role (see `cdp.auth.pii`)."""

from __future__ import annotations

from typing import Any

from cdp.auth.pii import PiiMask

__all__ = ["redact"]


def redact(body: dict[str, Any], mask: PiiMask) -> dict[str, Any]:
    """`body` with PII masked in every part an answer can carry.

    Traits, computed traits, group traits and event context are masked by trait name, event
    properties by property name (trait name for identify and group events; `PiiMask`);
    identifier values by their type. Other fields (an event's ``name`` is the event's, not a
    person's) are left alone, which is why the masking is per part and not over the whole body.
    """
    out = dict(body)
    for key in ("traits", "computed"):
        if key in out:
            out[key] = mask.document(out[key])
    if "identifiers" in out:
        out["identifiers"] = [
            {**i, "value": mask.identifier(i["type"], i["value"])} for i in out["identifiers"]
        ]
    if "events" in out:
        out["events"] = [
            {
                **e,
                "properties": mask.event_properties(e.get("type"), e["properties"]),
                "context": mask.document(e["context"]),
            }
            for e in out["events"]
        ]
    if "groups" in out:
        out["groups"] = [{**g, "traits": mask.document(g["traits"])} for g in out["groups"]]
    if "sample" in out:
        out["sample"] = [redact(s, mask) for s in out["sample"]]
    return out
