"""`cdp demo`: apply the example segments, stream the journeys through the collector, say where to look."""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from cdp.demo.errors import DemoError
from cdp.demo.journeys import Customer, customers, journey
from cdp.demo.webhook import DEMO_DESTINATION, QUIET_S, DemoReceiver, describe
from cdp.settings import Settings

__all__ = ["DemoPlan", "example_segments", "run_demo"]

#: The processor applies a batch within a second here; a minute covers a loaded machine.
SETTLE_TIMEOUT_S = 60.0
#: A journey spans about an hour; journeys start within the last three days.
STEP = timedelta(minutes=6)
SPREAD_H = 72
#: Every fourth customer signs up and leaves without buying, so "browsed, no order" has members.
ABANDON_EVERY = 4


def example_segments() -> Path:
    """The YAML file of example segments shipped with cdp."""
    return Path(str(files("cdp.demo") / "segments.yaml"))


@dataclass(frozen=True)
class DemoPlan:
    """Where the demo sends and reads, and how many customers it makes up."""

    collector_url: str
    api_url: str
    write_key: str
    api_token: str
    customers: int = 20
    seed: int = 7
    listen_s: float = 20.0
    """How long at most the demo's webhook receiver keeps printing deliveries after the events
    are in; it stops earlier once they stop (`DemoReceiver.listen`). 0: no receiver, no
    destination."""


def run_demo(settings: Settings, plan: DemoPlan, say: Callable[[str], None] = print) -> Customer:
    """Run the demo; returns the customer it points the user to. `DemoError` if a step fails."""
    applied = _apply_segments(settings)
    say(f"Applied {len(applied)} example segments: {', '.join(applied)}")
    with contextlib.ExitStack() as stack:
        receiver = None
        if plan.listen_s > 0:
            receiver = stack.enter_context(
                DemoReceiver(settings, applied, lambda change: say(describe(change)))
            )
            say(f"Registered destination {DEMO_DESTINATION!r}: a webhook to {receiver.url}")
        run = uuid.uuid4().hex[:6]
        people = customers(plan.customers, run, plan.seed)
        sent = _stream(plan, people, random.Random(plan.seed))
        say(f"Sent {sent} events for {len(people)} customers through {plan.collector_url}")
        star = people[0]
        profile = _settled(plan, star)
        say(_where_to_look(plan, star, profile))
        if receiver is not None:
            say(
                f"Listening up to {plan.listen_s:g} s for webhook deliveries, until none came "
                f"for {QUIET_S:g} s (Ctrl-C to stop) ..."
            )
            with contextlib.suppress(KeyboardInterrupt):
                receiver.listen(plan.listen_s)
            say(
                f"{receiver.received} signed deliveries received; the destination is removed "
                "again (`cdp destinations apply` makes lasting ones)."
            )
    return star


def _apply_segments(settings: Settings) -> list[str]:
    from cdp.activation.operations import apply_definitions
    from cdp.activation.segments import load_segments
    from cdp.db import create_engine

    engine = create_engine(settings, pool_size=1)
    try:
        done = apply_definitions(settings, engine, load_segments(example_segments()))
    finally:
        engine.dispose()
    return [a.slug for a in done]


def _stream(plan: DemoPlan, people: list[Customer], rng: random.Random) -> int:
    now = datetime.now(UTC)
    sent = 0
    with httpx.Client(base_url=plan.collector_url, auth=(plan.write_key, ""), timeout=10) as http:
        for i, person in enumerate(people):
            at = now - timedelta(hours=rng.uniform(2, SPREAD_H))
            for path, message in journey(person, rng, buys=i % ABANDON_EVERY != ABANDON_EVERY - 1):
                body = {**message, "timestamp": at.isoformat(), "messageId": str(uuid.uuid4())}
                try:
                    response = http.post(path, json=body)
                except httpx.HTTPError as exc:
                    raise DemoError(
                        f"the collector at {plan.collector_url} is unreachable: {exc}"
                    ) from exc
                if response.status_code != 200:
                    raise DemoError(
                        f"the collector refused {path}: {response.status_code} {response.text}"
                    )
                at += STEP
                sent += 1
    return sent


def _settled(plan: DemoPlan, person: Customer) -> dict[str, Any]:
    """The person's profile once their order and their second device's merge are applied."""
    ref = quote(f"user_id:{person.user_id}", safe=":")
    headers = {"Authorization": f"Bearer {plan.api_token}"}
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    with httpx.Client(base_url=plan.api_url, headers=headers, timeout=5) as http:
        while time.monotonic() < deadline:
            response = http.get(f"/v1/profiles/{ref}")
            if response.status_code == 401:
                raise DemoError("the API refused the token: set CDP_API_TOKEN as the stack has it")
            if response.status_code == 200:
                profile: dict[str, Any] = response.json()
                ids = {(i["type"], i["value"]) for i in profile["identifiers"]}
                if ("anonymous_id", person.laptop_device) in ids and profile["computed"].get(
                    "order_count"
                ):
                    return profile
            time.sleep(0.5)
    raise DemoError(f"the processor did not apply the demo within {SETTLE_TIMEOUT_S:.0f}s")


def _where_to_look(plan: DemoPlan, person: Customer, profile: dict[str, Any]) -> str:
    merged = profile.get("merge_count", 0)
    return "\n".join(
        [
            f"{person.first_name} {person.last_name} is profile {profile['profile_id']}: "
            f"{len(profile['identifiers'])} identifiers, {merged} merge(s), "
            f"revenue {profile['computed'].get('total_revenue')}.",
            "",
            "Where to look:",
            f"  console   {plan.api_url}/console/#/customer/{quote(person.email)}   (API key: your CDP_API_TOKEN)",
            f"  profile   cdp profile show email:{person.email}",
            "  segments  cdp segments list",
            "  pipeline  cdp status",
            "  raw feed  cdp tail cdp.events.raw --from-beginning --max 5",
        ]
    )
