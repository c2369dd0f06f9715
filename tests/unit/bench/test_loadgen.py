"""The pure parts of the ingest benchmark: bodies, response framing, percentiles, tallies."""

from __future__ import annotations

import asyncio
import statistics

import orjson
import pytest

from cdp.bench.http import ProtocolError, parse_response_head, read_response
from cdp.bench.loadgen import Tally
from cdp.bench.payloads import RequestTemplate, build_templates
from cdp.bench.stats import CpuSample, cpu_shares, percentile


def _templates(
    connection: int = 0, batch_size: int = 100, event_bytes: int = 300
) -> list[RequestTemplate]:
    return build_templates(
        run_id="r1",
        connection=connection,
        count=2,
        batch_size=batch_size,
        event_bytes=event_bytes,
        host="127.0.0.1:9",
        write_key="wk",
    )


def _split(request: bytes) -> tuple[bytes, list[dict[str, object]]]:
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/batch HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    return head, orjson.loads(body)["batch"]


@pytest.mark.parametrize("batch_size", [1, 100, 500])
def test_a_request_holds_the_batch_size(batch_size: int) -> None:
    _, events = _split(_templates(batch_size=batch_size)[0].render(7))
    assert len(events) == batch_size


def test_message_ids_are_unique_across_items_requests_and_connections() -> None:
    ids = [
        event["messageId"]
        for connection in (0, 1)
        for seq, template in enumerate(_templates(connection) * 2)
        for event in _split(template.render(seq))[1]
    ]
    assert len(ids) == 4 * 2 * 100
    assert len(set(ids)) == len(ids)


def test_every_render_has_the_same_length_so_content_length_holds() -> None:
    template = _templates()[0]
    assert len(template.render(0)) == len(template.render(9_999_999_999))


@pytest.mark.parametrize("target", [300, 600, 1500])
def test_events_come_close_to_the_requested_size(target: int) -> None:
    _, events = _split(_templates(event_bytes=target)[0].render(1))
    sizes = [len(orjson.dumps(event)) for event in events]
    assert abs(statistics.mean(sizes) - target) < target * 0.05


def test_events_are_valid_segment_messages() -> None:
    _, events = _split(_templates()[0].render(1))
    for event in events:
        assert event["type"] in {"track", "page", "identify"}
        assert event["userId"] or event["anonymousId"]
        if event["type"] == "track":
            assert event["event"]


def test_basic_auth_carries_the_write_key_as_user_name() -> None:
    head, _ = _split(_templates()[0].render(1))
    assert b"Authorization: Basic d2s6\r\n" in head  # base64("wk:")


def test_a_head_gives_status_length_and_keep_alive() -> None:
    head = parse_response_head(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 12\r\n\r\n")
    assert (head.status, head.content_length, head.keep_alive) == (503, 12, True)


@pytest.mark.parametrize(
    ("raw", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", True),
    ],
)
def test_connection_header_and_version_decide_keep_alive(raw: bytes, keep_alive: bool) -> None:
    assert parse_response_head(raw).keep_alive is keep_alive


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
    ],
)
def test_unframed_answers_are_protocol_errors(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_response_head(raw)


def test_back_to_back_responses_on_one_connection_are_split_by_content_length() -> None:
    async def read_two() -> list[tuple[int, bytes]]:
        reader = asyncio.StreamReader()
        reader.feed_data(
            b'HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\n{"success":true}'
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}"
        )
        reader.feed_eof()
        out = []
        for _ in range(2):
            head, body = await read_response(reader)
            out.append((head.status, body))
        assert reader.at_eof()
        return out

    assert asyncio.run(read_two()) == [(200, b'{"success":true}'), (400, b"{}")]


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="q must be"):
        percentile(values, 0)


def test_tally_counts_200s_as_accepted_and_others_by_status() -> None:
    tally = Tally()
    tally.answer(200, 1_000, b'{"success":true,"accepted":100,"rejected":2}')
    tally.answer(503, 2_000, b"{}")
    tally.answer(503, 3_000, b"{}")
    tally.error("ConnectionResetError")
    total = Tally()
    total.add(tally)
    total.add(tally)
    assert (total.accepted, total.rejected_items, total.latencies_ns) == (2, 4, [1_000, 1_000])
    assert total.statuses == {503: 4}
    assert total.errors == {"ConnectionResetError": 2}


def test_cpu_share_is_cpu_seconds_per_wall_second() -> None:
    before = CpuSample(10.0, {"collector": 1.0, "gone": 1.0}, 100.0)
    after = CpuSample(12.0, {"collector": 2.5}, 103.0)
    assert cpu_shares(before, after) == {"collector": 0.75, "others": 0.75, "machine": 1.5}
