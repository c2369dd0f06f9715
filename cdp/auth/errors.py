"""Refusals of the access-control layer, each with the HTTP status the APIs answer with."""

from __future__ import annotations

from cdp.errors import CdpError

__all__ = ["AuthError", "KeyExists", "UnknownKey"]


class AuthError(CdpError):
    """A request refused: 401 (no, unknown or revoked key) or 403 (the key lacks a role).

    The APIs answer with `status`, the JSON body ``{"code", "message"}`` and `headers`.
    """

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


class KeyExists(CdpError):
    """An API key of that name exists already."""


class UnknownKey(CdpError):
    """No active API key has that id or name."""
