from __future__ import annotations

import gzip
import random
from typing import Any

import orjson
import pytest

from cdp.ingest.body import decode_body, json_depth
from cdp.ingest.errors import RequestRejected
from cdp.settings import Limits

LIMITS = Limits()


def rejected(raw: bytes, encoding: str | None = None, limits: Limits = LIMITS) -> str:
    with pytest.raises(RequestRejected) as info:
        decode_body(raw, encoding, limits)
    assert info.value.status == 400
    return info.value.code


def test_plain_and_gzip_bodies_decode_alike() -> None:
    body = {"batch": [{"type": "track"}]}
    raw = orjson.dumps(body)
    assert decode_body(raw, None, LIMITS) == body
    assert decode_body(gzip.compress(raw), "gzip", LIMITS) == body


def test_gzip_is_recognised_by_its_magic_number_without_the_header() -> None:
    assert decode_body(gzip.compress(b'{"a": 1}'), None, LIMITS) == {"a": 1}


def test_errors_have_codes() -> None:
    assert rejected(b"{nope") == "invalid_json"
    assert rejected(b"[1, 2]") == "invalid_body"
    assert rejected(b"\x1f\x8b\x08garbage", "gzip") == "invalid_gzip"
    assert rejected(gzip.compress(b'{"a": 1}')[:-6], "gzip") == "invalid_gzip"
    assert rejected(b"{}", "br") == "unsupported_encoding"


def test_inflated_size_is_capped() -> None:
    limits = Limits(max_batch_bytes=1000)
    assert (
        rejected(gzip.compress(orjson.dumps({"pad": "0" * 5000})), "gzip", limits)
        == "batch_too_large"
    )
    assert rejected(orjson.dumps({"pad": "0" * 5000}), None, limits) == "batch_too_large"


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth_limit() -> None:
    limits = Limits(max_json_depth=10)
    assert decode_body(orjson.dumps({"a": nested(9)}), None, limits)
    assert rejected(orjson.dumps({"a": nested(10)}), None, limits) == "too_deeply_nested"


@pytest.mark.parametrize(
    ("value", "depth"), [(1, 0), ({}, 1), ({"a": [1]}, 2), ([[{"b": {}}]], 4), (nested(50), 50)]
)
def test_json_depth(value: Any, depth: int) -> None:
    assert json_depth(value, 100) == depth


def reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((reference_depth(v) for v in value), default=0)
    return 0


def random_json(rng: random.Random, budget: int) -> Any:
    roll = rng.random()
    if budget <= 0 or roll < 0.3:
        return rng.choice([1, "s", None, 2.5, True])
    if roll < 0.65:
        return {f"k{i}": random_json(rng, budget - 1) for i in range(rng.randrange(4))}
    return [random_json(rng, budget - 1) for _ in range(rng.randrange(4))]


def test_json_depth_agrees_with_a_recursive_walk() -> None:
    rng = random.Random(7)
    for _ in range(500):
        value = random_json(rng, rng.randrange(12))
        assert json_depth(value, 100) == reference_depth(value)


@pytest.mark.parametrize("stop_after", [1, 3, 9])
def test_json_depth_stops_just_past_the_limit(stop_after: int) -> None:
    value = {"ok": [1, 2], "deep": nested(stop_after + 5)}
    assert json_depth(value, stop_after) == stop_after + 1
    assert json_depth({"a": nested(stop_after - 1)}, stop_after) == stop_after
