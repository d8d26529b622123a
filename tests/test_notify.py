"""syncd.notify against a real unix datagram socket standing in for systemd."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.notify import Notifier, watchdog_loop


@pytest.fixture
def listener() -> Iterator[tuple[socket.socket, str]]:
    """A bound AF_UNIX datagram socket (short path: sun_path is limited to 108 bytes)."""
    directory = tempfile.mkdtemp(prefix="sdn", dir="/tmp")
    path = os.path.join(directory, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    try:
        yield sock, path
    finally:
        sock.close()
        Path(path).unlink(missing_ok=True)
        os.rmdir(directory)


def drain(sock: socket.socket) -> list[bytes]:
    """Every datagram queued right now."""
    got: list[bytes] = []
    sock.setblocking(False)
    try:
        while True:
            got.append(sock.recv(4096))
    except BlockingIOError:
        return got
    finally:
        sock.settimeout(2)


def test_messages_arrive_on_a_path_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.enabled
    assert notifier.ready() is True
    assert notifier.status("shop1/orders: ok\nsent=3") is True
    assert notifier.watchdog() is True
    assert notifier.stopping() is True
    assert [sock.recv(4096) for _ in range(4)] == [
        b"READY=1", b"STATUS=shop1/orders: ok sent=3", b"WATCHDOG=1", b"STOPPING=1"]


def test_reloading_carries_a_monotonic_timestamp(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    Notifier(path).reloading()
    first, second = sock.recv(4096).decode().split("\n")
    assert first == "RELOADING=1"
    key, value = second.split("=")
    assert key == "MONOTONIC_USEC" and int(value) >= before


def test_abstract_socket_name() -> None:
    name = f"ogo-syncd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready() is True
        assert sock.recv(4096) == b"READY=1"


async def test_no_op_without_notify_socket() -> None:
    notifier = Notifier.from_env({"WATCHDOG_USEC": "60000000"})
    assert not notifier.enabled
    assert notifier.ready() is False
    assert notifier.status("x") is False
    assert notifier.watchdog() is False
    # the loop ends at once instead of pinging nobody
    await asyncio.wait_for(watchdog_loop(notifier), timeout=1)


def test_unreachable_socket_does_not_raise() -> None:
    notifier = Notifier("/tmp/ogo-syncd-no-such-dir/notify")
    assert notifier.enabled
    assert notifier.ready() is False


def test_watchdog_interval_is_half_of_watchdog_usec() -> None:
    env = {"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "60000000"}
    assert Notifier.from_env(env).watchdog_interval() == 30.0
    assert Notifier.from_env({**env, "WATCHDOG_PID": str(os.getpid())}
                             ).watchdog_interval() == 30.0
    # the watchdog belongs to another process: we must not ping
    assert Notifier.from_env({**env, "WATCHDOG_PID": str(os.getpid() + 1)}
                             ).watchdog_interval() is None
    assert Notifier.from_env({"NOTIFY_SOCKET": "/run/x"}).watchdog_interval() is None
    assert Notifier.from_env({**env, "WATCHDOG_USEC": "junk"}).watchdog_interval() is None


async def test_watchdog_loop_pings_from_the_event_loop(
        listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "40000"})
    assert notifier.watchdog_interval() == 0.02
    task = asyncio.create_task(watchdog_loop(notifier))
    await asyncio.sleep(0.15)
    pings = drain(sock)
    assert len(pings) >= 2 and set(pings) == {b"WATCHDOG=1"}

    # A wedged loop (a blocking call) must stop the pings: that is what lets systemd
    # restart a stuck daemon.
    time.sleep(0.2)  # noqa: ASYNC251 - deliberately blocks the loop
    assert drain(sock) == []

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.06)
    assert drain(sock) == []
