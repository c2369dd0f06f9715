"""Opening stored documents for reading (profile API, CLI, export, segment previews).

`PiiCodec.open_document` raises on the first string that looks sealed but does not open. A read
must not: anyone can send an event whose property value merely starts with the sealed prefix,
and one such value would otherwise break every read of that person's timeline (and their
export). Such a string is returned as it is (it holds nothing of ours in clear), counted and
logged; a value under a data key that is no longer configured is treated alike, so a key
retired too early shows up in the metric and the log rather than as failing reads.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from cdp.privacy.atrest import SEALED_PREFIX, PiiCodec
from cdp.privacy.errors import DecryptionFailed, UnknownDataKey
from cdp.privacy.observability import UNOPENED_VALUES

__all__ = ["open_document", "open_json"]

log = logging.getLogger(__name__)


def _open_string(codec: PiiCodec, value: str) -> Any:
    try:
        return codec.open_value(value)
    except UnknownDataKey as exc:
        UNOPENED_VALUES.labels("unknown_key").inc()
        log.warning("a stored value was left sealed: %s", exc)
    except DecryptionFailed as exc:
        UNOPENED_VALUES.labels("not_ours").inc()
        log.warning("a stored value that looks sealed was left as it is: %s", exc)
    return value


def open_document(codec: PiiCodec, value: Any) -> Any:
    """`value` with every sealed string opened, at any depth; one that does not open is kept."""
    if isinstance(value, str):
        return _open_string(codec, value) if value.startswith(SEALED_PREFIX) else value
    if isinstance(value, dict):
        return {k: open_document(codec, v) for k, v in value.items()}
    if isinstance(value, list):
        return [open_document(codec, v) for v in value]
    return value


def open_json(codec: PiiCodec, json_text: str) -> str:
    """A JSON document's text with its sealed strings opened; the same text when it has none."""
    if SEALED_PREFIX not in json_text:
        return json_text
    return orjson.dumps(open_document(codec, orjson.loads(json_text))).decode()
