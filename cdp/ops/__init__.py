"""Operations views: consumer lag, dead letters and replay, segment sizes, for `cdp status` and the console."""

from cdp.ops.api import ops_router
from cdp.ops.errors import OpsError, ReplayRefused
from cdp.ops.overview import overview, rates, segment_history

__all__ = ["OpsError", "ReplayRefused", "ops_router", "overview", "rates", "segment_history"]
