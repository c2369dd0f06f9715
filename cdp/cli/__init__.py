"""The `cdp` command line."""

from cdp.cli.main import app, main

__all__ = ["app", "main"]
