"""What every command needs: settings (with a running stack's addresses filled in) and logging."""

from __future__ import annotations

import typer

from cdp.embedded import apply_stack_state
from cdp.errors import CdpError
from cdp.logs import configure_logging
from cdp.settings import Settings, load_settings

__all__ = ["fail", "settings_for_command"]


def settings_for_command(stage: str | None = None) -> Settings:
    """Settings from the environment, pointed at a running `cdp up` where nothing is configured.
    A service passes its `stage`, which then names every log line it writes."""
    try:
        settings = apply_stack_state(load_settings())
    except CdpError as exc:
        fail(str(exc))
    configure_logging(settings.log_level, stage)
    return settings


def fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(2)
