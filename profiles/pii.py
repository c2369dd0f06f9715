"""PII at rest on the processor's write path: match values, sealed identifier rows, profile
traits opened when loaded and sealed when written, sealed timeline text.

Everything here is a no-op pass-through when the codec is in clear mode (`PiiCodec.enabled`
false), so the clear baseline pays nothing for it. The costs it keeps down when encrypting:

- a stored PII trait that did not change is written back as the very sealed string it was
  read as (no re-encryption, and the next load finds it in the open cache);
- sealed strings opened lately are remembered (`OPEN_CACHE_SIZE`), so a profile loaded batch
  after batch is decrypted once;
- match values of identifiers seen lately are remembered (`MATCH_GENERATION`).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from cdp.identity import Identifier
from cdp.privacy.atrest import SEALED_PREFIX, PiiCodec, is_sealed
from cdp.privacy.timeline import TimelineSealer
from cdp.recent import Recent

__all__ = ["OPEN_CACHE_SIZE", "PiiWriter"]

#: Match identifiers of identifiers seen lately, two generations of this many (`cdp.recent`);
#: computed past the codec's own cache, so they are held once. The benchmark's 20,000 persons
#: have about five identifiers each, which fit; about 45 MB when both generations are full
#: (360 bytes an entry, measured with tracemalloc), against 33 MB for the two caches cleared
#: when full that this replaces.
MATCH_GENERATION = 64_000

#: Sealed strings opened lately, with their values; cleared when full. A profile's sealed
#: traits keep their text while unchanged, so the profiles of the last few batches (five PII
#: traits each) fit several times over; about 20 MB when full.
OPEN_CACHE_SIZE = 100_000


class PiiWriter(TimelineSealer):
    """The processor's side of `PiiCodec`; one per processor. Its caches are plain dicts and
    sets: the prepare thread uses `match` and the timeline sealing, the batch's thread the rest,
    and a cache cleared under the other thread only costs it a recomputation."""

    def __init__(self, codec: PiiCodec) -> None:
        super().__init__(codec)
        self._opened: dict[str, Any] = {}
        self._matches: Recent[Identifier, Identifier] = Recent(MATCH_GENERATION)

    # identifiers

    def match(self, plain: list[Identifier]) -> list[Identifier]:
        """The match identifiers of `plain`, in order (the same list in clear mode)."""
        if not self.enabled:
            return plain
        known = self._matches.current.get
        return [known(i) or self._match(i) for i in plain]

    def _match(self, plain: Identifier) -> Identifier:
        found = self._matches.get(plain)
        if found is None:
            found = self.codec.match_uncached(plain)
            self._matches.put(plain, found)
        return found

    def seal_identifier(self, plain: Identifier, match_value: str) -> tuple[str, str] | None:
        """The sealed value of a new identifier row as (base64, key id); None in clear mode."""
        sealed = self.codec.seal_identifier(plain, match_value)
        if sealed is None:
            return None
        blob, key_id = sealed
        return _b64(blob), key_id

    # timeline (`TimelineSealer`)

    def seal_text(self, value: str | None) -> str | None:
        """A PII value stored as a column of its own (an alias's previous id), sealed."""
        if value is None or not self.enabled:
            return value
        return self.codec.seal_value(value)

    # profile traits

    def open_traits(self, text: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Stored traits text as (clear traits, the stored document if it held sealed values)."""
        stored: dict[str, Any] = orjson.loads(text)
        if SEALED_PREFIX not in text:
            return stored, None
        return {k: self._open(v) for k, v in stored.items()}, stored

    def seal_traits(self, traits: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
        """`traits` as they are written: each PII value sealed, at any depth; a value equal
        to the one it was loaded as keeps its stored sealed text."""
        if not self.enabled:
            return traits
        out: dict[str, Any] = {}
        for key, value in traits.items():
            if value is None:
                out[key] = value
                continue
            if stored is not None:
                before = stored.get(key)
                if is_sealed(before) and self._open(before) == value:
                    out[key] = before
                    continue
            if self.codec.is_pii_name(key):
                if is_sealed(value):
                    out[key] = value
                else:
                    sealed = out[key] = self.codec.seal_value(value)
                    self._remember(sealed, value)
            elif isinstance(value, (dict, list)):
                out[key] = self.codec.seal_document(value)
            else:
                out[key] = value
        return out

    def _open(self, value: Any) -> Any:
        if isinstance(value, str):
            if not value.startswith(SEALED_PREFIX):
                return value
            try:
                return self._opened[value]
            except KeyError:
                opened = self.codec.open_value(value)
                self._remember(value, opened)
                return opened
        if isinstance(value, (dict, list)):
            return self.codec.open_document(value)
        return value

    def _remember(self, sealed: str, value: Any) -> None:
        if len(self._opened) >= OPEN_CACHE_SIZE:
            self._opened.clear()
        self._opened[sealed] = value


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()
