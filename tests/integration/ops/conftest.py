"""The processor fixtures (fresh database, own topics, a sender and a processor) for ops tests."""

from tests.integration.profiles.conftest import (  # noqa: F401
    pipeline_settings,
    processed,
    processor,
    sender,
    template_database,
)
