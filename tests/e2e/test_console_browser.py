"""The web console in headless Chromium against `cdp up`: the demo's customer, found and shown.

Debian's chromium driven by Playwright (`executable_path`, no `playwright install`); `make browser`
installs it. The test skips, saying why, only when no chromium can be launched here.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_cdp_up import Stack, stack  # noqa: F401

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
TOKEN = "changethis"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed: run `make install`"
    )
    if shutil.which(CHROMIUM) is None:
        pytest.skip(f"no {CHROMIUM}: run `make browser` (apt-get install chromium) as root")
    with playwright_api.sync_playwright() as p:
        try:
            launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        except playwright_api.Error as exc:
            pytest.skip(f"{CHROMIUM} does not start here: {exc}")
        yield launched
        launched.close()


@pytest.fixture
def demo_stack(stack: Stack) -> Iterator[Stack]:  # noqa: F811
    """The stack, stopped with Ctrl-C afterwards so its services and broker stop too."""
    yield stack
    if stack.process.poll() is None:
        stack.process.send_signal(signal.SIGINT)
        stack.process.wait(60)


def run_cdp(running: Stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cdp", *args],
        env={**running.env, "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_search_a_demo_customer_and_see_their_timeline(demo_stack: Stack, browser: Any) -> None:
    out = run_cdp(demo_stack, "demo", "--customers", "3", "--listen", "30")
    email = re.search(r"cdp profile show email:(\S+)", out)
    assert email, out
    assert re.search(r"webhook: entered +customers ", out), out
    delivered = re.search(r"(\d+) signed deliveries received", out)
    assert delivered, out
    assert int(delivered[1]) > 0
    api = f"http://127.0.0.1:{demo_stack.env['CDP_API_PORT']}"

    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{api}/console")
    page.fill("#api-key", "not-the-key")
    page.click("#login button[type=submit]")
    page.wait_for_selector("#login-error:has-text('refused')")

    page.fill("#api-key", TOKEN)
    page.click("#login button[type=submit]")
    page.wait_for_selector("#health .cards")
    page.click("a[data-page=customer]")
    page.fill("#customer-search", email.group(1))
    page.click("form.search button[type=submit]")
    page.wait_for_selector("#timeline[data-rendered]", timeout=30_000)

    rows = page.locator("#timeline tr.event")
    assert rows.count() == 11
    timeline = page.inner_text("#timeline")
    for event in (
        "Order Completed",
        "Support Ticket Opened",
        "Email Link Clicked",
        "Product Viewed",
    ):
        assert event in timeline
    assert email.group(1) in page.inner_text("#customer")
    assert page.evaluate("sessionStorage.getItem('cdp.apiKey')") == TOKEN
    assert problems == []

    status = run_cdp(demo_stack, "status", "--once", "--interval", "0.5")
    assert "cdp-processor" in status
    assert "Destinations" in status
