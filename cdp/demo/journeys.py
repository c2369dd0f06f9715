"""Realistic e-commerce journeys as Segment tracking-API calls: (path, message) in order.

One customer: anonymous browsing of running shoes, a campaign email click with UTM parameters,
sign-up (identify with traits and consent), an `Order Completed` with revenue, a support ticket,
and a second device that logs in, so its anonymous profile merges into the customer's.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

__all__ = ["Customer", "customers", "journey"]

FIRST = ("Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Ken", "Radia", "Tim", "Frances")
LAST = ("Lovelace", "Hopper", "Torvalds", "Hamilton", "Turing", "Liskov", "Thompson", "Perlman")
SHOES = (
    ("sku-trail-3", "Trail Runner 3", 129.0),
    ("sku-road-x", "Road Racer X", 149.0),
    ("sku-daily-2", "Daily Trainer 2", 99.0),
    ("sku-carbon", "Carbon Pro", 219.0),
)
SITE = "https://shop.example.com"

Call = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Customer:
    """A demo person: their ids on two devices and who they are."""

    user_id: str
    email: str
    first_name: str
    last_name: str
    phone_device: str
    laptop_device: str


def customers(count: int, run: str, seed: int = 7) -> list[Customer]:
    """`count` people whose ids are unique to `run`, so the demo can be run again."""
    rng = random.Random(seed)
    people = []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        people.append(
            Customer(
                user_id=f"user-{run}-{i:03d}",
                email=f"{first}.{last}.{run}{i}@example.com".lower(),
                first_name=first,
                last_name=last,
                phone_device=f"anon-{uuid.UUID(int=rng.getrandbits(128))}",
                laptop_device=f"anon-{uuid.UUID(int=rng.getrandbits(128))}",
            )
        )
    return people


def _page(anon: str, path: str, title: str, **extra: Any) -> Call:
    return (
        "/v1/page",
        {
            "anonymousId": anon,
            "name": title,
            "properties": {"path": path, "url": f"{SITE}{path}", "title": title},
            **extra,
        },
    )


def journey(person: Customer, rng: random.Random, buys: bool = True) -> list[Call]:
    """The calls of one customer's journey, in the order a real visit would make them.

    Without `buys` the customer signs up and leaves: no order, no ticket, no second device.
    """
    anon, second = person.phone_device, person.laptop_device
    viewed = rng.sample(SHOES, 2)
    bought = viewed[0]
    campaign = {
        "source": "newsletter",
        "medium": "email",
        "name": "spring-running",
        "content": "hero",
    }
    order_id = f"order-{uuid.UUID(int=rng.getrandbits(128)).hex[:10]}"
    calls: list[Call] = [_page(anon, "/running-shoes", "Running shoes")]
    for sku, name, price in viewed:
        calls.append(
            (
                "/v1/track",
                {
                    "anonymousId": anon,
                    "event": "Product Viewed",
                    "properties": {
                        "product_id": sku,
                        "name": name,
                        "price": price,
                        "category": "running shoes",
                    },
                },
            )
        )
    calls += [
        _page(
            anon,
            "/running-shoes?utm_source=newsletter&utm_medium=email&utm_campaign=spring-running",
            "Running shoes",
            context={"campaign": campaign},
        ),
        (
            "/v1/track",
            {
                "anonymousId": anon,
                "event": "Email Link Clicked",
                "properties": {"link": f"{SITE}/running-shoes", "campaign": "spring-running"},
                "context": {"campaign": campaign},
            },
        ),
        (
            "/v1/identify",
            {
                "anonymousId": anon,
                "userId": person.user_id,
                "traits": {
                    "email": person.email,
                    "first_name": person.first_name,
                    "last_name": person.last_name,
                    "plan": "member",
                },
                "context": {
                    "consent": {
                        "categoryPreferences": {"marketing": rng.random() < 0.7, "analytics": True}
                    }
                },
            },
        ),
        (
            "/v1/track",
            {
                "userId": person.user_id,
                "anonymousId": anon,
                "event": "Signed Up",
                "properties": {"method": "email"},
            },
        ),
    ]
    if not buys:
        return calls
    calls += [
        (
            "/v1/track",
            {
                "userId": person.user_id,
                "event": "Order Completed",
                "properties": {
                    "order_id": order_id,
                    "revenue": bought[2],
                    "currency": "USD",
                    "products": [
                        {
                            "product_id": bought[0],
                            "name": bought[1],
                            "price": bought[2],
                            "quantity": 1,
                        }
                    ],
                },
            },
        ),
        (
            "/v1/track",
            {
                "userId": person.user_id,
                "event": "Support Ticket Opened",
                "properties": {
                    "ticket_id": f"T-{rng.randint(1000, 9999)}",
                    "subject": "Sizing of the " + bought[1],
                    "channel": "email",
                },
            },
        ),
        _page(second, "/account/orders", "Your orders"),
        (
            "/v1/identify",
            {"anonymousId": second, "userId": person.user_id, "traits": {"last_device": "laptop"}},
        ),
    ]
    return calls
