"""JSON log lines carry the service's stage, and the messageId where there is one."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from cdp.deadletter import DeadLetter, encode_dead_letter
from cdp.logs import configure_logging
from cdp.schemas import Codec, ManifestCatalog


@pytest.fixture
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _lines(err: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in err.splitlines() if line.startswith("{")]


def test_every_line_names_the_stage_unless_the_call_names_another(
    restore_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "processor")
    logging.getLogger("cdp.test").info("plain")
    logging.getLogger("cdp.test").info("other", extra={"stage": "relay"})
    first, second = _lines(capsys.readouterr().err)
    assert (first["message"], first["stage"]) == ("plain", "processor")
    assert second["stage"] == "relay"


def test_a_dead_letter_is_logged_with_its_stage_reason_and_message_id(
    restore_root: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "collector")
    letter = DeadLetter("processor", "undecodable", "bad avro", b"\x00", message_id="m-1")
    encode_dead_letter(Codec(ManifestCatalog()), letter)
    (line,) = [x for x in _lines(capsys.readouterr().err) if x["logger"] == "cdp.deadletter"]
    assert line["stage"] == "processor"
    assert line["message_id"] == "m-1"
    assert "undecodable" in str(line["message"])
