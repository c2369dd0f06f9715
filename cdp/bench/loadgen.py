"""The load generator: keep-alive connections posting pre-built batches as fast as answered.

It runs in a process of its own (`loadgen_main`), so its CPU is measured apart from the
collector's, and on uvloop with one `bytes.join` per request, so it takes as little as it can of
the cores it shares with the collector and the broker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import orjson
import uvloop

from cdp.bench.http import ProtocolError, read_response
from cdp.bench.payloads import RequestTemplate, build_templates, mean_event_bytes

__all__ = ["END", "START", "LoadConfig", "LoadFailure", "LoadResult", "Tally", "loadgen_main"]

START = "start"
END = "end"

#: Distinct bodies per connection: users and event types vary between requests, at 4 x ~30 KB of
#: memory per connection.
TEMPLATES_PER_CONNECTION = 4

#: How long requests in flight when the window closes may take to finish; longer than the
#: collector's delivery timeout (10 s) plus its await margin (2 s), by which it answers every one.
DRAIN_S = 15.0

#: Pause between attempts to reconnect, so a collector that went away is not spun on.
RECONNECT_PAUSE_S = 0.05

_Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_TRANSPORT_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ProtocolError)


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """Where to send, how hard, and for how long."""

    host: str
    port: int
    write_key: str
    run_id: str
    connections: int = 8
    batch_size: int = 100
    event_bytes: int = 300
    warmup_s: float = 3.0
    duration_s: float = 15.0


@dataclass(frozen=True, slots=True)
class Window:
    """The measured interval, in `time.perf_counter_ns` units."""

    start_ns: int
    end_ns: int

    def holds(self, t_ns: int) -> bool:
        return self.start_ns <= t_ns < self.end_ns


@dataclass(slots=True)
class Tally:
    """What one connection saw complete inside the window."""

    accepted: int = 0
    rejected_items: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latencies_ns: list[int] = field(default_factory=list)

    def answer(self, status: int, latency_ns: int, body: bytes) -> None:
        """Count a response: a 200 is accepted (its latency kept), anything else by status."""
        if status != 200:
            self.statuses[status] = self.statuses.get(status, 0) + 1
            return
        self.accepted += 1
        self.latencies_ns.append(latency_ns)
        self.rejected_items += int(orjson.loads(body).get("rejected", 0))

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def add(self, other: Tally) -> None:
        self.accepted += other.accepted
        self.rejected_items += other.rejected_items
        for status, n in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + n
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n
        self.latencies_ns.extend(other.latencies_ns)


@dataclass(frozen=True, slots=True)
class LoadResult:
    """The whole run's tally, with what was actually sent."""

    tally: Tally
    window_s: float
    body_bytes: int
    event_bytes: float


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """The load generator stopped on an error; sent instead of a `LoadResult`."""

    message: str


def loadgen_main(config: LoadConfig, channel: Connection) -> None:
    """Process entry: build the requests, load the collector, send START, END, then the result.

    START and END go out the moment the measured window opens and closes, so the parent samples
    CPU over the same interval the counts cover. Building and connecting happen before either.
    """
    try:
        templates = [_templates_for(config, c) for c in range(config.connections)]
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(_load(config, templates, channel.send))
        channel.send(result)
    except Exception as exc:
        channel.send(LoadFailure(f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        channel.close()


def _templates_for(config: LoadConfig, connection: int) -> list[RequestTemplate]:
    return build_templates(
        run_id=config.run_id,
        connection=connection,
        count=TEMPLATES_PER_CONNECTION,
        batch_size=config.batch_size,
        event_bytes=config.event_bytes,
        host=f"{config.host}:{config.port}",
        write_key=config.write_key,
    )


async def _load(
    config: LoadConfig, templates: list[list[RequestTemplate]], mark: Callable[[object], None]
) -> LoadResult:
    streams = [await _connect(config) for _ in templates]
    now = time.perf_counter_ns()
    start = now + int(config.warmup_s * 1e9)
    window = Window(start, start + int(config.duration_s * 1e9))
    tallies = [Tally() for _ in templates]
    tasks = [
        asyncio.create_task(_drive(config, stream, own, window, tally))
        for stream, own, tally in zip(streams, templates, tallies, strict=True)
    ]
    await _sleep_until(window.start_ns)
    mark(START)
    await _sleep_until(window.end_ns)
    mark(END)
    await _drain(tasks)
    total = Tally()
    for tally in tallies:
        total.add(tally)
    first = templates[0][0]
    return LoadResult(total, config.duration_s, first.body_bytes, mean_event_bytes(first))


async def _sleep_until(t_ns: int) -> None:
    await asyncio.sleep(max(0.0, (t_ns - time.perf_counter_ns()) / 1e9))


async def _drain(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for the requests in flight, abandon any past `DRAIN_S`, re-raise a connection's bug."""
    done, pending = await asyncio.wait(tasks, timeout=DRAIN_S)
    for task in pending:
        task.cancel()
    for task in done:
        task.result()


async def _connect(config: LoadConfig) -> _Stream:
    return await asyncio.open_connection(config.host, config.port)


async def _drive(
    config: LoadConfig,
    stream: _Stream,
    templates: list[RequestTemplate],
    window: Window,
    tally: Tally,
) -> None:
    """Send request after request on one connection until the window closes."""
    reader, writer = stream
    seq = 0
    try:
        while (sent := time.perf_counter_ns()) < window.end_ns:
            writer.write(templates[seq % len(templates)].render(seq))
            seq += 1
            try:
                head, body = await read_response(reader)
            except _TRANSPORT_ERRORS as exc:
                if window.holds(time.perf_counter_ns()):
                    tally.error(type(exc).__name__)
                keep_alive = False
            else:
                done = time.perf_counter_ns()
                if window.holds(done):
                    tally.answer(head.status, done - sent, body)
                keep_alive = head.keep_alive
            if not keep_alive:
                writer.close()
                fresh = await _reconnect(config, window, tally)
                if fresh is None:
                    return
                reader, writer = fresh
    finally:
        writer.close()


async def _reconnect(config: LoadConfig, window: Window, tally: Tally) -> _Stream | None:
    """A fresh connection, retried until the window closes (then None); counts each failure."""
    while time.perf_counter_ns() < window.end_ns:
        try:
            return await _connect(config)
        except OSError as exc:
            if window.holds(time.perf_counter_ns()):
                tally.error(type(exc).__name__)
            await asyncio.sleep(RECONNECT_PAUSE_S)
    return None
