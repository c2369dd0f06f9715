"""The errors of configurable computed traits."""

from __future__ import annotations

from cdp.errors import CdpError

__all__ = ["TraitDefinitionError"]


class TraitDefinitionError(CdpError):
    """A computed-trait definition (or a file of them) is invalid.

    `problems` lists (path, message) pairs, the path in the form ``traits[1].event.where[0].op``;
    the text is every ``path: message`` joined by ``; ``, prefixed with the file name when known.
    """

    def __init__(self, problems: list[tuple[str, str]], source: str | None = None) -> None:
        self.problems = problems
        self.source = source
        text = "; ".join(f"{path}: {message}" if path else message for path, message in problems)
        super().__init__(f"{source}: {text}" if source else text)
