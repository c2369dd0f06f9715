"""The embedded development stack: Tansu broker and embedded Postgres."""

from cdp.embedded.broker import EmbeddedBroker, free_port
from cdp.embedded.postgres import EmbeddedPostgres
from cdp.embedded.state import StackState, apply_stack_state, read_state, write_state

__all__ = [
    "EmbeddedBroker",
    "EmbeddedPostgres",
    "StackState",
    "apply_stack_state",
    "free_port",
    "read_state",
    "write_state",
]
