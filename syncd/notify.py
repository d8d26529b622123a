"""systemd notify protocol (``sd_notify``) without a dependency on libsystemd.

systemd (``Type=notify``) hands the service a datagram socket in ``NOTIFY_SOCKET``; the
daemon writes ``READY=1``, ``STATUS=...``, ``WATCHDOG=1``, ``STOPPING=1`` lines to it.
Outside systemd the variable is unset and every call is a no-op, so the daemon code never
needs to ask whether it runs under systemd.

Watchdog pings are sent by :func:`watchdog_loop`, a task on the daemon's own asyncio loop:
if the loop wedges (a blocking call, a deadlock), the pings stop and systemd restarts us.
A thread would keep pinging while the loop is dead, which defeats the purpose.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Mapping

import structlog

log = structlog.get_logger("syncd.notify")

#: STATUS= is one line of free text; systemctl shows it, so keep it short and single-line
MAX_STATUS_CHARS = 200


def _socket_address(value: str) -> str | bytes | None:
    """The ``sendto`` address for ``NOTIFY_SOCKET``: a path or an abstract ``@name``."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode("utf-8")
    if value.startswith("/"):
        return value
    return None  # vsock:... and other transports are not used for local services


class Notifier:
    """Sends state changes to systemd; every method is a no-op when not under systemd."""

    def __init__(self, socket_path: str | None = None, *, watchdog_usec: int | None = None
                 ) -> None:
        self.address = _socket_address(socket_path) if socket_path else None
        self.watchdog_usec = watchdog_usec if watchdog_usec and watchdog_usec > 0 else None
        self._warned = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        """Read ``NOTIFY_SOCKET`` and ``WATCHDOG_USEC``/``WATCHDOG_PID`` like ``sd_notify``.

        ``WATCHDOG_PID`` names the process the watchdog is meant for; when it is another
        process (we were forked or exec'd by the real main process) we must not ping.
        """
        env = os.environ if environ is None else environ
        usec: int | None = None
        raw_usec = env.get("WATCHDOG_USEC", "").strip()
        raw_pid = env.get("WATCHDOG_PID", "").strip()
        if raw_usec.isdigit() and (not raw_pid or raw_pid == str(os.getpid())):
            usec = int(raw_usec)
        return cls(env.get("NOTIFY_SOCKET") or None, watchdog_usec=usec)

    @property
    def enabled(self) -> bool:
        """Whether a notify socket is known (i.e. systemd listens)."""
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send ``KEY=value`` lines in one datagram. Returns False when nothing was sent.

        Never raises: a lost notification must not take the daemon down (systemd will
        notice a missing READY/WATCHDOG on its own).
        """
        if self.address is None or not assignments:
            return False
        message = "\n".join(assignments).encode("utf-8")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto(message, self.address)
        except OSError as exc:
            if not self._warned:  # once: a broken socket would otherwise flood the log
                self._warned = True
                log.warning("sd_notify_failed", error=str(exc))
            return False
        return True

    def ready(self) -> bool:
        """Start-up is complete (config, DB and credentials checked): systemd marks us active."""
        return self.send("READY=1")

    def status(self, text: str) -> bool:
        """One line shown by ``systemctl status`` (newlines would break the protocol)."""
        line = " ".join(text.split())[:MAX_STATUS_CHARS]
        return self.send(f"STATUS={line}")

    def watchdog(self) -> bool:
        """Keep-alive ping; systemd restarts the service when they stop (``WatchdogSec=``)."""
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        """Shutdown has begun (in-flight writes are finishing)."""
        return self.send("STOPPING=1")

    def reloading(self) -> bool:
        """A configuration reload has begun; send :meth:`ready` when it is done.

        ``MONOTONIC_USEC`` is required by ``Type=notify-reload`` (systemd >= 253) and
        ignored by older versions.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def watchdog_interval(self) -> float | None:
        """Seconds between pings (half of ``WATCHDOG_USEC``), or None without a watchdog."""
        if self.watchdog_usec is None:
            return None
        return self.watchdog_usec / 2 / 1_000_000


async def watchdog_loop(notifier: Notifier, interval: float | None = None) -> None:
    """Ping ``WATCHDOG=1`` every ``interval`` seconds (default: :meth:`watchdog_interval`).

    Runs until cancelled; returns at once when there is no watchdog. Being a coroutine on
    the daemon's loop is the point: a stuck loop stops the pings.
    """
    every = interval if interval is not None else notifier.watchdog_interval()
    if every is None or every <= 0 or not notifier.enabled:
        return
    while True:
        notifier.watchdog()
        await asyncio.sleep(every)
