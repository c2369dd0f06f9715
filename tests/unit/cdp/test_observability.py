"""Health, readiness, metrics and consumer lag of the services without an HTTP API."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY

from cdp.deadletter import DeadLetter, encode_dead_letter
from cdp.observability import HealthServer, LagStats
from cdp.observability.health import LIVENESS_TIMEOUT_S
from cdp.observability.lag import partition_lags
from cdp.schemas import Codec, ManifestCatalog


def _stats(partitions: dict[str, dict[str, object]], topic: str = "cdp.events.raw") -> str:
    return orjson.dumps({"topics": {topic: {"partitions": partitions}}}).decode()


def _active(high: int, position: int) -> dict[str, object]:
    return {"fetch_state": "active", "hi_offset": high, "app_offset": position}


def _lag(group: str, topic: str, partition: str) -> float | None:
    return REGISTRY.get_sample_value(
        "cdp_consumer_lag", {"group": group, "topic": topic, "partition": partition}
    )


def test_partition_lags_skip_unknown_offsets_and_unassigned_partitions() -> None:
    stats = orjson.loads(
        _stats(
            {
                "0": _active(100, 40),
                "1": _active(100, -1001),
                "2": {"fetch_state": "none", "hi_offset": 9, "app_offset": 1},
                "-1": _active(5, 0),
                "3": _active(10, 12),
            }
        )
    )
    assert partition_lags(stats) == {("cdp.events.raw", "0"): 60, ("cdp.events.raw", "3"): 0}


def test_lag_stats_set_the_gauge_and_drop_revoked_partitions() -> None:
    lag = LagStats("test-lag-group")
    assert lag.config()["stats_cb"] is lag
    lag(_stats({"0": _active(50, 10), "1": _active(7, 7)}))
    assert _lag("test-lag-group", "cdp.events.raw", "0") == 40
    assert _lag("test-lag-group", "cdp.events.raw", "1") == 0
    lag(_stats({"1": _active(9, 7)}))
    assert _lag("test-lag-group", "cdp.events.raw", "0") is None
    assert _lag("test-lag-group", "cdp.events.raw", "1") == 2


def test_lag_stats_survive_unreadable_statistics() -> None:
    lag = LagStats("test-lag-garbage")
    lag("not json")
    lag(orjson.dumps({"topics": {"t": {"partitions": {"0": "junk"}}}}).decode())
    assert _lag("test-lag-garbage", "t", "0") is None


@pytest.fixture
def health() -> Iterator[tuple[HealthServer, dict[str, bool]]]:
    state = {"kafka": True, "postgres": True}

    def postgres() -> bool:
        if not state["postgres"]:
            raise OSError("connection refused")
        return True

    server = HealthServer(
        "unit-service", "127.0.0.1", 0, {"kafka": lambda: state["kafka"], "postgres": postgres}
    ).start()
    try:
        yield server, state
    finally:
        server.stop()


def test_readyz_reports_each_check_and_sets_the_ready_gauge(
    health: tuple[HealthServer, dict[str, bool]],
) -> None:
    server, state = health
    url = f"http://127.0.0.1:{server.port}"
    ok = httpx.get(f"{url}/readyz")
    assert (ok.status_code, ok.json()) == (200, {"ready": True, "checks": state})
    assert REGISTRY.get_sample_value("cdp_ready", {"service": "unit-service"}) == 1
    state["postgres"] = False
    server._ready = None  # the cache would otherwise answer for READY_CACHE_S
    down = httpx.get(f"{url}/readyz")
    assert down.status_code == 503
    assert down.json()["checks"] == {"kafka": True, "postgres": False}
    assert REGISTRY.get_sample_value("cdp_ready", {"service": "unit-service"}) == 0


def test_healthz_fails_when_the_loop_stops_beating(
    health: tuple[HealthServer, dict[str, bool]],
) -> None:
    server, _ = health
    url = f"http://127.0.0.1:{server.port}/healthz"
    assert httpx.get(url).status_code == 200
    server._beat = time.monotonic() - LIVENESS_TIMEOUT_S - 1
    assert httpx.get(url).status_code == 503
    server.beat()
    assert httpx.get(url).json() == {"alive": True, "service": "unit-service"}


def test_metrics_and_unknown_paths(health: tuple[HealthServer, dict[str, bool]]) -> None:
    server, _ = health
    url = f"http://127.0.0.1:{server.port}"
    metrics = httpx.get(f"{url}/metrics")
    assert metrics.status_code == 200
    assert "cdp_dead_letters_total" in metrics.text
    missing = httpx.get(f"{url}/nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


def test_every_dead_letter_is_counted_by_stage_and_reason() -> None:
    codec = Codec(ManifestCatalog())
    labels = {"stage": "unit-stage", "reason": "bad_thing"}
    before = REGISTRY.get_sample_value("cdp_dead_letters_total", labels) or 0
    letter = DeadLetter(stage="unit-stage", reason="bad_thing", message="m", payload=b"{}")
    encode_dead_letter(codec, letter)
    encode_dead_letter(codec, letter)
    assert REGISTRY.get_sample_value("cdp_dead_letters_total", labels) == before + 2
