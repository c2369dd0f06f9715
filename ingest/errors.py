"""Errors of the collector."""

from __future__ import annotations

from cdp.errors import CdpError

__all__ = ["RequestRejected", "Unauthorized"]


class RequestRejected(CdpError):
    """The whole request is refused with `status`; the body carries `code` and `message`.

    Every refusal carries a `code`: one SDK retries a `400` whose JSON lacks it.
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Unauthorized(RequestRejected):
    """The write key is missing, unknown or disabled."""

    def __init__(self, message: str) -> None:
        super().__init__(401, "unauthorized", message)
