"""A seeded population of synthetic customers and the Segment events they produce, with the truth.

Each person has a user id, an email, often a phone, and one to three devices (anonymous ids).
On each device they browse anonymously first; then they log in (an identify with their userId
and the device's anonymousId), or, on some secondary devices, only leave their email or phone
(a newsletter or SMS opt-in: an identify with the anonymousId and the contact trait). Emails and
phones are written differently from event to event (case, surrounding spaces, phone notations),
as forms and SDKs send them. Server-side calls carry the userId alone. A few devices are shared:
days after its owner last used it, a second person logs in on it, so the right outcome is two
profiles with the device's early anonymous events on the owner's. The device keeps its
anonymousId for the second person, as Segment's mobile SDKs do until the app calls `reset()`
(and RudderStack's `reset()` by default); analytics.js would start a new anonymousId on an
identify with a different userId, so for web devices this is the harder case.

The generator knows the person behind every event, which is what identity resolution is scored
against (see `cdp.bench.quality`). The same seed and sizes always give the same workload.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import phonenumbers

__all__ = [
    "START_MS",
    "Person",
    "Workload",
    "generate",
    "phone_variants",
]

T = TypeVar("T")

#: 2024-05-01T00:00:00Z: event times start here and span about a month (one or two timeline
#: partitions), as a backfill of recent history would.
START_MS = 1_714_521_600_000
MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
#: First activity of each person falls in these days, leaving room after it for later sessions.
FIRST_SEEN_DAYS = 21

#: A shared device is used by its second person 1-3 days after its owner's last event on it: a
#: family computer or a handed-on phone, not two people at once.
SHARE_GAP_DAYS = (1.0, 3.0)
#: The share of persons who log in on a device someone else used before them.
SHARED_DEVICE_RATE = 0.03
PHONE_RATE = 0.5
DEVICE_COUNTS = (1, 2, 3)
DEVICE_CUM = tuple(itertools.accumulate((50, 35, 15)))
#: How a secondary device gets linked: a login, or only an email or phone left in a form.
LINKS = ("login", "email", "phone")
LINK_CUM = tuple(itertools.accumulate((65, 20, 15)))
SERVER_SIDE_RATE = 0.08
REIDENTIFY_RATE = 0.04

FIRST_NAMES = (
    "james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "david",
    "elizabeth", "william", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah",
    "carlos", "maria", "wei", "yuki", "amara", "lars", "fatima", "diego", "priya", "noah", "emma",
)  # fmt: skip
LAST_NAMES = (
    "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez",
    "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor",
    "moore", "jackson", "martin", "lee", "chen", "tanaka", "okafor", "berg", "khan", "patel",
)  # fmt: skip
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "proton.me")
#: Real US area codes; the subscriber part is drawn at random and kept only if phonenumbers
#: calls the whole number valid, so every phone normalises to one E.164 value.
AREA_CODES = (
    "415", "212", "646", "312", "617", "206", "303", "512", "305", "404", "213", "310", "702",
    "602", "917", "718", "773", "469", "214", "720", "503", "919", "615", "704", "801", "317",
    "614", "216", "412", "215",
)  # fmt: skip
PLANS = ("free", "basic", "pro", "team")

TRACKS = (
    ("Product Viewed", 30),
    ("Product List Viewed", 10),
    ("Products Searched", 10),
    ("Product Added", 12),
    ("Cart Viewed", 8),
    ("Checkout Started", 5),
    ("Order Completed", 4),
    ("Promotion Clicked", 3),
)
TRACK_NAMES = tuple(name for name, _ in TRACKS)
TRACK_CUM = tuple(itertools.accumulate(weight for _, weight in TRACKS))
PAGES = (
    ("Home", "/"),
    ("Search", "/search"),
    ("Product", "/products/{sku}"),
    ("Category", "/c/{category}"),
    ("Cart", "/cart"),
    ("Checkout", "/checkout"),
    ("Account", "/account"),
)
SCREENS = ("Home", "Product", "Search", "Cart", "Checkout", "Account")
CATEGORIES = ("shoes", "outerwear", "bags", "accessories", "sale")
SITE = "https://shop.example.com"
WEB_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Firefox/125.0",
)
WEB_LIBRARY = {"name": "analytics.js", "version": "next-1.64.0"}
MOBILE = {
    "ios": (
        {"name": "analytics-ios", "version": "4.1.8"},
        {"model": "iPhone15,3", "type": "ios"},
        {"name": "iOS", "version": "17.4.1"},
    ),
    "android": (
        {"name": "analytics-android", "version": "4.11.3"},
        {"model": "SM-S918B", "type": "android"},
        {"name": "Android", "version": "14"},
    ),
}
APP = {"version": "3.12.0"}
SERVER_LIBRARY = {"name": "analytics-python", "version": "2.3.2"}


#: Version 4 and the RFC 4122 variant, as `uuid.uuid4` sets them.
UUID4_MASK = ~(0xF000 << 64 | 0xC000 << 48) & (2**128 - 1)
UUID4_BITS = 0x4000 << 64 | 0x8000 << 48


def phone_variants(e164: str) -> tuple[str, ...]:
    """Notations a US number in E.164 (``+14155552671``) is commonly written in."""
    area, exchange, line = e164[2:5], e164[5:8], e164[8:]
    return (
        e164,
        f"+1 {area} {exchange} {line}",
        f"({area}) {exchange}-{line}",
        f"{area}.{exchange}.{line}",
        f"{area}-{exchange}-{line}",
        f"1-{area}-{exchange}-{line}",
        f"{area}{exchange}{line}",
    )


def _email_variant(rng: random.Random, email: str) -> str:
    roll = rng.random()
    if roll < 0.45:
        return email
    local, _, domain = email.partition("@")
    if roll < 0.65:
        return f"{local.title()}@{domain.title()}"
    if roll < 0.75:
        return email.upper()
    if roll < 0.9:
        return f" {email} "
    return f"  {local.capitalize()}@{domain}\t"


@dataclass(frozen=True, slots=True)
class Person:
    """Who is behind a set of events: their identifiers in canonical form."""

    index: int
    user_id: str
    email: str
    phone: str | None
    devices: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Workload:
    """Segment messages in event-time order, and the index of the person behind each one."""

    messages: list[dict[str, Any]]
    truth: list[int]
    times: list[int]
    """Event time of each message, epoch ms (its `timestamp`)."""
    persons: list[Person]
    shared_devices: int
    """Devices a second person logged in on after their owner."""

    def truth_by_message_id(self) -> dict[str, int]:
        return {m["messageId"]: p for m, p in zip(self.messages, self.truth, strict=True)}


@dataclass
class _Device:
    anonymous_id: str
    kind: str
    ip: str
    agent: str
    last_ms: int = 0
    logged_in: bool = False
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.context:
            self.context = _context(self)


@dataclass
class _Draft:
    at: int
    seq: int
    person: int
    message: dict[str, Any]


@dataclass
class _Builder:
    rng: random.Random
    namespace: str
    drafts: list[_Draft] = field(default_factory=list)
    seq: int = 0
    phones: set[str] = field(default_factory=set)
    user_ids: set[str] = field(default_factory=set)
    borrowable: list[_Device] = field(default_factory=list)
    shared: int = 0

    def uuid(self) -> str:
        """A random version-4 UUID in its text form, drawn from the seeded generator."""
        h = f"{self.rng.getrandbits(128) & UUID4_MASK | UUID4_BITS:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def emit(self, person: int, at: int, message: dict[str, Any]) -> None:
        message["messageId"] = self.uuid()
        message["timestamp"] = _iso(at)
        self.drafts.append(_Draft(at, self.seq, person, message))
        self.seq += 1

    def user_id(self) -> str:
        while True:
            candidate = f"{self.namespace}usr_{self.rng.getrandbits(56):014x}"
            if candidate not in self.user_ids:
                self.user_ids.add(candidate)
                return candidate

    def phone(self) -> str:
        while True:
            area = self.rng.choice(AREA_CODES)
            number = f"+1{area}{self.rng.randint(200, 999)}{self.rng.randint(0, 9999):04d}"
            if number in self.phones:
                continue
            if phonenumbers.is_valid_number(phonenumbers.parse(number)):
                self.phones.add(number)
                return number

    def device(self) -> _Device:
        roll = self.rng.random()
        kind = "web" if roll < 0.6 else "ios" if roll < 0.8 else "android"
        ip = ".".join(str(self.rng.randint(1, 254)) for _ in range(4))
        return _Device(self.uuid(), kind, ip, self.rng.choice(WEB_AGENTS))


def _iso(ms: int) -> str:
    """`ms` since the epoch as ISO 8601 in UTC with milliseconds, as SDKs send timestamps."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


