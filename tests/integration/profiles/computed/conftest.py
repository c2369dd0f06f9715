"""Fixtures for computed traits: the segment tests' fresh database with event partitions."""

from tests.integration.activation.conftest import segments_engine, segments_template

__all__ = ["segments_engine", "segments_template"]
