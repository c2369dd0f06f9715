"""The schema-registry path, against a minimal server speaking the Confluent registry's REST API.

Only the two calls cdp makes are served: register a subject version, and fetch a schema by id.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from cdp.schemas import (
    DEAD_LETTER,
    EVENT,
    Codec,
    RegistryCatalog,
    RegistryUnavailable,
    UnknownSchema,
    codec_for,
)
from cdp.schemas.catalog import manifest
from cdp.settings import Settings


class Registry:
    """Ids start at 1000 so they cannot be mistaken for the manifest's."""

    def __init__(self) -> None:
        self.by_id: dict[int, str] = {}
        self.subjects: dict[str, list[int]] = {}
        self.failing = False


def serve(registry: Registry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def reply(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            subject = self.path.split("/")[2]
            schema = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["schema"]
            for schema_id, text in registry.by_id.items():
                if text == schema:
                    return self.reply(200, {"id": schema_id})
            schema_id = 1000 + len(registry.by_id)
            registry.by_id[schema_id] = schema
            registry.subjects.setdefault(subject, []).append(schema_id)
            return self.reply(200, {"id": schema_id})

        def do_GET(self) -> None:
            if registry.failing:
                return self.reply(500, {"error_code": 50001, "message": "backend down"})
            schema_id = int(self.path.split("?")[0].rsplit("/", 1)[1])
            if schema_id not in registry.by_id:
                return self.reply(404, {"error_code": 40403, "message": "Schema not found"})
            return self.reply(200, {"schema": registry.by_id[schema_id]})

    return Handler


@pytest.fixture
def registry() -> Iterator[tuple[Registry, str]]:
    state = Registry()
    server = ThreadingHTTPServer(("127.0.0.1", 0), serve(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_current_schemas_are_registered_and_records_carry_registry_ids(
    registry: tuple[Registry, str],
) -> None:
    state, url = registry
    codec = codec_for(Settings(schema_registry_url=url))

    data = codec.encode(
        DEAD_LETTER, {"stage": "s", "reason": "r", "message": "m", "payload": b"", "failed_at": 0}
    )

    assert set(state.subjects) == set(manifest())
    assert {EVENT, DEAD_LETTER} <= set(state.subjects)
    assert codec.schema_id(data) == state.subjects[DEAD_LETTER][0]
    assert codec.decode(DEAD_LETTER, data)["reason"] == "r"


def test_a_reader_fetches_ids_it_has_not_seen(registry: tuple[Registry, str]) -> None:
    _, url = registry
    writer = Codec(RegistryCatalog(url))
    data = writer.encode(
        DEAD_LETTER, {"stage": "s", "reason": "r", "message": "m", "payload": b"", "failed_at": 0}
    )

    reader = Codec(RegistryCatalog(url))
    reader_catalog_ids = reader.schema_id(data)

    assert reader.decode_any(data)["stage"] == "s"
    assert reader_catalog_ids == writer.schema_id(data)


def test_unknown_id_is_a_decode_error_and_an_outage_is_retryable(
    registry: tuple[Registry, str],
) -> None:
    state, url = registry
    codec = Codec(RegistryCatalog(url))

    with pytest.raises(UnknownSchema):
        codec.decode_any(b"\x00\x00\x00\x00\x07payload")
    state.failing = True
    with pytest.raises(RegistryUnavailable):
        codec.decode_any(b"\x00\x00\x00\x00\x08payload")
