"""Serving the console's files from the installed package."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

__all__ = ["CONSOLE_PATH", "mount_console", "static_dir"]

CONSOLE_PATH = "/console"


def static_dir() -> Path:
    """Where the console's files are; shipped as package data (see `setup.py`)."""
    return Path(str(files("cdp.console") / "static"))


def mount_console(app: FastAPI) -> None:
    """Serve the console at `/console/` without auth: the page asks for the API key itself and
    sends it as the bearer token on every data request, so the files hold nothing secret."""

    @app.get(CONSOLE_PATH, include_in_schema=False)
    async def console_root() -> Response:
        return RedirectResponse(f"{CONSOLE_PATH}/", status_code=307)

    app.mount(CONSOLE_PATH, StaticFiles(directory=static_dir(), html=True), name="console")
