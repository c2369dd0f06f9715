"""The processor's sealing process: a real child process sealing batches' timeline texts,
replaced when it dies, bypassed for a batch it cannot seal."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import orjson
import psutil
import pytest
from prometheus_client import REGISTRY

from cdp.identity import IdentityRules
from cdp.privacy.atrest import PiiCodec
from cdp.privacy.crypto import KeyRing
from cdp.profiles.apply import BatchApplier
from cdp.profiles.events import InEvent
from cdp.profiles.pii import PiiWriter
from cdp.profiles.sealing import SealingProcess

PII = ["email", "phone", "name", "address"]


@pytest.fixture(scope="module")
def codec() -> PiiCodec:
    return PiiCodec(KeyRing({"k1": os.urandom(32)}, "k1"), b"hash-key", PII)


@pytest.fixture
def sealer(codec: PiiCodec) -> Iterator[SealingProcess]:
    process = SealingProcess(codec)
    yield process
    process.close()


def event(n: int, kind: str, traits: dict[str, Any], context: dict[str, Any]) -> InEvent:
    properties = {"sku": f"s{n}", "email": f"p{n}@example.com"} if kind == "track" else {}
    return InEvent(
        0, n, f"m{n}", kind, "src", f"u{n}", None, "Viewed" if kind == "track" else None,
        None, None, None, 1_800_000_000_000 + n, 1_800_000_000_000 + n, properties, traits,
        context, orjson.dumps(properties).decode(), orjson.dumps(context).decode(),
        traits_json=orjson.dumps(traits).decode(),
    )  # fmt: skip


def batch(size: int = 40) -> list[InEvent]:
    out = []
    for n in range(size):
        kind = ("identify", "track", "page", "group")[n % 4]
        traits = {"email": f"u{n}@example.com", "plan": "pro", "name": f"User {n}"}
        context = {"library": {"name": "analytics.js"}, "ip": "10.0.0.1"}
        if n % 3 == 0:
            context["traits"] = {"email": f"u{n}@example.com"}
        out.append(event(n, kind, traits if kind in ("identify", "group") else {}, context))
    return out


def applier(codec: PiiCodec, sealer: SealingProcess | None) -> BatchApplier:
    return BatchApplier(IdentityRules(), None, "g", "t", "c", None, None, PiiWriter(codec), sealer)  # type: ignore[arg-type]


def opened_rows(events: list[InEvent], codec: PiiCodec) -> list[list[Any]]:
    """Each event's timeline row with its JSON columns parsed and every sealed value opened."""
    rows = []
    for e in events:
        assert e.timeline is not None
        fields = e.timeline.split("\t")
        fields[6:8] = [codec.open_document(orjson.loads(f)) for f in fields[6:8]]
        rows.append(fields)
    return rows


def fallbacks() -> float:
    return REGISTRY.get_sample_value("cdp_processor_seal_fallbacks_total") or 0.0


def test_the_child_seals_what_the_processor_would_and_no_pii_is_left_in_clear(
    codec: PiiCodec, sealer: SealingProcess
) -> None:
    before = fallbacks()
    sealed, here = batch(), batch()
    applier(codec, sealer).prepare(sealed)
    applier(codec, None).prepare(here)
    assert sealer.pid is not None
    assert psutil.pid_exists(sealer.pid)
    assert fallbacks() == before
    assert opened_rows(sealed, codec) == opened_rows(here, codec)
    for e in sealed:
        assert e.timeline is not None
        assert "@example.com" not in e.timeline
        assert "User " not in e.timeline


def test_a_killed_child_costs_one_batch_sealed_here_and_is_replaced(
    codec: PiiCodec, sealer: SealingProcess
) -> None:
    apply = applier(codec, sealer)
    apply.prepare(batch())
    first = sealer.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    psutil.Process(first).wait(10)
    before = fallbacks()
    events = batch()
    apply.prepare(events)
    assert fallbacks() == before + 1
    assert opened_rows(events, codec) == opened_rows(_prepared_here(codec), codec)
    apply.prepare(batch())
    assert sealer.pid is not None
    assert sealer.pid != first
    assert fallbacks() == before + 1


def test_a_batch_the_child_cannot_seal_is_sealed_here(
    codec: PiiCodec, sealer: SealingProcess
) -> None:
    events = batch(4)
    events[0].traits_json = "not json"  # only the child reads the text
    before = fallbacks()
    applier(codec, sealer).prepare(events)
    assert fallbacks() == before + 1
    assert opened_rows(events, codec) == opened_rows(_prepared_here(codec, 4), codec)


def test_close_stops_the_child(codec: PiiCodec) -> None:
    process = SealingProcess(codec)
    process.start()
    pid = process.pid
    assert pid is not None
    process.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert process.pid is None


def _prepared_here(codec: PiiCodec, size: int = 40) -> list[InEvent]:
    events = batch(size)
    applier(codec, None).prepare(events)
    return events


def test_a_batch_failing_after_it_was_sent_leaves_no_reply_for_the_next(
    codec: PiiCodec, sealer: SealingProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply = applier(codec, sealer)
    apply.prepare(batch())

    def broken(identifier: object) -> int:
        raise RuntimeError("lock key")

    monkeypatch.setattr("cdp.profiles.apply.cached_lock_key", broken)
    with pytest.raises(RuntimeError, match="lock key"):
        apply.prepare(batch(12))
    monkeypatch.undo()
    before = fallbacks()
    events = batch(12)
    apply.prepare(events)
    assert fallbacks() == before
    assert opened_rows(events, codec) == opened_rows(_prepared_here(codec, 12), codec)
