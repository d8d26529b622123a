"""Shared fixtures: the myOGO simulator and a WooCommerce simulator over real HTTP, and a
config file + state DB wired to them (what a user of the daemon would have)."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncd.config import Config, load_config
from syncd.engine import Engine
from syncd.state.db import StateDB
from syncd.testing.myogo_sim import MyogoSim
from syncd.testing.server import ServerThread, serve_in_thread
from syncd.testing.woo_sim import KEY, SECRET, WooStore, create_app


@dataclass
class Sims:
    myogo: MyogoSim
    myogo_url: str
    woo: WooStore
    woo_url: str


@pytest.fixture
def sims() -> Iterator[Sims]:
    myogo = MyogoSim()
    woo = WooStore()
    with serve_in_thread(myogo.app) as m, serve_in_thread(create_app(woo)) as w:
        yield Sims(myogo, m.url, woo, w.url)
    myogo.close()


def config_text(sims: Sims, state_db: Path, *, schedule: str = "1m", timeout: float = 5.0,
                extra_daemon: str = "", extra_myogo: str = "", extra_store: str = "") -> str:
    return textwrap.dedent(f"""\
        [daemon]
        state_db = "{state_db}"
        log_format = "json"
        log_level = "info"
        write_concurrency = 4
        shutdown_grace_seconds = 20
        {extra_daemon}

        [myogo]
        api_url = "{sims.myogo_url}/api/v1"
        token_url = "{sims.myogo_url}/OAuth/Token"
        merchant_id = "demo"
        secret_token = "demo"
        timeout = {timeout}
        rate_limit = 1000
        {extra_myogo}

        [[stores]]
        name = "woo"
        connector = "woocommerce"
        reference_prefix = "WC-"
        language = "fi"
        currency = "EUR"
        shipping_map = {{ "flat_rate:1" = "POSTI" }}
        {extra_store}

        [stores.schedule]
        products = "{schedule}"
        orders = "{schedule}"
        stock = "{schedule}"
        tracking = "{schedule}"

        [stores.options]
        url = "{sims.woo_url}"
        consumer_key = "{KEY}"
        consumer_secret = "{SECRET}"
        allow_http = true
        page_size = 20
        """)


@pytest.fixture
def config_path(sims: Sims, tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(config_text(sims, tmp_path / "state.sqlite"))
    return path


@pytest.fixture
def config(config_path: Path) -> Config:
    return load_config(config_path)


@pytest.fixture
def db(config: Config) -> StateDB:
    state = StateDB.from_settings(config.daemon)
    state.migrate()
    return state


@pytest.fixture
async def engine(config: Config, db: StateDB) -> AsyncIterator[Engine]:
    async with Engine(config, db) as eng:
        yield eng


__all__ = ["ServerThread", "Sims", "config_text"]
