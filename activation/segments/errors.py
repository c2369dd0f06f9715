"""The error a segment definition that cannot be used raises."""

from __future__ import annotations

from cdp.errors import CdpError

__all__ = ["SegmentDefinitionError"]


class SegmentDefinitionError(CdpError):
    """A segment definition (or a file of them) is invalid.

    `problems` lists (path, message) pairs, the path in the form
    ``segments[1].condition.all[2].trait.op``; the error's text is every ``path: message`` joined by
    ``; `` and prefixed with the file name when there is one.
    """

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        text = "; ".join(f"{path}: {message}" if path else message for path, message in problems)
        super().__init__(f"{source}: {text}" if source else text)
