"""`cdp up` as a user runs it: embedded services, the printed write key, events in, `cdp tail` out."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import psutil
import pytest

from cdp.embedded import free_port
from tests.conftest import wait_for

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    process: subprocess.Popen[str]
    env: dict[str, str]
    url: str
    write_key: str
    output: list[str]


def stack_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update(
        CDP_HOME=str(home),
        CDP_COLLECTOR_PORT=str(free_port()),
        CDP_API_PORT=str(free_port()),
        CDP_EMBEDDED_KAFKA_PORT=str(free_port()),
        CDP_TOPICS__PARTITIONS="2",
        CDP_PROCESSOR_INSTANCES="2",
    )
    return env


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    env = stack_env(tmp_path / ".cdp")
    process = subprocess.Popen(
        [sys.executable, "-m", "cdp", "up"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []

    def banner_key() -> str | None:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise AssertionError("cdp up exited:\n" + "".join(output))
        output.append(line)
        found = re.search(r"write key\s+(\S+)", line)
        return found.group(1) if found else None

    key = wait_for(banner_key, timeout=90, interval=0, what="cdp up to print its write key")
    url = f"http://127.0.0.1:{env['CDP_COLLECTOR_PORT']}"
    try:
        yield Stack(process, env, url, key, output)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def test_cdp_up_collects_events_and_stops_cleanly(stack: Stack) -> None:
    assert httpx.get(f"{stack.url}/readyz").json()["ready"] is True
    assert any(line.lstrip().startswith("processor-2 ") for line in stack.output), (
        "the second processor (CDP_PROCESSOR_INSTANCES=2) is started and listed"
    )
    batch = {
        "batch": [{"type": "track", "userId": "jane", "event": "Signed Up", "messageId": "e2e-1"}]
    }
    r = httpx.post(f"{stack.url}/v1/batch", json=batch, auth=(stack.write_key, ""))
    assert r.status_code == 200

    tail = subprocess.run(
        [
            sys.executable,
            "-m",
            "cdp",
            "tail",
            "cdp.events.raw",
            "--from-beginning",
            "--max",
            "1",
            "--timeout",
            "20",
        ],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    [line] = tail.stdout.splitlines()
    record = orjson.loads(line)
    assert record["key"] == "jane"
    assert record["value"]["message_id"] == "e2e-1"
    assert record["value"]["event"] == "Signed Up"

    api = f"http://127.0.0.1:{stack.env['CDP_API_PORT']}/v1/profiles/user_id:jane"

    def profile() -> dict[str, object] | None:
        r = httpx.get(api, headers={"Authorization": "Bearer changethis"})
        return r.json() if r.status_code == 200 else None

    folded = wait_for(
        profile, timeout=60, interval=0.2, what="the processor to fold the event into a profile"
    )
    assert folded["computed"]["events"] == {"Signed Up": 1}  # type: ignore[index]

    children = psutil.Process(stack.process.pid).children(recursive=True)
    assert children, "the services and the broker run as child processes"
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(60) == 0
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == [], f"left running: {alive}"
    assert processes_using(stack.env["CDP_HOME"]) == [], (
        "the embedded Postgres daemon is stopped too"
    )


def processes_using(path: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any(path in part for part in cmdline):
            found.append(proc)
    return found
