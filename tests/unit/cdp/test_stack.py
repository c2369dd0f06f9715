"""The children `cdp up` starts."""

from __future__ import annotations

from cdp.stack import SERVICES, instances


def test_one_child_per_service_by_default() -> None:
    assert instances(SERVICES, 1) == [(s, s) for s in SERVICES]


def test_several_processors_get_numbered_names_and_run_the_processor_command() -> None:
    assert instances(("collector", "processor", "relay"), 3) == [
        ("collector", "collector"),
        ("processor", "processor"),
        ("processor-2", "processor"),
        ("processor-3", "processor"),
        ("relay", "relay"),
    ]