def generate(persons: int, events: int, seed: int, namespace: str = "") -> Workload:
    """About `events` events of `persons` people, deterministic for a given `seed`.

    Every person first gets the events their story needs (anonymous browsing and a link on each
    device, a login on a borrowed device); what is left of `events` is shared out in proportion
    to a log-normal activity weight, so a few people are far busier than most. When the stories
    alone need more than `events`, the workload is that much larger. `namespace` goes into user
    ids and emails so that two workloads in one database never share an identifier.
    """
    if persons < 1:
        raise ValueError("persons must be at least 1")
    with _gc_paused():
        return _generate(persons, events, seed, namespace)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: the workload is millions of acyclic objects, and
    collections triggered by allocating them doubled the generation time here."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _generate(persons: int, events: int, seed: int, namespace: str) -> Workload:
    rng = random.Random(seed)
    builder = _Builder(rng, namespace)
    plans = [_plan(builder, index) for index in range(persons)]
    spare = max(0, events - sum(p.skeleton for p in plans))
    for plan, extra in zip(plans, _apportion(spare, [p.weight for p in plans]), strict=True):
        _tell(builder, plan, extra)
    builder.drafts.sort(key=lambda d: (d.at, d.seq))
    return Workload(
        [d.message for d in builder.drafts],
        [d.person for d in builder.drafts],
        [d.at for d in builder.drafts],
        [p.person for p in plans],
        builder.shared,
    )


