"""The ``ogo-syncd`` command line (Typer). Thin: parses, calls the engine, renders."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from syncd import __version__
from syncd.errors import ConfigError

EX_CONFIG = 78      # sysexits.h: configuration error (systemd: RestartPreventExitStatus=78)
EX_TEMPFAIL = 75    # another daemon holds the state DB
DEFAULT_CONFIG = "/etc/ogo-syncd/config.toml"

app = typer.Typer(
    name="ogo-syncd",
    help="Keeps online stores in step with the OGOship (myOGO) fulfilment warehouse.\n\n"
    "Products and paid orders go store -> myOGO; stock and tracking come back myOGO -> store."
    "\n\nNew here? 'ogo-syncd demo' runs it all on localhost with nothing to configure; "
    "config.example.toml in the source tree documents every option.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
    pretty_exceptions_enable=False,
)
webhooks_app = typer.Typer(help="Manage this daemon's myOGO webhook subscriptions.",
                           no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
console = Console()
err = Console(stderr=True)
T = TypeVar("T")

ConfigOpt = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="OGO_SYNCD_CONFIG",
                 help="The TOML config file (env OGO_SYNCD_CONFIG).",
                 show_default=True),
]
StoreOpt = Annotated[str | None, typer.Option("--store", "-s", help="Only this store.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


def _fail(code: int, message: str) -> typer.Exit:
    err.print(message, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(code)


def _load(path: Path) -> Any:
    """Load and validate the config, exit 78 with one line naming the key on any error."""
    from syncd.config import format_config_error, load_config

    if path.is_dir():
        raise _fail(EX_CONFIG, f"config error: --config: {path} is a directory; a directory "
                    "of configs (one per merchant) is for `ogo-syncd worker`")
    try:
        return load_config(path)
    except ConfigError as exc:
        raise _fail(EX_CONFIG, format_config_error(exc)) from None


def _load_many(path: Path) -> list[Any]:
    """A config file or a directory of them (fleet mode); exit 78 like ``_load``."""
    from syncd.config import format_config_error
    from syncd.fleet.configs import load_configs

    try:
        return load_configs(path)
    except ConfigError as exc:
        raise _fail(EX_CONFIG, format_config_error(exc)) from None


def _setup_logging(config: Any | None, level: str | None = None, *,
                   daemon: bool = False) -> None:
    """Logs go to stderr in one-off commands (stdout carries their output, e.g. ``--json``);
    the daemon logs to stdout, which journald captures."""
    from syncd.logging import configure_logging

    stream = sys.stdout if daemon else sys.stderr
    if config is None:
        configure_logging("auto", level or "warning", stream=stream)
        return
    configure_logging(config.daemon.log_format, level or config.daemon.log_level,
                      secrets=config.secrets(), stream=stream)


def _db(config: Any) -> Any:
    from syncd.state.db import StateDB

    db = StateDB.from_settings(config.daemon)
    db.migrate()
    return db


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except ConfigError as exc:
        from syncd.config import format_config_error

        raise _fail(EX_CONFIG, format_config_error(exc)) from None


@app.command()
def version() -> None:
    """Print the version."""
    console.print(f"ogo-syncd {__version__}")


@app.command()
def run(config: ConfigOpt = Path(DEFAULT_CONFIG)) -> None:
    """Run the daemon: scheduled flows for every store until SIGTERM/SIGINT.

    Exits 78 on a config error, 75 when another daemon already uses the state DB.
    """
    from syncd.daemon import Daemon
    from syncd.state.db import AlreadyRunningError

    cfg = _load(config)
    _setup_logging(cfg, daemon=True)
    from syncd.state.db import StateDB

    try:
        code = _run(Daemon(cfg, StateDB.from_settings(cfg.daemon)).run())
    except AlreadyRunningError as exc:
        raise _fail(EX_TEMPFAIL, f"ogo-syncd: {exc}") from None
    raise typer.Exit(code)


@app.command()
def worker(
    config: ConfigOpt = Path(DEFAULT_CONFIG),
    http_listen: Annotated[str | None, typer.Option(
        "--http-listen", help="host:port of this worker's HTTP surface (overrides "
        "[daemon] http_listen; '' = none), e.g. for several workers on one host.")] = None,
) -> None:
    """Run one fleet worker (PostgreSQL state): start as many as you like, on any hosts.

    --config is one config file or a directory with one *.toml per merchant; every
    worker gets the same. Exits 78 on a config error (also when state_db is not
    PostgreSQL), 75 when an embedded `ogo-syncd run` uses the database.
    """
    from syncd.fleet.configs import require_postgres
    from syncd.fleet.worker import FleetWorker
    from syncd.state.db import AlreadyRunningError

    cfgs = _load_many(config)
    try:
        require_postgres(cfgs[0]).dispose()
    except ConfigError as exc:
        from syncd.config import format_config_error

        raise _fail(EX_CONFIG, format_config_error(exc)) from None
    if http_listen is not None:
        from syncd.config import DaemonSettings

        try:
            daemon = DaemonSettings.model_validate(
                {**cfgs[0].daemon.model_dump(), "http_listen": http_listen})
        except ValueError as exc:
            raise _fail(EX_CONFIG, f"config error: --http-listen: {exc}") from None
        cfgs[0] = cfgs[0].model_copy(update={"daemon": daemon})
    _setup_logging(cfgs[0], daemon=True)
    try:
        code = _run(FleetWorker(cfgs).run())
    except AlreadyRunningError as exc:
        raise _fail(EX_TEMPFAIL, f"ogo-syncd: {exc}") from None
    raise typer.Exit(code)


@app.command()
def migrate(config: ConfigOpt = Path(DEFAULT_CONFIG)) -> None:
    """Bring the state database's schema up to date (and, on PostgreSQL, procrastinate's
    tables for fleet workers). `run` and `worker` also do it at start."""
    cfgs = _load_many(config)
    _setup_logging(cfgs[0], "warning")
    db = _db(cfgs[0])
    line = f"state database {db.describe()}: schema at revision {db.current_revision()}"
    if db.is_postgres:
        from syncd.fleet.queue import apply_schema

        created = apply_schema(db)
        line += "; fleet queue (procrastinate) " + ("created" if created else "present")
    db.dispose()
    console.print(line, highlight=False)


@app.command()
def check(
    config: ConfigOpt = Path(DEFAULT_CONFIG),
    connect: Annotated[bool, typer.Option(
        "--connect", help="Also try the myOGO credentials and each store's API.")] = False,
) -> None:
    """Validate the config file (exit 78 naming the key when it is wrong)."""
    cfg = _load(config)
    console.print(f"config OK: {len(cfg.stores)} store(s): "
                  + ", ".join(f"{s.name} ({s.connector})" for s in cfg.stores))
    if not connect:
        return
    from syncd.engine import Engine

    _setup_logging(cfg, "error")

    async def go() -> list[Any]:
        async with Engine(cfg, _db(cfg)) as engine:
            return await engine.check()

    results = _run(go())
    for item in results:
        mark = "[green]ok[/]" if item.ok else "[red]FAILED[/]"
        console.print(f"{mark} {item.what}: {item.message}", highlight=False)
    if not all(item.ok for item in results):
        raise typer.Exit(EX_CONFIG)


@app.command()
def sync(
    flow: Annotated[str, typer.Argument(help="products | orders | stock | tracking | all")],
    config: ConfigOpt = Path(DEFAULT_CONFIG),
    store: StoreOpt = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Show what would be written; write nothing anywhere.")] = False,
    full: Annotated[bool, typer.Option(
        "--full", help="Full reconcile instead of reading changes since the cursor.")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Apply a stock feed the empty-source guard refused.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run one flow (or all) once, now, for one store or all of them.

    Exits 1 when a flow failed, 78 on a config error. Logs go to stderr.
    """
    from syncd.engine import Engine
    from syncd.jobs.base import FLOWS

    flows = list(FLOWS) if flow == "all" else [flow]
    if any(f not in FLOWS for f in flows):
        raise _fail(2, f"unknown flow {flow!r}: choose one of {', '.join(FLOWS)} or all")
    cfg = _load(config)
    _setup_logging(cfg, "warning")

    async def go() -> list[Any]:
        async with Engine(cfg, _db(cfg)) as engine:
            names = [engine.store(store).name] if store else list(engine.stores)
            out = []
            with _progress(len(names) * len(flows)) as advance:
                for name in names:
                    for f in flows:
                        out.append(await engine.run_flow(name, f, dry_run=dry_run, full=full,
                                                         force=force))
                        advance()
            return out

    results = _run(go())
    if as_json:
        console.print_json(json.dumps([_result_dict(r) for r in results]))
    else:
        for r in results:
            state = "[green]ok[/]" if r.ok else f"[red]FAILED[/] {r.error}"
            counts = ", ".join(f"{k} {v}" for k, v in sorted(r.counts.items())) or "nothing to do"
            console.print(f"{r.store}/{r.flow}: {state} ({counts})", highlight=False)
            for line in r.plan:
                console.print(f"  would {line}", markup=False, highlight=False)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _result_dict(r: Any) -> dict[str, Any]:
    return {"store": r.store, "flow": r.flow, "ok": r.ok, "error": r.error,
            "counts": dict(r.counts), "duration_s": round(r.duration, 3), "plan": r.plan}


