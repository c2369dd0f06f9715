"""Identity resolution: which profile an event belongs to.

Pure logic, no I/O: `extract_identifiers` reads an event's identifiers (normalised, junk
dropped, highest priority first) and `resolve` decides, against a locked view of the identity
graph, whether they make a new profile, attach to one, or merge several, within the limits of
`IdentityRules`.
"""

from cdp.identity.extract import extract_identifiers
from cdp.identity.model import Identifier, IdentityGraph, Resolution
from cdp.identity.normalize import is_junk, normalize_email, normalize_phone
from cdp.identity.resolver import resolve
from cdp.identity.rules import IdentityRules

__all__ = [
    "Identifier",
    "IdentityGraph",
    "IdentityRules",
    "Resolution",
    "extract_identifiers",
    "is_junk",
    "normalize_email",
    "normalize_phone",
    "resolve",
]
