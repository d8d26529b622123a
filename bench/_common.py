"""What the benchmarks share: machine banner, simulators in their own processes, engine set-up.

Every benchmark runs the daemon's real engine (``syncd.engine.Engine``: real connectors, the
real myOGO client, a real SQLite state DB) in the benchmark's own process, against the
simulators served over HTTP on 127.0.0.1 by ``bench/simserver.py`` subprocesses.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from syncd.config import Config, load_config  # noqa: E402
from syncd.engine import Engine  # noqa: E402
from syncd.logging import configure_logging  # noqa: E402
from syncd.state.db import StateDB  # noqa: E402

SIMSERVER = Path(__file__).resolve().parent / "simserver.py"
UNLIMITED_RATE = 100_000.0   # req/s: a rate limit that never binds
#: the WooCommerce simulator's API key (syncd.testing.woo_sim.KEY/SECRET); not imported, so
#: the daemon process does not load the simulator (and pytest, via the conformance kit)
KEY, SECRET = "ck_test", "cs_test"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def banner(title: str) -> None:
    """Print what ran where: the figures mean little without the machine and the command."""
    load = os.getloadavg()
    print(f"== {title}")
    print(f"machine : nproc={os.cpu_count()} cpu={cpu_model()!r} "
          f"python={platform.python_version()} ({sys.executable})")
    print(f"load    : {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) at start")
    print(f"command : {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(flush=True)


def quiet_logs() -> None:
    """The daemon's own logging set-up, at warning level (one line per failed job only)."""
    configure_logging("json", "warning", stream=sys.stderr)


class SimProcess:
    """A simulator in its own process (``bench/simserver.py``); ``url`` once it answers."""

    def __init__(self, kind: str, *args: str) -> None:
        self.kind = kind
        self.proc = subprocess.Popen(
            [sys.executable, str(SIMSERVER), kind, *args],
            stdout=subprocess.PIPE, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{kind} simulator did not start (exit {self.proc.wait()})")
        self.url: str = json.loads(line)["url"]
        self.http = httpx.Client(base_url=self.url, timeout=60)
        deadline = time.monotonic() + 300
        probe = "/_sim/requests" if kind == "myogo" else "/_bench/requests"
        while True:
            try:
                self.http.get(probe)
                break
            except httpx.TransportError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} simulator is not answering") from None
                time.sleep(0.05)

    # control: the myOGO sim's own /_sim API, or simserver's /_bench routes
    def control(self, name: str) -> Any:
        return self.http.get(f"/_bench/{name}").raise_for_status().json()

    def requests(self) -> dict[str, int]:
        """Requests per route, from the simulator's own counter (token requests included)."""
        if self.kind == "myogo":
            return dict(self.http.get("/_sim/requests").raise_for_status().json()["byRoute"])
        return {k: v for k, v in self.control("requests").items() if not k.startswith("_")}

    def clear_requests(self) -> None:
        if self.kind == "myogo":
            self.http.delete("/_sim/requests").raise_for_status()
        else:
            self.control("clear")

    def reset(self) -> None:
        """myOGO only: forget everything (faults too)."""
        self.http.post("/_sim/reset").raise_for_status()

    def add_fault(self, **fault: Any) -> None:
        self.http.post("/_sim/faults", json=fault).raise_for_status()

    def configure(self, **switches: Any) -> None:
        """myOGO only: merchant switches, e.g. ``hiddenRateLimit=50`` (``PUT /_sim/config``)."""
        self.http.put("/_sim/config", json=switches).raise_for_status()

    def throttled(self) -> int:
        """myOGO only: requests refused with 429 by the hidden rate limit so far."""
        return int(self.http.get("/_sim/requests").raise_for_status().json()["throttled"])

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the simulator process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextmanager
def sim(kind: str, *args: str) -> Iterator[SimProcess]:
    process = SimProcess(kind, *args)
    try:
        yield process
    finally:
        process.close()


def writes(counts: dict[str, int]) -> int:
    """Requests that change something (token requests and reads are not writes)."""
    return sum(n for route, n in counts.items()
               if route.split()[0] in {"POST", "PUT", "DELETE", "PATCH"}
               and "oauth" not in route.lower())


def config_text(state_db: Path, myogo_url: str, woo_url: str, *, concurrency: int = 8,
                rate_limit: float | None = None,
                rate_bounds: tuple[float, float] | None = None) -> str:
    """A daemon config (as a user writes it) for one WooCommerce store and the sims;
    ``rate_bounds`` = (floor, ceiling) of the adaptive myOGO rate limit (None: defaults)."""
    rate = f"rate_limit = {rate_limit}" if rate_limit is not None else "# default rate_limit"
    if rate_bounds is not None:
        rate += (f"\n        rate_limit_floor = {rate_bounds[0]}"
                 f"\n        rate_limit_ceiling = {rate_bounds[1]}")
    return textwrap.dedent(f"""\
        [daemon]
        state_db = "{state_db}"
        log_format = "json"
        log_level = "warning"
        write_concurrency = {concurrency}

        [myogo]
        api_url = "{myogo_url}/api/v1"
        token_url = "{myogo_url}/OAuth/Token"
        merchant_id = "demo"
        secret_token = "demo"
        concurrency = {max(8, concurrency)}
        {rate}

        [[stores]]
        name = "woo"
        connector = "woocommerce"
        reference_prefix = "WC-"
        language = "fi"
        currency = "EUR"
        shipping_map = {{ "flat_rate:1" = "POSTI" }}

        [stores.options]
        url = "{woo_url}"
        consumer_key = "{KEY}"
        consumer_secret = "{SECRET}"
        allow_http = true
        """)


@contextmanager
def engine_for(myogo_url: str, woo_url: str, **options: Any) -> Iterator[tuple[Config, StateDB]]:
    """A fresh config file and migrated state DB in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="ogo-bench-") as tmp:
        path = Path(tmp) / "config.toml"
        path.write_text(config_text(Path(tmp) / "state.sqlite", myogo_url, woo_url, **options))
        config = load_config(path)
        db = StateDB.from_settings(config.daemon)
        db.migrate()
        try:
            yield config, db
        finally:
            db.dispose()


async def run_flow(engine: Engine, flow: str, **options: Any) -> dict[str, int]:
    result = await engine.run_flow("woo", flow, **options)
    if not result.ok:
        raise RuntimeError(f"{flow} failed: {result.error}")
    return dict(result.counts)


def fmt_s(seconds: float) -> str:
    return f"{seconds:8.2f} s"
