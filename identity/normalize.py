"""Turning raw identifier values into the one form they are matched in, and spotting junk.

Matching is exact on `(type, value)`, so two spellings of the same address or number must
normalise to the same text: emails are trimmed and lower-cased, phones become E.164. Values that
SDKs and forms emit when they have no real identifier (``"null"``, ``"0"``, ``"[object Object]"``)
are junk: matching on them would merge every anonymous visitor into one giant profile.
"""

from __future__ import annotations

import re

import phonenumbers

__all__ = [
    "JUNK_VALUES",
    "MAX_VALUE_BYTES",
    "is_junk",
    "normalize_email",
    "normalize_phone",
    "normalize_text",
    "scalar_text",
]

#: Lower-cased values that mean "no identifier". Compared after trimming, case-insensitively.
JUNK_VALUES = frozenset(
    {
        "-1",
        "null",
        "none",
        "nil",
        "undefined",
        "anonymous",
        "unknown",
        "n/a",
        "[object object]",
        "nan",
        "true",
        "false",
    }
)

#: Zeros and dashes only ("0", "000", "-", "0000-0000"); the empty string matches too.
_ZEROS_AND_DASHES = re.compile(r"^[0-]*$")

#: The longest identifier value kept, in UTF-8 bytes. Identifiers are a Postgres B-tree primary
#: key, whose entries cannot exceed about 2,700 bytes; 1 KiB leaves room for the type and the
#: tuple overhead, and no real user id, email (at most 254 characters) or device id comes close.
MAX_VALUE_BYTES = 1024

_WHITESPACE = re.compile(r"\s")


def is_junk(value: str) -> bool:
    """True when `value` is a placeholder rather than an identifier.

    Junk: empty or whitespace only, zeros and dashes only (``"0"``, ``"-"``, ``"0000-0000"``),
    ``"-1"``, and (ignoring case and surrounding space) ``null``, ``none``, ``nil``,
    ``undefined``, ``anonymous``, ``unknown``, ``n/a``, ``[object Object]``, ``nan``, ``true``
    and ``false``.
    """
    text = value.strip()
    return _ZEROS_AND_DASHES.match(text) is not None or text.lower() in JUNK_VALUES


def scalar_text(raw: object) -> str | None:
    """`raw` as text when it is a string or a number, else None.

    Numbers are rendered with `str()`, as the collector renders a numeric userId, so the same
    id sent once as ``12345`` and once as ``"12345"`` matches. Booleans are not numbers here.
    """
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return str(raw)
    return None


def _fits(text: str) -> bool:
    return len(text.encode("utf-8", "surrogatepass")) <= MAX_VALUE_BYTES


def normalize_text(raw: object) -> str | None:
    """A text identifier (user_id, anonymous_id, custom): trimmed, case kept.

    None when `raw` is not a string or number, is junk, or is longer than `MAX_VALUE_BYTES`.
    Case is kept because ids minted by other systems are often case-sensitive.
    """
    text = scalar_text(raw)
    if text is None:
        return None
    text = text.strip()
    if is_junk(text) or not _fits(text):
        return None
    return text


def normalize_email(raw: object) -> str | None:
    """`raw` trimmed and lower-cased, or None unless it looks like an email address.

    It must have exactly one ``@``, a non-empty local part, a domain with a dot and no empty
    label (``a@b..c`` and ``a@.com`` are refused), and no whitespace inside. Deliverability is
    not checked: the aim is matching, not validation.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip().lower()
    if _WHITESPACE.search(text) or text.count("@") != 1 or not _fits(text):
        return None
    local, domain = text.split("@")
    if not local or "." not in domain or "" in domain.split("."):
        return None
    return text


def normalize_phone(raw: object, default_region: str) -> str | None:
    """`raw` in E.164 (``+14155552671``), or None if it is not a valid phone number.

    `raw` may be a string in any common notation (``"+1 (415) 555-2671"``, ``"415.555.2671"``)
    or an integer. Numbers without a country code are read in `default_region` (ISO 3166
    alpha-2, e.g. ``"US"``). A leading ``00`` is read as ``+`` when the region's own reading
    is not a valid number, so ``"0044 20 7946 0958"`` works even where the international
    prefix is ``011``. Extensions are dropped. The number must be valid for its region, not
    merely of a possible length, so typos and fragments do not become identifiers.
    """
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None
    text = str(raw).strip()
    if not text or is_junk(text):
        return None
    key = _phone_key(text, default_region)
    if key is None:
        return _e164(text, default_region)
    try:
        return _phones[key]
    except KeyError:
        pass
    if len(_phones) >= PHONE_CACHE_SIZE:
        _phones.clear()
    found = _phones[key] = _e164(text, default_region)
    return found


#: A phone written with digits, spaces, dots, dashes and parentheses only, after an optional
#: leading ``+``: the notations forms and SDKs send (``"(415) 555-2671"``, ``"+1 415 555 2671"``).
#: For such text, `_e164` depends only on the digits, on the leading ``+`` and on a leading
#: ``"00"`` (the property test in ``tests/unit/identity/test_phone_cache.py`` holds it to that),
#: so one parse serves every notation of a number.
_PHONE_SHAPE = re.compile(r"\+?[0-9 ().\-]+")
_NOT_DIGIT = re.compile(r"[^0-9]")
#: Parsed phones by `_phone_key`; parsing costs about 200 µs here, and a customer's number
#: arrives in several notations. Cleared when full, so it never holds more than this many.
PHONE_CACHE_SIZE = 20_000
#: Longer text is parsed every time: phonenumbers refuses input over 250 characters, so two
#: notations of one number on either side of that length would not read alike.
MAX_CACHED_PHONE_CHARS = 64
_phones: dict[tuple[str, bool, bool, str], str | None] = {}


def _phone_key(text: str, region: str) -> tuple[str, bool, bool, str] | None:
    """What `_e164(text, region)` depends on, for text of `_PHONE_SHAPE`; else None."""
    if len(text) > MAX_CACHED_PHONE_CHARS or _PHONE_SHAPE.fullmatch(text) is None:
        return None
    return (region, text.startswith("+"), text.startswith("00"), _NOT_DIGIT.sub("", text))


def _e164(text: str, default_region: str) -> str | None:
    """Trimmed, non-junk `text` in E.164, or None (see `normalize_phone`)."""
    number = _parse_phone(text, default_region)
    if number is None and text.startswith("00"):
        number = _parse_phone("+" + text[2:], default_region)
    if number is None:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse_phone(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        return None
    return number
