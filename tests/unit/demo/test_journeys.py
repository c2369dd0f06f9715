"""The demo's journeys are what the collector accepts, and its example segments parse."""

from __future__ import annotations

import random

from cdp.activation.segments import load_segments
from cdp.demo import customers, example_segments, journey
from cdp.ingest.app import ingest_routes
from cdp.ingest.validate import BatchContext, validate_batch
from cdp.settings import Limits


def test_every_call_of_a_journey_is_accepted_by_the_collector_rules() -> None:
    [person] = customers(1, "t")
    batch = BatchContext("src", 1_800_000_000_000, Limits())
    for path, message in journey(person, random.Random(1)):
        kind = ingest_routes()[path][0]
        oks, errs = validate_batch([message], batch, kind)
        assert errs == [], (path, message)
        assert len(oks) == 1


def test_a_journey_browses_clicks_signs_up_buys_asks_for_help_and_logs_in_elsewhere() -> None:
    [person] = customers(1, "t")
    calls = journey(person, random.Random(1))
    events = [m.get("event") for path, m in calls if path == "/v1/track"]
    assert events[:2] == ["Product Viewed", "Product Viewed"]
    assert events[2:] == [
        "Email Link Clicked",
        "Signed Up",
        "Order Completed",
        "Support Ticket Opened",
    ]
    campaign_pages = [m for p, m in calls if p == "/v1/page" and "campaign" in m.get("context", {})]
    assert "utm_source=newsletter" in campaign_pages[0]["properties"]["url"]
    order = next(m for _, m in calls if m.get("event") == "Order Completed")
    assert order["properties"]["revenue"] > 0
    *_, (last_path, login) = calls
    assert last_path == "/v1/identify"
    assert (login["userId"], login["anonymousId"]) == (person.user_id, person.laptop_device)
    assert person.laptop_device != person.phone_device


def test_customers_are_unique_per_run_and_repeatable_per_seed() -> None:
    first, again, other = customers(5, "a"), customers(5, "a"), customers(5, "b")
    assert first == again
    assert {c.email for c in first}.isdisjoint({c.email for c in other})
    assert len({c.user_id for c in first}) == 5


def test_the_example_segments_parse() -> None:
    slugs = {d.slug for d in load_segments(example_segments())}
    assert {"running-shoe-browsers", "customers", "big-spenders", "needs-support"} <= slugs


def test_a_customer_who_does_not_buy_signs_up_and_leaves() -> None:
    [person] = customers(1, "t")
    calls = journey(person, random.Random(1), buys=False)
    events = [m.get("event") for _, m in calls]
    assert "Signed Up" in events
    assert "Order Completed" not in events
    assert all(m.get("anonymousId") != person.laptop_device for _, m in calls)
