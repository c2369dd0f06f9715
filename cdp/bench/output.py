"""What every benchmark's report shares: rounding, the JSON file under `bench-results/`, the
two-column table, and a goal's verdict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import orjson
from rich.table import Table

__all__ = ["render_rows", "rounded", "verdict", "write_json"]


def rounded(values: Mapping[str, float | None], digits: int) -> dict[str, object]:
    return {k: None if v is None else round(v, digits) for k, v in values.items()}


def write_json(kind: str, started_at: datetime, document: object, directory: Path) -> Path:
    """Write `document` to `directory`/<kind>-<UTC start time>.json; the path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{kind}-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    return path


def render_rows(kind: str, rows: Iterable[tuple[str, str]]) -> Table:
    """The figures as two columns under the title `cdp bench <kind>`."""
    table = Table(kind, "", title=f"cdp bench {kind}", title_justify="left")
    for name, value in rows:
        table.add_row(name, value)
    return table


def verdict(met: bool | None, goal: str) -> str:
    if met is None:
        return f"(goal {goal}: not measured)"
    return f"(goal {goal}: {'met' if met else '[red]NOT met[/red]'})"
