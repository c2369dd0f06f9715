"""The bench's metrics scraper reads every processor's /metrics until stopped."""

from __future__ import annotations

from cdp.bench.scraper import MetricsScraper
from cdp.observability import HealthServer
from tests.conftest import wait_for


def test_scrapes_each_port_until_stopped_and_survives_a_closed_one() -> None:
    server = HealthServer("scraped", "127.0.0.1", 0, {}).start()
    try:
        with MetricsScraper([server.port, 9], interval_s=0.05) as scraper:
            wait_for(lambda: scraper.scrapes >= 3, timeout=10, what="three scrapes")
        stopped_at = scraper.scrapes
    finally:
        server.stop()
    assert not scraper._thread.is_alive()
    assert scraper.scrapes == stopped_at
