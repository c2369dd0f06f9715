"""PII at rest: what the store writes for identifiers and PII values, and how it reads them back.

- An identifier is stored under its *match value*, the keyed hash (`subject_hash`, hex
  HMAC-SHA256 of type NUL normalised value), so identity resolution finds and joins profiles
  without decrypting; its normalised value is stored beside it encrypted (`seal_identifier`),
  bound to the row by type and match value, with the id of the data key.
- A PII value (a trait named like one of `Settings.pii_traits`, at any depth, in profile traits
  or in the timeline's traits and context; an event property named like one of
  `Settings.pii_property_names` in the timeline's properties of other events, via
  `PiiCodec.properties`) is replaced by a *sealed* string,
  ``cdp:enc:v1:<key id>:<base64url of nonce, ciphertext and tag>`` of the value's JSON, so
  numbers, objects and lists come back as they were. Segments can test such a trait with
  ``exists`` only; its value is opaque to SQL.

With `Privacy.encrypt_pii` off the codec passes everything through in clear (development and
the benchmark's baseline only; `Settings` refuses it in production).
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from cdp.identity import Identifier
from cdp.privacy.crypto import KeyRing
from cdp.privacy.errors import DecryptionFailed
from cdp.privacy.hashing import Hasher
from cdp.privacy.names import PiiNames, normal_name

__all__ = ["SEALED_PREFIX", "CodecArgs", "PiiCodec", "is_sealed", "sealed_key_id"]

SEALED_PREFIX = "cdp:enc:v1:"
#: Associated data of sealed values: a sealed value is not bound to its place (a trait moves
#: between profiles on a merge, and a rotation rewrites it where it is).
VALUE_AAD = b"cdp.pii.value"
_SEPARATORS = "[-_ ]*"
#: Key names whose PII test is remembered; cleared when full (a few MB at most).
NAME_CACHE_SIZE = 100_000


def is_sealed(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def sealed_key_id(value: str) -> str:
    """The data key id of a sealed string."""
    return value[len(SEALED_PREFIX) :].partition(":")[0]


def _name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """A regex finding a JSON object key that `normal_name` maps into `names`.

    Matches exactly the keys whose text, with separators dropped and lower-cased, is a PII
    name (keys with JSON escapes excepted, which cdp's own JSON never writes for letters), so
    a document it finds nothing in holds no PII key and needs no parsing.
    """
    alternatives = sorted(
        {_SEPARATORS.join(re.escape(c) for c in name) for name in names if name}, key=len
    )
    if not alternatives:
        return None
    body = "|".join(reversed(alternatives))
    return re.compile(f'"{_SEPARATORS}(?:{body}){_SEPARATORS}"\\s*:', re.IGNORECASE)


@dataclass(frozen=True)
class CodecArgs:
    """A `PiiCodec`'s keys and names, picklable (`PiiCodec.child_args`)."""

    ring: tuple[dict[str, bytes], str] | None
    hash_key: bytes
    traits: frozenset[str]
    properties: frozenset[str]

    def build(self) -> PiiCodec:
        ring = KeyRing(*self.ring) if self.ring is not None else None
        return PiiCodec(ring, self.hash_key, self.traits, self.properties)


class PiiCodec:
    """Match values, sealing and opening under one key ring, hash key and list of PII names.

    Its name tests and sealing use the PII trait names (`pii_names`); `properties` is the same
    codec (same ring, hash and caches of matches) with the PII event property names
    (`property_names`, by default the trait names), for the timeline's properties of track,
    page, screen and alias events. `names` holds both lists."""

    def __init__(
        self,
        ring: KeyRing | None,
        hash_key: bytes,
        pii_names: Iterable[str],
        property_names: Iterable[str] | None = None,
    ) -> None:
        self.ring = ring
        self._hash_key = hash_key
        self._hash = Hasher(hash_key)
        traits = list(pii_names)
        self.names = PiiNames.of(traits, traits if property_names is None else property_names)
        self._use(self.names.traits)
        self.properties: PiiCodec = self
        if self.names.properties != self.names.traits:
            self.properties = copy.copy(self)
            self.properties._use(self.names.properties)
            self.properties.properties = self.properties

    def child_args(self) -> CodecArgs:
        """What `CodecArgs.build` makes the same codec of in another process (keys included:
        only for a child process of this one, over its private pipe)."""
        ring = self.ring.export() if self.ring is not None else None
        return CodecArgs(ring, self._hash_key, self.names.traits, self.names.properties)

    def _use(self, names: frozenset[str]) -> None:
        self._names = names
        self._finder = _name_pattern(names)
        self._known_names: dict[str, bool] = {}

    @property
    def enabled(self) -> bool:
        return self.ring is not None

    def is_pii_name(self, name: str) -> bool:
        """Whether `name` spells a PII name of this codec (a trait's; an event property's for
        `properties`); remembered, as the same few names recur in every
        document the processor seals (bounded by `NAME_CACHE_SIZE`)."""
        known = self._known_names.get(name)
        if known is None:
            if len(self._known_names) >= NAME_CACHE_SIZE:
                self._known_names.clear()
            known = self._known_names[name] = normal_name(name) in self._names
        return known

    # identifiers

    def match(self, identifier: Identifier) -> Identifier:
        """The identifier as stored and matched: its keyed hash, or itself in clear mode."""
        if self.ring is None:
            return identifier
        return Identifier(identifier.type, self._hash(identifier))

    def match_uncached(self, identifier: Identifier) -> Identifier:
        """`match`, computed without the codec's cache, for a caller that keeps its own."""
        if self.ring is None:
            return identifier
        return Identifier(identifier.type, self._hash.digest(identifier))

    def seal_identifier(self, identifier: Identifier, match_value: str) -> tuple[bytes, str] | None:
        """The encrypted value and key id to store beside `match_value`; None in clear mode."""
        if self.ring is None:
            return None
        aad = f"{identifier.type}\x00{match_value}".encode()
        return self.ring.encrypt(identifier.value.encode("utf-8", "surrogatepass"), aad), (
            self.ring.active
        )

    def open_identifier(
        self, id_type: str, match_value: str, blob: bytes | None, key_id: str | None
    ) -> str:
        """The normalised value of a stored identifier row."""
        if blob is None or key_id is None or self.ring is None:
            return match_value
        aad = f"{id_type}\x00{match_value}".encode()
        return self.ring.decrypt(key_id, blob, aad).decode("utf-8", "surrogatepass")

    # PII values

    def seal_value(self, value: Any) -> str:
        """`value` (any JSON value) as a sealed string under the active key."""
        assert self.ring is not None
        blob = self.ring.encrypt(orjson.dumps(value), VALUE_AAD)
        return f"{SEALED_PREFIX}{self.ring.active}:{base64.urlsafe_b64encode(blob).decode()}"

    def open_value(self, sealed: str) -> Any:
        """The JSON value inside a sealed string."""
        if self.ring is None:
            raise DecryptionFailed("a sealed value was read with PII encryption off")
        key_id, _, text = sealed[len(SEALED_PREFIX) :].partition(":")
        try:
            blob = base64.urlsafe_b64decode(text)
        except (binascii.Error, ValueError) as exc:
            raise DecryptionFailed("a sealed value is not base64") from exc
        return orjson.loads(self.ring.decrypt(key_id, blob, VALUE_AAD))

    def seal_document(self, value: Any) -> Any:
        """`value` with the value under every PII-named key sealed, at any depth.

        Null stays null (unsetting is not PII) and a sealed value is left as it is.
        """
        if self.ring is None:
            return value
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for k, v in value.items():
                if self.is_pii_name(str(k)):
                    out[k] = v if v is None or is_sealed(v) else self.seal_value(v)
                elif isinstance(v, (dict, list)):
                    out[k] = self.seal_document(v)
                else:
                    out[k] = v
            return out
        if isinstance(value, list):
            return [self.seal_document(v) for v in value]
        return value

    def open_document(self, value: Any) -> Any:
        """`value` with every sealed string opened, at any depth."""
        if isinstance(value, str):
            return self.open_value(value) if value.startswith(SEALED_PREFIX) else value
        if isinstance(value, dict):
            return {k: self.open_document(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.open_document(v) for v in value]
        return value

    def holds_pii(self, value: Any) -> bool:
        """Whether the parsed JSON `value` has a PII-named key at any depth, i.e. whether
        `seal_document` may change it: for a document parsed already, where the caller needs
        to know which key matched (`might_hold_pii` only says some key of the text did)."""
        if isinstance(value, dict):
            is_pii = self.is_pii_name
            for k, v in value.items():
                if is_pii(k) or (isinstance(v, (dict, list)) and self.holds_pii(v)):
                    return True
            return False
        if isinstance(value, list):
            return any(isinstance(v, (dict, list)) and self.holds_pii(v) for v in value)
        return False

    def might_hold_pii(self, json_text: str) -> bool:
        """False only when the JSON document has no PII-named key (see `_name_pattern`)."""
        return self._finder is not None and self._finder.search(json_text) is not None

    def seal_json(self, json_text: str) -> str:
        """A JSON document's text with its PII values sealed; the same text when it has none."""
        if self.ring is None or not self.might_hold_pii(json_text):
            return json_text
        return orjson.dumps(self.seal_document(orjson.loads(json_text))).decode()
