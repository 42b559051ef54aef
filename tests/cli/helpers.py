"""Run the real ``merchant`` command in subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx

MERCHANT = [sys.executable, "-m", "merchant"]
T = TypeVar("T")


def run_cli(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {"COLUMNS": "250", **env}  # error boxes must not wrap messages that tests look for
    return subprocess.run(
        [*MERCHANT, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def background(
    *args: str,
    env: dict[str, str],
    cwd: Path | None = None,
    stop: signal.Signals = signal.SIGINT,
    group: bool = False,
) -> Iterator[subprocess.Popen[str]]:
    """A long-running ``merchant`` process, stopped with ``stop`` (then killed) on exit.

    Its output goes to a file (never a pipe nobody reads, which would block it). With ``group``
    it leads a process group of its own, killed whole on exit (children it spawned included).
    """
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(
            [*MERCHANT, *args],
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=group,
        )
        process.output = output  # type: ignore[attr-defined]
        try:
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(stop)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if group:
                kill_group(process)


def kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the process group ``process`` leads (started with ``group=True``), then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def output_of(process: subprocess.Popen[str]) -> str:
    output = process.output  # type: ignore[attr-defined]
    output.seek(0)
    return str(output.read())


def wait_ready(base_url: str, process: subprocess.Popen[str], deadline_seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}:\n{output_of(process)}")
        with contextlib.suppress(httpx.TransportError):
            response = httpx.get(f"{base_url}/readyz", timeout=2)
            if response.status_code == 200:
                return response
        time.sleep(0.2)
    raise AssertionError(f"{base_url} not ready within {deadline_seconds} s")


def wait_for_output(process: subprocess.Popen[str], text: str, deadline_seconds: float = 60) -> None:
    deadline = time.monotonic() + deadline_seconds
    while text not in output_of(process):
        if process.poll() is not None:
            raise AssertionError(f"process exited with {process.returncode}:\n{output_of(process)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} within {deadline_seconds} s:\n{output_of(process)}")
        time.sleep(0.2)


def postgres_running_in(data_dir: Path) -> bool:
    pid_file = data_dir / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def until(what: str, check: Callable[[], Awaitable[T | None]], seconds: float = 30) -> T:
    """Poll ``check`` until it gives a value; fail saying ``what`` never happened."""
    deadline = time.monotonic() + seconds
    while (value := await check()) is None:
        assert time.monotonic() < deadline, f"{what}: not within {seconds} s"
        await asyncio.sleep(0.05)
    return value