def _apportion(total: int, weights: list[float]) -> list[int]:
    """`total` split in proportion to `weights` (largest remainders), summing to `total` exactly."""
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    shares = [int(x) for x in exact]
    left = total - sum(shares)
    by_remainder = sorted(range(len(exact)), key=lambda i: shares[i] - exact[i])
    for i in by_remainder[:left]:
        shares[i] += 1
    return shares


@dataclass
class _Plan:
    person: Person
    profile: _Profile
    devices: list[_Device]
    browsing: list[int]
    """Anonymous events on each device before it is linked."""
    links: list[str]
    borrows: bool
    t0: int
    weight: float

    @property
    def skeleton(self) -> int:
        return sum(self.browsing) + len(self.devices) + self.borrows


def _plan(b: _Builder, index: int) -> _Plan:
    rng = b.rng
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email = f"{first}.{last}{b.namespace}{index}@{rng.choice(DOMAINS)}"
    phone = b.phone() if rng.random() < PHONE_RATE else None
    user_id = b.user_id()
    profile = _Profile(index, user_id, email, phone, f"{first.title()} {last.title()}", rng)
    devices = [b.device() for _ in range(_pick(rng, DEVICE_COUNTS, DEVICE_CUM))]
    links = ["login"]
    for _ in devices[1:]:
        link = _pick(rng, LINKS, LINK_CUM)
        links.append("email" if link == "phone" and phone is None else link)
    person = Person(index, user_id, email, phone, tuple(d.anonymous_id for d in devices))
    return _Plan(
        person,
        profile,
        devices,
        [rng.randint(1, 3) for _ in devices],
        links,
        index > 0 and rng.random() < SHARED_DEVICE_RATE,
        START_MS + rng.randrange(FIRST_SEEN_DAYS * DAY_MS),
        rng.lognormvariate(0.0, 0.8),
    )


def _tell(b: _Builder, plan: _Plan, extra: int) -> None:
    """Emit the person's story: each device browsed then linked, then `extra` further events."""
    rng, index, profile = b.rng, plan.person.index, plan.profile
    logins: list[_Device] = []
    for number, (device, link) in enumerate(zip(plan.devices, plan.links, strict=True)):
        at = plan.t0 if number == 0 else plan.t0 + rng.randrange(3 * DAY_MS)
        for _ in range(plan.browsing[number]):
            at += _gap(rng)
            b.emit(index, at, _browse(rng, device, None))
        at += _gap(rng)
        if link == "login":
            b.emit(index, at, profile.identify(device, login=True))
            device.logged_in = True
            logins.append(device)
        else:
            b.emit(index, at, profile.contact(device, link))
        device.last_ms = at
    borrowed = _borrow(b, plan) if plan.borrows and b.borrowable else None
    if plan.borrows and borrowed is None:
        extra += 1
    for _ in range(extra):
        if borrowed is not None and rng.random() < 0.3:
            device = borrowed
        elif rng.random() < SERVER_SIDE_RATE:
            at = max(d.last_ms for d in logins) + _gap(rng)
            b.emit(index, at, profile.server_order(rng))
            continue
        else:
            device = rng.choice(plan.devices)
        device.last_ms += _gap(rng)
        if device.logged_in and rng.random() < REIDENTIFY_RATE:
            message = profile.identify(device, login=False)
        else:
            message = _browse(rng, device, profile.user_id if device.logged_in else None)
        b.emit(index, device.last_ms, message)
    b.borrowable.extend(logins)


def _borrow(b: _Builder, plan: _Plan) -> _Device:
    """Log the person in on a device an earlier person logged in on; the borrowed device.

    The owner's story is complete by now, so from the login on the device is this person's alone.
    """
    owned = b.borrowable.pop(b.rng.randrange(len(b.borrowable)))
    at = int(max(owned.last_ms + b.rng.uniform(*SHARE_GAP_DAYS) * DAY_MS, plan.t0))
    borrowed = _Device(
        owned.anonymous_id, owned.kind, owned.ip, owned.agent, at, True, owned.context
    )
    b.emit(plan.person.index, at, plan.profile.identify(borrowed, login=True))
    b.shared += 1
    return borrowed