class _progress:
    """A progress bar on a TTY, nothing otherwise."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None

    def __enter__(self) -> Callable[[], None]:
        if sys.stderr.isatty() and self.total > 1:
            from rich.progress import Progress

            self.bar = Progress(console=err, transient=True)
            self.bar.start()
            task = self.bar.add_task("syncing", total=self.total)
            return lambda: self.bar.advance(task)
        return lambda: None

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command()
def status(config: ConfigOpt = Path(DEFAULT_CONFIG), as_json: JsonOpt = False) -> None:
    """Per store and flow: last run, result, counts, next run, pending and failed items;
    with fleet workers also the workers and the jobs running and waiting."""
    from syncd.fleet.status import collect_fleet
    from syncd.status import collect_status

    cfgs = _load_many(config)
    db = _db(cfgs[0])
    rows = [row for cfg in cfgs for row in collect_status(cfg, db)]
    fleet = collect_fleet(db, cfgs[0].daemon.worker_timeout_seconds)
    if as_json:
        out: Any = rows if fleet is None else {"stores": rows, "fleet": fleet}
        console.print_json(json.dumps(out, default=str))
        return
    table = Table("store", "flow", "last run", "result", "counts", "next run", "pending",
                  "failed", "cursor age")
    for row in rows:
        table.add_row(row["store"], row["flow"], _ago(row["last_run"]),
                      row["result"], row["counts"], row["next_run"] or "-",
                      str(row["pending"]), str(row["failed"]), row["cursor_age"] or "-")
    console.print(table)
    if fleet is not None:
        _print_fleet(fleet)


def _print_fleet(fleet: dict[str, Any]) -> None:
    workers = Table("worker", "id", "heartbeat", "alive", "runs (10 min)", title="fleet workers")
    for w in fleet["workers"]:
        workers.add_row(w["name"], str(w["id"]), f"{w['heartbeat_age_s']:.0f}s ago",
                        "yes" if w["alive"] else "NO", str(w["runs_10m"]))
    console.print(workers)
    jobs = Table("store", "flow", "running on", "waiting", title="fleet jobs")
    for j in fleet["jobs"]:
        jobs.add_row(j["store"], j["flow"], j["doing"] or "-", str(j["waiting"]))
    console.print(jobs if fleet["jobs"] else "fleet jobs: none running or waiting")


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = int((datetime.now(UTC) - value).total_seconds())
    return f"{seconds // 60}m{seconds % 60:02d}s ago" if seconds >= 60 else f"{seconds}s ago"


@app.command()
def failures(
    config: ConfigOpt = Path(DEFAULT_CONFIG), store: StoreOpt = None, as_json: JsonOpt = False
) -> None:
    """Items parked with their reason (retried when they change, or on `retry`)."""
    from syncd.state.ops import failures as list_failures

    cfg = _load(config)
    db = _db(cfg)
    with db.session() as session:
        rows = [f.model_dump() for f in list_failures(session, store)]
    if as_json:
        console.print_json(json.dumps(rows, default=str))
        return
    if not rows:
        console.print("no failures")
        return
    table = Table("store", "flow", "item", "reason", "since", "attempts")
    for r in rows:
        table.add_row(r["store"], r["flow"], r["key"], r["reason"],
                      r["since"].strftime("%Y-%m-%d %H:%M"), str(r["attempts"]))
    console.print(table)


@app.command()
def retry(
    config: ConfigOpt = Path(DEFAULT_CONFIG),
    store: StoreOpt = None,
    flow: Annotated[str | None, typer.Option("--flow", help="Only this flow's failures.")] = None,
) -> None:
    """Forget failures and re-read their flows from the start on the next run."""
    from syncd.retry import retry_failures

    cfg = _load(config)
    cleared = retry_failures(_db(cfg), store=store, flow=flow)
    console.print(f"cleared {cleared} failure(s); the next run re-reads those flows")


@app.command()
def connectors(as_json: JsonOpt = False) -> None:
    """List the installed store connectors and what each can do."""
    from syncd.connector import installed_connectors

    found = installed_connectors()
    if as_json:
        console.print_json(json.dumps({name: sorted(c.value for c in cls.capabilities)
                                       for name, cls in sorted(found.items())}))
        return
    table = Table("connector", "capabilities", "module")
    for name, cls in sorted(found.items()):
        table.add_row(name, ", ".join(sorted(c.value for c in cls.capabilities)), cls.__module__)
    console.print(table)


@app.command()
def sim(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    merchant: Annotated[str, typer.Option(help="Merchant id (OAuth username).")] = "demo",
    secret: Annotated[str, typer.Option(help="Merchant secret token (OAuth password).")] = "demo",
    api_key: Annotated[str | None, typer.Option(
        help="Also accept this X-OgoKey API key for the merchant.")] = None,
    duplicate_reference: Annotated[str, typer.Option(
        help="A second order with the same reference: 'reject' (400) or 'allow'.")] = "reject",
) -> None:
    """Serve the myOGO simulator (token at /OAuth/Token, API under /api/v1, control at /_sim).

    See docs/simulator.md for the control API (seed, ship, faults, request counts).
    """
    from syncd.testing.myogo_sim import serve

    if duplicate_reference not in ("reject", "allow"):
        raise _fail(2, "--duplicate-reference must be 'reject' or 'allow'")
    serve(host=host, port=port, merchants={merchant: secret},
          api_keys={api_key: merchant} if api_key else None,
          duplicate_reference=duplicate_reference)


@app.command()
def demo(
    cycles: Annotated[int | None, typer.Option(
        help="Stop after N demo cycles with a summary (default: run until Ctrl-C).")] = None,
    interval: Annotated[float, typer.Option(help="Seconds between demo cycles.")] = 2.0,
) -> None:
    """Run everything locally: myOGO simulator, a demo WooCommerce store, the real daemon."""
    from syncd.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(cycles=cycles, interval=interval, console=console)))


@app.command("new-connector")
def new_connector(
    name: Annotated[str, typer.Argument(help="Connector name, e.g. 'mystore' or 'acme-store'.")],
    directory: Annotated[Path, typer.Option("--dir", help="Where to create the package.")] = Path(),
) -> None:
    """Scaffold a pip-installable connector package with the conformance test wired in.

    NAME is normalised: 'acme-store' becomes connector 'acme_store', package
    syncd_acme_store, project directory syncd-acme-store.
    """
    from syncd.scaffold import create_connector

    try:
        path = create_connector(name, directory)
    except (ValueError, FileExistsError) as exc:
        raise _fail(2, f"ogo-syncd new-connector: {exc}") from None
    console.print(f"created {path}\nnext: pip install -e {path} && pytest {path}")


@webhooks_app.command("register")
def webhooks_register(
    url: Annotated[str, typer.Option(help="Public base URL of this daemon's HTTP surface.")],
    config: ConfigOpt = Path(DEFAULT_CONFIG),
    key: Annotated[str | None, typer.Option(
        envvar="OGO_SYNCD_WEBHOOK_KEY",
        help="Signing key (default: \\[myogo] webhook_key).")] = None,
) -> None:
    """Create or update this daemon's myOGO webhooks (OrderShipped, ProductStockLevelChanged)."""
    from syncd.webhooks import register_webhooks

    cfg = _load(config)
    _setup_logging(cfg, "warning")
    for line in _run(register_webhooks(cfg, url, key)):
        console.print(line, highlight=False)


def main() -> None:
    if os.environ.get("OGO_SYNCD_DEBUG"):
        app()
        return
    app()
