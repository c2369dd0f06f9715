"""AES-256-GCM under a ring of data keys, each value stored with the id of the key it is under.

New values are encrypted under the active key; any key of the ring decrypts what it encrypted,
so a key can be rotated in (`cdp keys rotate-data-key`) while old values stay readable. A value
is ``nonce (12 bytes) || ciphertext || tag (16 bytes)``; a fresh random nonce per value is safe
for far more than 2**32 values per key, which a rotation resets anyway.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cdp.privacy.errors import DecryptionFailed, UnknownDataKey

__all__ = ["NONCE_BYTES", "KeyRing"]

#: GCM's standard nonce length: other lengths are hashed into one, slower and no safer.
NONCE_BYTES = 12
#: Nonces drawn from the OS in one call. On the sandboxed machine `cdp bench pipeline` ran on,
#: `os.urandom` per value took 2.2 s of the processor's time for 26,000 sealed values (about
#: 85 µs a call, more than all the rest of sealing); a slice of one draw costs nothing.
#: 4,096 nonces are 48 KB.
NONCE_BATCH = 4096

#: Bumped in a forked child, whose copy of a ring's drawn nonces its parent uses too.
_fork_generation = 0


def _after_fork() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_after_fork)


class KeyRing:
    """Data keys by key id, and which one encrypts new values."""

    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise UnknownDataKey(f"the active data key {active!r} is not in the ring")
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active = active
        self._active = self._ciphers[active]
        self._drawn = threading.local()

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    def encrypt(self, plaintext: bytes, aad: bytes) -> bytes:
        """`plaintext` under the active key, bound to `aad` (which decrypting must repeat)."""
        nonce = self._nonce()
        return nonce + self._active.encrypt(nonce, plaintext, aad)

    def _nonce(self) -> bytes:
        """A fresh random nonce: the next unused slice of this thread's last `os.urandom`
        draw (each slice is used once; per thread, so no lock; drawn again after a fork)."""
        drawn = self._drawn
        nonces: bytes = getattr(drawn, "nonces", b"")
        start: int = getattr(drawn, "next", 0)
        if start >= len(nonces) or getattr(drawn, "generation", -1) != _fork_generation:
            nonces = drawn.nonces = os.urandom(NONCE_BYTES * NONCE_BATCH)
            drawn.generation = _fork_generation
            start = 0
        drawn.next = start + NONCE_BYTES
        return nonces[start : start + NONCE_BYTES]

    def decrypt(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        """The plaintext of `blob`, encrypted under `key_id` with `aad`.

        Raises `UnknownDataKey` when the ring lacks the key (retired too early) and
        `DecryptionFailed` when the value was altered, moved to another row, or is not ours.
        """
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownDataKey(f"data key {key_id!r} is not configured (CDP_PRIVACY__DATA_KEYS)")
        try:
            return cipher.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag as exc:
            raise DecryptionFailed(f"a value under data key {key_id!r} failed to decrypt") from exc