def _pick(rng: random.Random, items: tuple[T, ...], cumulative: tuple[int, ...]) -> T:
    """One of `items` with the given cumulative weights (`random.choices` for one, faster)."""
    return items[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def _gap(rng: random.Random) -> int:
    """Time to the next event on a device: mostly seconds to minutes, sometimes a day or so."""
    if rng.random() < 0.85:
        return 1_000 + int(rng.expovariate(1 / (2 * MINUTE_MS)))
    return int(rng.expovariate(1 / DAY_MS))


@dataclass
class _Profile:
    index: int
    user_id: str
    email: str
    phone: str | None
    name: str
    rng: random.Random

    def identify(self, device: _Device, login: bool) -> dict[str, Any]:
        traits: dict[str, Any] = {"email": _email_variant(self.rng, self.email)}
        if login:
            traits["name"] = self.name
            traits["plan"] = self.rng.choice(PLANS)
        else:
            traits["plan"] = self.rng.choice(PLANS)
        if self.phone is not None and (login or self.rng.random() < 0.5):
            traits["phone"] = self.rng.choice(phone_variants(self.phone))
        return {
            "type": "identify",
            "userId": self.user_id,
            "anonymousId": device.anonymous_id,
            "traits": traits,
            "context": device.context,
        }

    def contact(self, device: _Device, link: str) -> dict[str, Any]:
        """An anonymous visitor leaving an email (newsletter) or phone (SMS opt-in)."""
        if link == "phone" and self.phone is not None:
            traits = {"phone": self.rng.choice(phone_variants(self.phone)), "sms_opt_in": True}
        else:
            traits = {"email": _email_variant(self.rng, self.email), "newsletter": True}
        return {
            "type": "identify",
            "anonymousId": device.anonymous_id,
            "traits": traits,
            "context": device.context,
        }

    def server_order(self, rng: random.Random) -> dict[str, Any]:
        """A backend's Order Completed: userId only, revenue in the properties."""
        return {
            "type": "track",
            "userId": self.user_id,
            "event": "Order Completed",
            "properties": _order(rng),
            "context": {"library": SERVER_LIBRARY},
        }


def _browse(rng: random.Random, device: _Device, user_id: str | None) -> dict[str, Any]:
    """A page, screen or track call on `device`, by a known user when `user_id` is set."""
    message: dict[str, Any]
    if rng.random() < 0.35:
        if device.kind == "web":
            name, path = rng.choice(PAGES)
            path = path.format(sku=_sku(rng), category=rng.choice(CATEGORIES))
            message = {
                "type": "page",
                "name": name,
                "properties": {"path": path, "url": SITE + path, "title": f"{name} | Shop"},
            }
        else:
            message = {"type": "screen", "name": rng.choice(SCREENS), "properties": {}}
    else:
        event = _pick(rng, TRACK_NAMES, TRACK_CUM)
        message = {"type": "track", "event": event, "properties": _properties(rng, event)}
    message["anonymousId"] = device.anonymous_id
    if user_id is not None:
        message["userId"] = user_id
    message["context"] = device.context
    return message


def _sku(rng: random.Random) -> str:
    return f"sku-{rng.randrange(5000):04d}"


def _properties(rng: random.Random, event: str) -> dict[str, Any]:
    if event == "Order Completed":
        return _order(rng)
    if event == "Products Searched":
        return {"query": rng.choice(("boots", "rain jacket", "tote", "sneakers", "scarf"))}
    if event in ("Product List Viewed", "Promotion Clicked"):
        return {"category": rng.choice(CATEGORIES), "list_id": f"list-{rng.randrange(40)}"}
    price = round(rng.uniform(9, 250), 2)
    return {"product_id": _sku(rng), "price": price, "currency": "USD", "quantity": 1}


def _order(rng: random.Random) -> dict[str, Any]:
    prices = [round(rng.uniform(9, 150), 2) for _ in range(rng.randint(1, 3))]
    items = [{"product_id": _sku(rng), "price": price, "quantity": 1} for price in prices]
    return {
        "order_id": f"ord-{rng.getrandbits(40):010x}",
        "revenue": round(sum(prices), 2),
        "currency": "USD",
        "products": items,
    }


def _context(device: _Device) -> dict[str, Any]:
    """What the device's SDK puts in every event's `context` (the same object for all of them)."""
    if device.kind == "web":
        return {
            "library": WEB_LIBRARY,
            "userAgent": device.agent,
            "ip": device.ip,
        }
    library, hardware, system = MOBILE[device.kind]
    return {
        "library": library,
        "device": hardware,
        "os": system,
        "app": APP,
        "ip": device.ip,
    }
