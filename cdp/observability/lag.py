"""Consumer lag from librdkafka's statistics, so measuring it costs the hot path nothing."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from cdp.observability.metrics import CONSUMER_LAG

__all__ = ["LAG_STATS_INTERVAL_MS", "LagStats"]

log = logging.getLogger(__name__)

#: How often librdkafka emits statistics (from inside `poll`/`consume`, on the caller's thread).
#: 5 s matches a Prometheus scrape interval of 15 s with room to spare; the JSON is a few KB.
LAG_STATS_INTERVAL_MS = 5000


class LagStats:
    """A librdkafka `stats_cb` that sets `cdp_consumer_lag` per assigned partition.

    Lag is `hi_offset - app_offset`: the position the application has consumed up to, not a
    committed offset, because the processor keeps its offsets in Postgres, not in Kafka.
    Partitions no longer assigned are removed from the gauge, so a rebalance leaves no stale
    series behind.
    """

    def __init__(self, group: str) -> None:
        self.group = group
        self._series: set[tuple[str, str]] = set()

    def config(self) -> dict[str, Any]:
        """The consumer settings that make librdkafka call this object."""
        return {"statistics.interval.ms": LAG_STATS_INTERVAL_MS, "stats_cb": self}

    def __call__(self, stats_json: str) -> None:
        try:
            lags = partition_lags(orjson.loads(stats_json))
        except (orjson.JSONDecodeError, TypeError, AttributeError) as exc:
            log.warning("unreadable librdkafka statistics: %s", exc)
            return
        current = set(lags)
        for topic, partition in self._series - current:
            CONSUMER_LAG.remove(self.group, topic, partition)
        for (topic, partition), lag in lags.items():
            CONSUMER_LAG.labels(self.group, topic, partition).set(lag)
        self._series = current


def partition_lags(stats: dict[str, Any]) -> dict[tuple[str, str], int]:
    """(topic, partition) → lag for the partitions this consumer fetches, from one statistics
    object; a partition whose offsets are not known yet (-1, -1001) is left out."""
    lags: dict[tuple[str, str], int] = {}
    for topic, info in (stats.get("topics") or {}).items():
        for partition, p in (info.get("partitions") or {}).items():
            if partition == "-1" or p.get("fetch_state") not in ("active", "offset-wait"):
                continue
            high, position = p.get("hi_offset", -1), p.get("app_offset", -1)
            if high >= 0 and position >= 0:
                lags[(topic, partition)] = max(0, high - position)
    return lags
