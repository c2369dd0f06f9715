"""Several collector processes on one port: connections spread, and every worker stops with them.

The workers start without Kafka or Postgres (both are only reached per request), so these tests
need no services; each starts real processes and takes a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from pydantic import SecretStr

from cdp.embedded import free_port
from cdp.errors import CdpError
from cdp.ingest.service import (
    listening_socket,
    read_worker_payload,
    serve_workers,
    worker_payload,
)
from cdp.settings import Settings, load_settings
from tests.conftest import wait_for

WORKERS = 2
#: Connections opened to see them spread: all landing on one of two workers has odds 2**-15.
CONNECTIONS = 16
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
SUPERVISOR = (
    "from cdp.ingest.service import serve_workers; from cdp.settings import load_settings; "
    "serve_workers(load_settings())"
)


def test_worker_settings_cross_the_pipe_unchanged() -> None:
    settings = load_settings(
        database_url=SecretStr("postgresql://u:secret@db/cdp"),
        kafka_sasl_password=SecretStr("k-secret"),
        home=Path("/tmp/x"),
        collector_workers=3,
    )
    again, parent = read_worker_payload(worker_payload(settings, 1234))
    assert again == settings
    assert parent == 1234
    assert again.database_url is not None
    assert again.database_url.get_secret_value() == "postgresql://u:secret@db/cdp"


def test_a_port_held_by_reuseport_workers_is_not_shared_with_a_second_collector() -> None:
    port = free_port()
    with (
        listening_socket("127.0.0.1", port, reuse_port=True) as first,
        listening_socket("127.0.0.1", port, reuse_port=True) as second,
    ):
        first.listen()
        second.listen()
        settings = Settings(collector_port=port, collector_workers=2)
        with pytest.raises(CdpError, match="cannot listen"):
            serve_workers(settings)


def supervisor_env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update(
        CDP_COLLECTOR_PORT=str(port),
        CDP_COLLECTOR_WORKERS=str(WORKERS),
        CDP_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9",
        CDP_DATABASE_URL="postgresql://cdp@127.0.0.1:9/cdp",
        CDP_LOG_LEVEL="WARNING",
    )
    return env


@pytest.fixture
def supervisor() -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR],
        env=supervisor_env(port),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[psutil.Process] = []
    try:
        wait_for(
            lambda: len(workers_of(process)) == WORKERS and listeners(port) == WORKERS,
            timeout=START_TIMEOUT_S,
            what="both workers to listen",
        )
        workers = workers_of(process)
        yield process, port
    finally:
        process.kill()
        process.wait()
        for worker in workers:
            with contextlib.suppress(psutil.Error):
                worker.kill()


def workers_of(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    if process.poll() is not None:
        raise AssertionError(f"the supervisor exited with {process.returncode}")
    children: list[psutil.Process] = psutil.Process(process.pid).children()
    return children


def listeners(port: int) -> int:
    return sum(
        1
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port
    )


def keep_alive_request(port: int) -> socket.socket:
    """A connection that has had one answer and stays open."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert conn.recv(4096).startswith(b"HTTP/1.1 200")
    return conn


def test_connections_spread_over_the_workers_and_sigterm_stops_them_all(
    supervisor: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, port = supervisor
    workers = workers_of(process)
    conns = [keep_alive_request(port) for _ in range(CONNECTIONS)]
    try:
        served = {
            worker.pid: sum(
                1
                for c in worker.net_connections(kind="tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
            )
            for worker in workers
        }
        assert sum(served.values()) == CONNECTIONS
        assert all(n > 0 for n in served.values()), served
        assert httpx.get(f"http://127.0.0.1:{port}/metrics").status_code == 200
    finally:
        for conn in conns:
            conn.close()

    process.send_signal(signal.SIGTERM)
    assert process.wait(STOP_TIMEOUT_S) == 0
    _, alive = psutil.wait_procs(workers, timeout=STOP_TIMEOUT_S)
    assert alive == []
    assert listeners(port) == 0


def test_workers_stop_by_themselves_when_the_supervisor_is_killed(
    supervisor: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, _ = supervisor
    workers = workers_of(process)
    process.kill()
    process.wait()
    _, alive = psutil.wait_procs(workers, timeout=STOP_TIMEOUT_S)
    assert alive == []


def test_a_worker_that_dies_takes_the_collector_down(
    supervisor: tuple[subprocess.Popen[bytes], int],
) -> None:
    process, _ = supervisor
    workers = workers_of(process)
    workers[0].kill()
    assert process.wait(STOP_TIMEOUT_S) != 0
    _, alive = psutil.wait_procs(workers, timeout=STOP_TIMEOUT_S)
    assert alive == []
