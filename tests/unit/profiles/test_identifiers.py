"""The processor's remembered extraction gives exactly what `extract_identifiers` gives, for every
event, in any order, whichever inputs were remembered before it."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cdp.identity import IdentityRules, extract_identifiers
from cdp.profiles import identifiers as module
from cdp.profiles.events import InEvent
from cdp.profiles.identifiers import IdentifierExtractor

#: Few values, so that events share them and the memo is hit; ones that normalise alike or not
#: at all, and numbers and booleans that compare equal to each other.
VALUES: st.SearchStrategy[Any] = st.sampled_from(
    [None, "u1", " u1", "U1", "null", "", 1, 1.0, True, "1", "Jane@Example.com", "jane@example.com",
     "not an email", "+1 415 555 2671", "415.555.2671", 4155552671, {"x": 1}, ["a"]]
)  # fmt: skip
KINDS = st.sampled_from(["track", "identify", "page", "screen", "group", "alias"])


@st.composite
def events(draw: st.DrawFn) -> InEvent:
    traits = {k: draw(VALUES) for k in draw(st.sets(st.sampled_from(["email", "phone", "crm_id"])))}
    context: dict[str, Any] = {}
    shape = draw(st.sampled_from(["none", "dict", "list", "string"]))
    if shape == "dict":
        context["traits"] = {
            k: draw(VALUES) for k in draw(st.sets(st.sampled_from(["email", "phone"])))
        }
    elif shape != "none":
        context["traits"] = ["email"] if shape == "list" else "email"
    if draw(st.booleans()):
        context["device"] = {"id": draw(VALUES)}
    return InEvent(
        0, 0, "m", draw(KINDS), "s", draw(VALUES), draw(VALUES), None, None, None, draw(VALUES),
        0, 0, {}, traits, context, "{}", "{}",
    )  # fmt: skip


RULES = [
    IdentityRules(),
    IdentityRules(phone_region="GB"),
    IdentityRules(custom_paths={"device_id": "context.device.id", "crm_id": "traits.crm_id"}),
]


@settings(max_examples=300)
@given(st.lists(events(), min_size=1, max_size=30), st.sampled_from(RULES))
def test_remembered_extraction_equals_extraction(
    batch: list[InEvent], rules: IdentityRules
) -> None:
    extractor = IdentifierExtractor(rules)
    for event in batch + batch[::-1]:
        assert extractor.extract(event) == extract_identifiers(event.as_identity_input(), rules)


def test_the_memo_is_bounded(monkeypatch: Any) -> None:
    monkeypatch.setattr(module, "CACHE_SIZE", 3)
    extractor = IdentifierExtractor(IdentityRules())
    for n in range(10):
        event = InEvent(
            0, 0, "m", "track", "s", f"u{n}", None, None, None, None, None,
            0, 0, {}, {}, {}, "{}", "{}",
        )  # fmt: skip
        assert [str(i) for i in extractor.extract(event)] == [f"user_id:u{n}"]
        assert len(extractor._memo or {}) <= 3
