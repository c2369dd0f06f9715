"""The timeline's PII sealed: an event's payload (an identify or group call's traits, other
events' properties) and context as the timeline stores them, each PII value sealed
(`PiiCodec`), the rest as it came.

`TimelineSealer` does it wherever it runs: in the processor (`cdp.profiles.pii.PiiWriter`
extends it), or in the processor's sealing process (`serve`, started by
`cdp.profiles.sealing`), which gets only the texts and seals them to the same result. This
module imports nothing of the processor, so that process stays small.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Any

import orjson

from cdp.privacy.atrest import CodecArgs, PiiCodec
from cdp.privacy.names import TRAIT_PAYLOADS
from cdp.recent import Recent

__all__ = ["Item", "Sealed", "TimelineSealer", "seal_items", "serve"]

#: Objects of the Segment spec's event `context` whose ``name`` names software or a campaign,
#: never a person (``context.library.name`` is "analytics.js" on every event). Left in clear, so
#: a context holding nothing else PII-named is stored as it came: most contexts need no sealing.
SOFTWARE_NAMED = frozenset({"app", "campaign", "library", "os"})
#: Context texts found to hold nothing to seal, remembered (an SDK sends the same context with
#: every event of a device), two generations of this many (`cdp.recent`): the benchmark's
#: 20,000 persons have about 40,000 devices. Only texts without PII are cached: a sealed text
#: is never reused.
CLEAR_CONTEXT_GENERATION = 40_000

#: An event's timeline texts as sent to the sealing process: its type, payload text and
#: context text.
Item = tuple[str, str, str]
#: The sealed payload and context texts of an item; None where the text is unchanged.
Sealed = tuple[str | None, str | None]


class TimelineSealer:
    """Seals timeline texts under one codec, remembering contexts found to need nothing."""

    def __init__(self, codec: PiiCodec) -> None:
        self.codec = codec
        self.enabled = codec.enabled
        self._clear_contexts: Recent[str, bool] = Recent(CLEAR_CONTEXT_GENERATION)

    def seal_traits_json(self, traits: dict[str, Any]) -> str:
        """`traits` (an identify or group call's) as the timeline's JSON text, PII sealed.

        Walked rather than dumped and prechecked (`PiiCodec.might_hold_pii`): identify calls
        mostly carry an email, so the precheck would mostly say yes and cost a second dump."""
        if self.enabled:
            traits = self.codec.seal_document(traits)
        return orjson.dumps(traits).decode()

    def seal_timeline(
        self,
        kind: str,
        payload_json: str,
        context_json: str,
        payload: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        """The timeline texts of an event of `kind`: its payload (an identify or group call's
        traits, `payload_json` being their text; other events' properties) and its context,
        PII sealed when encrypting. `payload` and `context` are the texts parsed already, when
        the caller has them; the processor's sealing process (`cdp.profiles.sealing`) has only
        the texts, and gets the same result."""
        if kind in TRAIT_PAYLOADS:
            traits = payload if payload is not None else _object(payload_json)
            sealed = self.seal_traits_json(traits)
        else:
            sealed = self.seal_properties(payload_json, payload)
        return sealed, self.seal_context(context_json, context)

    def seal_properties(self, json_text: str, parsed: dict[str, Any] | None = None) -> str:
        """A track, page, screen or alias event's properties text with the values of PII
        property names sealed (`PiiCodec.properties`: a product's ``name`` stays clear); the
        same text when there are none. `parsed` is the text as parsed already
        (`InEvent.properties`), if the caller has it. (The precheck searches the text: for the
        few flat keys properties mostly have, that is faster than walking `parsed`.)"""
        codec = self.codec.properties
        if not self.enabled or not codec.might_hold_pii(json_text):
            return json_text
        document = orjson.loads(json_text) if parsed is None else parsed
        return orjson.dumps(codec.seal_document(document)).decode()

    def seal_context(self, json_text: str, parsed: dict[str, Any] | None = None) -> str:
        """An event's context text with its PII values sealed (see `SOFTWARE_NAMED`); the
        same text when there are none. `parsed`, when given, is the text parsed already."""
        if not self.enabled or self._clear_contexts.get(json_text):
            return json_text
        context = orjson.loads(json_text) if parsed is None else parsed
        if not isinstance(context, dict):
            return self.codec.seal_json(json_text)
        if self._context_holds_pii(context):
            sealed = {k: self._seal_context_item(k, v) for k, v in context.items()}
            if sealed != context:
                return orjson.dumps(sealed).decode()
        self._clear_contexts.put(json_text, True)
        return json_text

    def _context_holds_pii(self, context: dict[str, Any]) -> bool:
        is_pii, holds = self.codec.is_pii_name, self.codec.holds_pii
        for key, value in context.items():
            if key in SOFTWARE_NAMED and isinstance(value, dict):
                if any((k != "name" and is_pii(k)) or holds(v) for k, v in value.items()):
                    return True
            elif is_pii(key) or holds(value):
                return True
        return False

    def _seal_context_item(self, key: str, value: Any) -> Any:
        seal = self.codec.seal_document
        if key in SOFTWARE_NAMED and isinstance(value, dict):
            return {k: v if k == "name" else seal({k: v})[k] for k, v in value.items()}
        return seal({key: value})[key]


def _object(text: str) -> dict[str, Any]:
    """A traits text as `cdp.profiles.decode` parses it (an empty text is no traits)."""
    value = orjson.loads(text) if text and text != "{}" else {}
    return value if isinstance(value, dict) else {}


def seal_items(sealer: TimelineSealer, items: list[Item]) -> list[Sealed]:
    """Each item's timeline texts sealed (`TimelineSealer.seal_timeline`), None where unchanged
    (most contexts and properties hold no PII: they need not travel back)."""
    out: list[Sealed] = []
    for kind, payload, context in items:
        sealed_payload, sealed_context = sealer.seal_timeline(kind, payload, context)
        out.append(
            (
                None if sealed_payload is payload else sealed_payload,
                None if sealed_context is context else sealed_context,
            )
        )
    return out


def serve(conn: Connection, args: CodecArgs) -> None:
    """The sealing process: answer each request ``(number, items)`` received with
    ``(number, sealed items)`` until the pipe closes or None arrives. A request that fails is
    answered with ``(number, None)``, and the processor seals those items itself (and meets
    the error there, where failures are isolated and dead-lettered)."""
    sealer = TimelineSealer(args.build())
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        number, items = request
        try:
            reply: list[Sealed] | None = seal_items(sealer, items)
        except Exception:  # noqa: BLE001 - any failure: the processor seals the items
            reply = None
        conn.send((number, reply))
