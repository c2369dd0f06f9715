"""`cdp demo`: realistic e-commerce journeys through the collector, with example segments."""

from cdp.demo.errors import DemoError
from cdp.demo.journeys import Customer, customers, journey
from cdp.demo.runner import DemoPlan, example_segments, run_demo

__all__ = [
    "Customer",
    "DemoError",
    "DemoPlan",
    "customers",
    "example_segments",
    "journey",
    "run_demo",
]
