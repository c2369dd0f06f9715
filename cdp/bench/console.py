"""`cdp bench console`: the customer-360 page load for one profile with many events.

An embedded broker and Postgres under a temporary home; `events` messages of one customer go
onto the raw topic as the collector encodes them and a real processor folds them; the profile API
serves the console; headless Chromium (Debian's, driven by Playwright) opens the customer's page
and the time runs until the timeline's first page is rendered. The first load is in a fresh
browser context (nothing cached), the others in fresh pages of a context whose HTTP cache holds
the console's files, as a support agent's browser would after the first visit.
"""

from __future__ import annotations

import contextlib
import random
import secrets
import shutil
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import uvicorn
from confluent_kafka import Producer
from pydantic import SecretStr

from cdp.bench.environment import temporary_home
from cdp.bench.errors import BenchError
from cdp.bench.processor import ProcessorProcess
from cdp.bench.report import machine_info
from cdp.embedded import free_port
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.schemas import EVENT, codec_for
from cdp.settings import Limits, Settings, load_settings
from cdp.stack import EmbeddedServices, prepare

__all__ = ["ConsoleBenchOptions", "run_console_bench"]

CHROMIUM = "/usr/bin/chromium"
USER_ID = "bench-console-user"
#: Waiting for the processor to fold the events; 10,000 take a few seconds here.
APPLY_TIMEOUT_S = 300.0
PAGE_TIMEOUT_MS = 60_000
EVENT_NAMES = ("Product Viewed", "Product Added", "Order Completed", "Support Ticket Opened")


@dataclass(frozen=True)
class ConsoleBenchOptions:
    events: int = 10_000
    loads: int = 5
    api_samples: int = 20
    seed: int = 1


def run_console_bench(
    options: ConsoleBenchOptions, announce: Callable[[str], None] = print
) -> dict[str, Any]:
    """Every figure of the run, as a JSON-ready dict."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BenchError("playwright is not installed: pip install -e '.[test]'") from exc
    if shutil.which(CHROMIUM) is None:
        raise BenchError(f"no {CHROMIUM}: run `make browser` (apt-get install chromium)")
    started_at = datetime.now(UTC)
    token = secrets.token_urlsafe(16)
    with temporary_home() as home:
        services = EmbeddedServices(load_settings(home=home, embedded_kafka_port=free_port()))
        try:
            announce("starting Kafka and Postgres ...")
            settings = services.start().model_copy(update={"api_token": SecretStr(token)})
            prepare(settings)
            announce(f"folding {options.events:,} events of one customer ...")
            fold_s = _seed(settings, options, home)
            with _api(settings) as api_url:
                api_ms = _api_timings(api_url, token, options.api_samples)
                announce("loading the customer's page in headless Chromium ...")
                with sync_playwright() as p:
                    browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                    try:
                        loads = _page_loads(browser, api_url, token, options.loads)
                    finally:
                        browser.close()
        finally:
            services.stop()
    warm = loads[1:]
    return {
        "started_at": started_at.isoformat(),
        "events_in_profile": options.events,
        "fold_seconds": round(fold_s, 2),
        "first_page_events": loads[0]["rows"],
        "cold_load_ms": loads[0],
        "warm_load_ms": {
            "runs": len(warm),
            "median_wall": _median(x["wall"] for x in warm),
            "median_in_page": _median(x["in_page"] for x in warm),
            "median_shell_loaded": _median(x["shell_loaded"] for x in warm),
            "max_wall": max((x["wall"] for x in warm), default=None),
        },
        "api_events_page_ms": api_ms,
        "machine": machine_info(),
    }


def _median(values: Iterator[float] | Any) -> float | None:
    data = list(values)
    return round(statistics.median(data), 1) if data else None


def _messages(count: int, seed: int) -> list[dict[str, Any]]:
    """One customer's history: page views and track events over the last `count` minutes."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out: list[dict[str, Any]] = [
        {"type": "identify", "userId": USER_ID, "traits": {"email": "bench@example.com"}}
    ]
    for i in range(count - 1):
        at = (now - timedelta(minutes=count - i)).isoformat()
        if rng.random() < 0.5:
            out.append(
                {
                    "type": "page",
                    "userId": USER_ID,
                    "name": "Running shoes",
                    "timestamp": at,
                    "properties": {"path": f"/p/{rng.randint(1, 500)}", "title": "Running shoes"},
                }
            )
        else:
            out.append(
                {
                    "type": "track",
                    "userId": USER_ID,
                    "event": rng.choice(EVENT_NAMES),
                    "timestamp": at,
                    "properties": {
                        "sku": f"sku-{rng.randint(1, 500)}",
                        "price": rng.randint(20, 250),
                    },
                }
            )
    return out


