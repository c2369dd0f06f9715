"""The web console: static HTML, ES modules and CSS served by the API at `/console`, no build step."""

from cdp.console.mount import CONSOLE_PATH, mount_console, static_dir

__all__ = ["CONSOLE_PATH", "mount_console", "static_dir"]
