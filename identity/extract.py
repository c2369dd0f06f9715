"""Reading an event's identifiers: which fields count, in which order, after normalisation.

The event is a decoded `cdp.Event` record with its JSON parts (`traits`, `context`,
`properties`) already parsed into dicts; only `type`, `user_id`, `anonymous_id`,
`previous_id`, `traits`, `context` and `properties` are read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cdp.identity.model import Identifier
from cdp.identity.normalize import normalize_email, normalize_phone, normalize_text
from cdp.identity.rules import IdentityRules

__all__ = ["extract_identifiers", "lookup_path", "normalize_identifier", "sort_key"]


def sort_key(rules: IdentityRules) -> Callable[[Identifier], tuple[int, str, str]]:
    """The order identifiers are handled in: highest priority first, then type, then value."""

    priorities = rules.priorities
    default = rules.default_priority

    def key(identifier: Identifier) -> tuple[int, str, str]:
        id_type, value = identifier
        return (priorities.get(id_type, default), id_type, value)  # rules.priority, inlined

    return key


#: Normalised forms of text values seen lately, keyed by (type, raw text, phone region): the
#: same ids recur in event after event, and parsing a phone number costs about 200 µs here.
#: Cleared when full, so it never holds more than this many entries (about 10 MB).
CACHE_SIZE = 50_000
_normalized: dict[tuple[str, str, str], Identifier | None] = {}


def normalize_identifier(id_type: str, raw: object, rules: IdentityRules) -> Identifier | None:
    """`raw` as an identifier of `id_type` in its matching form, or None if it is not one.

    Emails are trimmed and lower-cased, phones become E.164 (read in `rules.phone_region`),
    every other type is trimmed text with its case kept. Junk values are never identifiers.
    """
    if type(raw) is not str:
        return _normalize(id_type, raw, rules)
    key = (id_type, raw, rules.phone_region)
    try:
        return _normalized[key]
    except KeyError:
        pass
    if len(_normalized) >= CACHE_SIZE:
        _normalized.clear()
    found = _normalized[key] = _normalize(id_type, raw, rules)
    return found


def _normalize(id_type: str, raw: object, rules: IdentityRules) -> Identifier | None:
    if id_type == "email":
        value = normalize_email(raw)
    elif id_type == "phone":
        value = normalize_phone(raw, rules.phone_region)
    else:
        value = normalize_text(raw)
    return None if value is None else Identifier(id_type, value)


def extract_identifiers(event: Mapping[str, Any], rules: IdentityRules) -> list[Identifier]:
    """The event's identifiers, normalised, without junk or duplicates, highest priority first.

    - ``user_id`` and ``anonymous_id`` from the fields of the same names.
    - For an ``alias`` event, ``previous_id`` as an **anonymous_id**. An alias says "the one
      who was `previous_id` is `user_id`"; the previous id is almost always the anonymous id
      of the visitor before sign-up, so reading it as one lets the resolver merge that visitor's
      profile into the user's. When the previous id was an earlier *user* id, no merge happens
      with the profile holding it as a user_id: two user ids never share a profile (the user_id
      limit), so treating it as a user_id could not merge either; it only gets remembered.
    - ``email`` and ``phone`` from the user's traits: the event's ``traits`` (identify), else
      ``context.traits`` (how track, page and screen calls carry them). A ``group`` event's own
      ``traits`` describe the group, not the user, so there only ``context.traits`` count.
      The first source that holds a valid value wins; ``properties`` are never read.
    - Each custom type from its path in ``rules.custom_paths`` (see `lookup_path`).

    Values must be strings or numbers (numbers become text); objects, lists and booleans are
    ignored, and so is a value that normalises to nothing.
    """
    found: set[Identifier] = set()

    def add(id_type: str, raw: object) -> bool:
        identifier = normalize_identifier(id_type, raw, rules)
        if identifier is not None:
            found.add(identifier)
        return identifier is not None

    add("user_id", event.get("user_id"))
    add("anonymous_id", event.get("anonymous_id"))
    if event.get("type") == "alias":
        add("anonymous_id", event.get("previous_id"))
    sources = _user_traits(event)
    if sources:
        for id_type in ("email", "phone"):
            for traits in sources:
                raw = traits.get(id_type)
                if raw is not None and add(id_type, raw):
                    break
    for id_type, path in rules.custom_paths.items():
        add(id_type, lookup_path(event, path))
    if len(found) < 2:
        return list(found)
    return sorted(found, key=sort_key(rules))


def lookup_path(event: Mapping[str, Any], path: str) -> object:
    """The value at dotted `path` in `event`, or None.

    The first segment names a part of the event (``context``, ``properties``, ``traits``, or a
    top-level field such as ``user_id``), the rest walks nested objects:
    ``"context.device.id"`` is ``event["context"]["device"]["id"]``. A path into ``traits``
    reads the user's traits as email does: the event's own traits (not on a group event), then
    ``context.traits``, so ``"traits.crm_id"`` finds a CRM id on identify and track calls alike.
    """
    head, _, rest = path.partition(".")
    if head == "traits" and rest:
        for traits in _user_traits(event):
            value = _walk(traits, rest)
            if value is not None:
                return value
        return None
    value = event.get(head)
    return _walk(value, rest) if rest else value


def _walk(value: object, path: str) -> object:
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _user_traits(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The dicts holding the user's traits, most specific first."""
    out: list[Mapping[str, Any]] = []
    traits = event.get("traits")
    if traits and _is_mapping(traits) and event.get("type") != "group":
        out.append(traits)
    context = event.get("context")
    if context and _is_mapping(context):
        context_traits = context.get("traits")
        if context_traits and _is_mapping(context_traits):
            out.append(context_traits)
    return out


def _is_mapping(value: object) -> bool:
    """`isinstance(value, Mapping)`, answered without the ABC check for a dict, which decoded
    events are (the check took a tenth of extracting an event's identifiers)."""
    return type(value) is dict or isinstance(value, Mapping)