def _seed(settings: Settings, options: ConsoleBenchOptions, home: Path) -> float:
    """Put the events on the raw topic and wait for the processor; seconds it took to fold them."""
    codec = codec_for(settings)
    oks, errs = validate_batch(
        _messages(options.events, options.seed),
        BatchContext("src_bench_console", int(time.time() * 1000), Limits()),
    )
    if errs:
        raise BenchError(f"the generated events were refused: {errs[0].reason}")
    producer = Producer(settings.kafka_config(**{"linger.ms": 20}))
    for ok in oks:
        producer.produce(settings.topics.raw, codec.encode(EVENT, ok.envelope), ok.key)
    if producer.flush(30) != 0:
        raise BenchError("the broker did not take the events")
    started = time.monotonic()
    with ProcessorProcess(settings, home / "logs" / "processor.log") as processor:
        deadline = started + APPLY_TIMEOUT_S
        while _applied(settings) < len(oks):
            processor.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"the processor did not fold the events in {APPLY_TIMEOUT_S:.0f}s")
            time.sleep(0.2)
    return time.monotonic() - started


def _applied(settings: Settings) -> int:
    with psycopg.connect(settings.database_dsn()) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE consumer_group = %s",
            (settings.processor_group,),
        ).fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def _api(settings: Settings) -> Iterator[str]:
    from cdp.profiles.api_service import api_uvicorn_config

    port = free_port()
    server = uvicorn.Server(api_uvicorn_config(settings, port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise BenchError("the profile API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def _api_timings(api_url: str, token: str, samples: int) -> dict[str, float | None]:
    """The timeline's first page straight from the API (what the page waits for last)."""
    headers = {"Authorization": f"Bearer {token}"}
    times = []
    with httpx.Client(base_url=api_url, headers=headers, timeout=30) as http:
        for _ in range(samples + 1):
            started = time.perf_counter()
            response = http.get(f"/v1/profiles/user_id:{USER_ID}/events?limit=50")
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise BenchError(f"the events page failed: {response.status_code} {response.text}")
    warm = times[1:]
    return {"median": _median(warm), "max": round(max(warm), 1) if warm else None}


def _page_loads(browser: Any, api_url: str, token: str, loads: int) -> list[dict[str, Any]]:
    """Per load: wall time from navigation to the rendered timeline, the in-page mark of the
    same moment, and when the console's HTML and modules had loaded (DOMContentLoaded)."""
    context = browser.new_context()
    context.add_init_script(f"sessionStorage.setItem('cdp.apiKey', '{token}')")
    url = f"{api_url}/console/#/customer/user_id:{USER_ID}"
    out = []
    try:
        for _ in range(loads + 1):
            page = context.new_page()
            started = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#timeline[data-rendered]", timeout=PAGE_TIMEOUT_MS)
            wall = (time.perf_counter() - started) * 1000
            in_page = page.evaluate(
                "performance.getEntriesByName('cdp:timeline-rendered')[0].startTime"
            )
            shell = page.evaluate(
                "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
            )
            rows = page.locator("#timeline tr.event").count()
            out.append(
                {
                    "wall": round(wall, 1),
                    "in_page": round(float(in_page), 1),
                    "shell_loaded": round(float(shell), 1),
                    "rows": rows,
                }
            )
            if len(out) == 1:
                _check_paging(page, rows)
            page.close()
    finally:
        context.close()
    return out


def _check_paging(page: Any, rows: int) -> None:
    """The second page follows the first: `BenchError` if "Older events" does not add a page."""
    page.click("#timeline button.more")
    page.wait_for_selector(f"#timeline[data-rendered='{2 * rows}']", timeout=PAGE_TIMEOUT_MS)
    times = page.eval_on_selector_all(
        "#timeline tr.event td:first-child", "cells => cells.map(c => c.textContent)"
    )
    if times != sorted(times, reverse=True) or len(set(times)) != len(times):
        raise BenchError("the timeline's second page does not continue the first, newest first")
