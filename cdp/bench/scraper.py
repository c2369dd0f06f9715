"""A Prometheus stand-in for the pipeline bench: scrapes each processor's `/metrics` on a fixed
interval, so serving and collecting metrics is part of what `--metrics` measures."""

from __future__ import annotations

import threading
from types import TracebackType

import httpx

__all__ = ["SCRAPE_INTERVAL_S", "MetricsScraper"]

#: 15 times Prometheus' default interval (15 s): a pessimistic load, so a cost that shows here
#: is an upper bound of what a real scrape configuration adds.
SCRAPE_INTERVAL_S = 1.0


class MetricsScraper:
    """Scrapes `http://127.0.0.1:<port>/metrics` for every port until the context exits; counts
    the scrapes that answered 200 (the processors open their port a moment after they start)."""

    def __init__(self, ports: list[int], interval_s: float = SCRAPE_INTERVAL_S) -> None:
        self._urls = [f"http://127.0.0.1:{port}/metrics" for port in ports]
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.scrapes = 0

    def __enter__(self) -> MetricsScraper:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=2.0) as client:
            while not self._stop.wait(self._interval_s):
                for url in self._urls:
                    try:
                        if client.get(url).status_code == 200:
                            self.scrapes += 1
                    except httpx.HTTPError:
                        continue
