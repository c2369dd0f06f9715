"""What every cdp service exposes to operators: health, readiness, metrics and consumer lag."""

from cdp.observability.checks import standard_checks
from cdp.observability.health import HealthServer, serve_health
from cdp.observability.lag import LagStats
from cdp.observability.metrics import CONSUMER_LAG, DEAD_LETTERS, READY

__all__ = [
    "CONSUMER_LAG",
    "DEAD_LETTERS",
    "READY",
    "HealthServer",
    "LagStats",
    "serve_health",
    "standard_checks",
]
