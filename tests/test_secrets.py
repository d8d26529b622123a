"""Secrets never leak: not in any output of the daemon or the CLI, not in the state DB.

A full sync runs as a real daemon process at debug level with distinctive credentials given
through ``{ env = ... }`` and ``{ file = ... }`` (``$CREDENTIALS_DIRECTORY``), including error
paths: a second store with a refused WooCommerce secret sent in the query string (auth
errors; httpx logs request URLs at debug level), myOGO 5xx and token
endpoint faults (retries), badly signed webhooks (refusals). A second config authenticates
with the myOGO API key. Then every byte the processes wrote and the state DB files are
searched for each secret in raw, URL-encoded and base64 forms.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import httpx
import pytest
from sqlmodel import select

from syncd.config import load_config
from syncd.state.db import StateDB
from syncd.state.tables import JobRun, OrderLink
from syncd.testing.myogo_sim import MyogoSim, sign_webhook
from syncd.testing.server import serve_in_thread
from syncd.testing.woo_sim import WooStore, create_app, signed_delivery
from tests.daemon_proc import run_cli, start_daemon, stop, wait_for
from tests.test_flows import place_order, seed_catalogue

MERCHANT, CLIENT_ID = "merchant-4417", "client-4417"
# Distinctive values with characters that URL-encoding changes (+ / = & ?).
SECRET_TOKEN = "tok+Secret/4417=QxZ"         # myOGO OAuth password    (env)
CLIENT_SECRET = "cliSecret&9921?v2"          # myOGO OAuth client      (file)
API_KEY = "apiKey+5532/Zeta=="               # myOGO X-OgoKey          (file)
WEBHOOK_KEY = "whk/6630+Kappa=Lx"            # myOGO webhook HMAC key  (file)
WOO_CK = "ck_7dd1e0b5a9c24f0f3e"             # WooCommerce key         (env)
WOO_CS = "cs_91f3+ab/77e0c=d4"               # WooCommerce secret      (file)
WOO_CS_WRONG = "cs_wrong+0c6e/55b1"          # refused secret of store 2 (file)
WOO_HOOK = "wcwh&7710+Lambda/x"              # WooCommerce webhook secret (env)
SECRETS = {
    "myogo secret_token": SECRET_TOKEN, "myogo client_secret": CLIENT_SECRET,
    "myogo api_key": API_KEY, "myogo webhook_key": WEBHOOK_KEY, "woo consumer_key": WOO_CK,
    "woo consumer_secret": WOO_CS, "woo2 consumer_secret": WOO_CS_WRONG,
    "woo webhook_secret": WOO_HOOK,
}
#: credentials that travel as a pair (HTTP Basic): base64 of the pair is a form of both
PAIRS = {"woo basic auth": f"{WOO_CK}:{WOO_CS}", "woo2 basic auth": f"{WOO_CK}:{WOO_CS_WRONG}",
         "myogo client basic auth": f"{CLIENT_ID}:{CLIENT_SECRET}"}
ENV = {"OGO_TEST_SECRET_TOKEN": SECRET_TOKEN, "OGO_TEST_WOO_CK": WOO_CK,
       "OGO_TEST_WOO_HOOK": WOO_HOOK}
FILES = {"myogo_client_secret": CLIENT_SECRET, "myogo_api_key": API_KEY,
         "webhook_key": WEBHOOK_KEY, "woo_cs": WOO_CS, "woo2_cs": WOO_CS_WRONG}


def encoded_forms(value: str) -> set[str]:
    """The ways a secret could show up: raw, URL-encoded, base64 (standard/URL-safe)."""
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(value.encode()).decode()
        forms |= {text, text.rstrip("=")}
    return forms


def leaks(blob: bytes) -> list[str]:
    """Names of the secrets (or credential pairs) found in ``blob`` in any form."""
    found = []
    for name, value in {**SECRETS, **PAIRS}.items():
        if any(form.encode() in blob for form in encoded_forms(value)):
            found.append(name)
    return found


def failed_flows(log: Path, store: str) -> set[str]:
    """Flows of ``store`` with a failed ``job_run`` event in the daemon's JSON log."""
    events = [json.loads(line) for line in log.read_text().splitlines()
              if line.startswith("{") and '"job_run"' in line]
    return {e["flow"] for e in events
            if e.get("event") == "job_run" and e.get("store") == store and not e.get("ok")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_text(myogo_url: str, woo_url: str, state_db: Path, port: int, *,
                api_key: bool) -> str:
    auth = ('api_key = { file = "myogo_api_key" }' if api_key else
            f'merchant_id = "{MERCHANT}"\n'
            'secret_token = { env = "OGO_TEST_SECRET_TOKEN" }')
    store = """
        [[stores]]
        name = "{name}"
        connector = "woocommerce"
        reference_prefix = "{prefix}"
        shipping_map = {{ "flat_rate:1" = "POSTI" }}
        [stores.schedule]
        products = "1s"
        orders = "1s"
        stock = "1s"
        tracking = "1s"
        [stores.options]
        url = "{woo_url}"
        consumer_key = {{ env = "OGO_TEST_WOO_CK" }}
        consumer_secret = {{ file = "{secret_file}" }}
        webhook_secret = {{ env = "OGO_TEST_WOO_HOOK" }}
        auth = "{woo_auth}"
        allow_http = true
        page_size = 20
        """
    return "\n".join(line.strip() for line in f"""
        [daemon]
        state_db = "{state_db}"
        log_format = "json"
        log_level = "debug"
        http_listen = "127.0.0.1:{port}"
        shutdown_grace_seconds = 10

        [myogo]
        api_url = "{myogo_url}/api/v1"
        token_url = "{myogo_url}/OAuth/Token"
        client_id = "{CLIENT_ID}"
        client_secret = {{ file = "myogo_client_secret" }}
        {auth}
        webhook_key = {{ file = "webhook_key" }}
        timeout = 5
        rate_limit = 1000
        retry_max_seconds = 10
        {store.format(name="woo", prefix="WC-", woo_url=woo_url, secret_file="woo_cs",
                      woo_auth="basic")}
        {store.format(name="woo2", prefix="W2-", woo_url=woo_url, secret_file="woo2_cs",
                      woo_auth="query")}
        """.splitlines())


@pytest.fixture
def myogo() -> Iterator[tuple[MyogoSim, str]]:
    sim = MyogoSim(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                   merchants={MERCHANT: SECRET_TOKEN}, api_keys={API_KEY: MERCHANT})
    with serve_in_thread(sim.app) as server:
        yield sim, server.url
    sim.close()


@pytest.fixture
def woo() -> Iterator[tuple[WooStore, str]]:
    store = WooStore()
    store.add_key(WOO_CK, WOO_CS)
    with serve_in_thread(create_app(store)) as server:
        yield store, server.url


def test_no_secret_reaches_any_output_or_the_state_db(
    myogo: tuple[MyogoSim, str], woo: tuple[WooStore, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim, myogo_url = myogo
    store, woo_url = woo
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    for name, value in FILES.items():
        (credentials / name).write_text(value + "\n")
    env = {**ENV, "CREDENTIALS_DIRECTORY": str(credentials)}
    for key, value in env.items():      # for load_config in this process, too
        monkeypatch.setenv(key, value)
    state_db = tmp_path / "state.sqlite"
    port = free_port()
    oauth = tmp_path / "oauth.toml"
    oauth.write_text(config_text(myogo_url, woo_url, state_db, port, api_key=False))
    keyed = tmp_path / "apikey.toml"
    keyed.write_text(config_text(myogo_url, woo_url, state_db, port, api_key=True))
    assert leaks(oauth.read_bytes() + keyed.read_bytes()) == []     # references only
    # the search works: every secret is found where it really is
    assert sorted(leaks(b"".join(p.read_bytes() for p in credentials.iterdir())
                        + "".join(ENV.values()).encode())) == sorted(SECRETS)

    seed_catalogue(store)
    order_id = place_order(store, [("SKU-1", 1)])
    sim.add_fault("error", path="/OAuth/Token", count=1, status=500)
    sim.add_fault("error", method="GET", path="/api/v1/orders", count=3, status=503)
    outputs: dict[str, str] = {}

    log = tmp_path / "daemon.log"
    proc = start_daemon(oauth, log, env=env)
    try:
        wait_for(lambda: len(sim.orders_by_reference(f"WC-{order_id}")) == 1, 60,
                 "the paid order in myOGO")
        registered = run_cli("webhooks", "register", "--url", f"http://127.0.0.1:{port}",
                             "--config", str(oauth), env=env)
        outputs["webhooks register"] = registered.stdout + registered.stderr
        assert registered.returncode == 0, outputs["webhooks register"]
        sim.set_stock("SKU-1", 10)      # the pending order can be served now
        sim.ship(f"WC-{order_id}", "JJFI44170001", "https://track.example/JJFI44170001")
        wait_for(lambda: len(store.trackings(order_id)) == 1, 60, "tracking in the store")
        hook_url = f"http://127.0.0.1:{port}/webhooks"
        bad_myogo = httpx.post(f"{hook_url}/myogo", content=b'{"reference":"WC-1"}',
                               headers={"X-OGOship-Hmac-SHA256": sign_webhook("nope", b"x")})
        headers, body = signed_delivery(store.order(order_id), WOO_HOOK, "order.updated")
        good_store = httpx.post(f"{hook_url}/store/woo", content=body, headers=headers)
        headers, body = signed_delivery(store.order(order_id), "not-the-secret",
                                        "order.updated")
        bad_store = httpx.post(f"{hook_url}/store/woo", content=body, headers=headers)
        assert (bad_myogo.status_code, good_store.status_code, bad_store.status_code) == \
            (401, 202, 401)
        wait_for(lambda: '"myogo.retry"' in log.read_text()
                 and {"products", "orders", "stock"} <= failed_flows(log, "woo2"), 60,
                 "retries and the refused store key's failed runs in the log")
    finally:
        code = stop(proc)
    assert code == 0, log.read_text()[-3000:]
    outputs["daemon"] = log.read_text()

    # the same account through the API key, with a fault so retries happen there too
    sim.add_fault("error", method="GET", path="/api/v1/orders", count=2, status=503)
    place_order(store, [("SKU-2", 1)])
    for name, args, config in [
        ("sync with api key", ("sync", "all", "--store", "woo", "--json"), keyed),
        ("status", ("status", "--json"), oauth),
        ("failures", ("failures",), oauth),
        ("failures json", ("failures", "--json"), oauth),
        ("check oauth", ("check", "--connect"), oauth),
        ("check api key", ("check", "--connect"), keyed),
    ]:
        result = run_cli(*args, "--config", str(config), env=env)
        outputs[name] = result.stdout + result.stderr
        outputs[f"{name} exit"] = str(result.returncode)

    # the secrets were really in play, and the error paths really ran
    assert outputs["sync with api key exit"] == "0", outputs["sync with api key"]
    assert len(sim.orders) == 2
    assert '"myogo_webhook_refused"' in outputs["daemon"]
    assert '"store_webhook_refused"' in outputs["daemon"]
    assert "ok myogo" in outputs["check api key"] and "ok store woo:" in outputs["check oauth"]
    assert "FAILED store woo2" in outputs["check oauth"]
    status = {(row["store"], row["flow"]): row for row in json.loads(outputs["status"])}
    assert status[("woo2", "products")]["result"] == "failed", outputs["status"]
    db = StateDB.from_settings(load_config(oauth).daemon)
    with db.session() as session:
        failed = {r.job: r.error or "" for r in session.exec(select(JobRun).where(
            JobRun.store == "woo2", JobRun.ok == False))}  # noqa: E712 - SQL, not Python
        assert {"products", "orders", "stock"} <= set(failed)
        assert all("WooCommerce refused" in error for error in failed.values())
        link = session.get(OrderLink, ("woo", str(order_id)))
        assert link is not None and link.status == "fulfilled"

    for name, text in outputs.items():
        assert leaks(text.encode()) == [], f"{name} output leaks a secret"
    db_files = [p for p in tmp_path.glob("state.sqlite*") if p.is_file()]
    assert state_db in db_files
    for path in db_files:
        assert leaks(path.read_bytes()) == [], f"{path.name} holds a secret"



def test_redaction_keeps_prose_that_only_mentions_an_auth_scheme() -> None:
    from syncd.logging import redact

    assert redact("token endpoint answered HTTP 500") == "token endpoint answered HTTP 500"
    assert redact("Authorization: Bearer abc123def456ghi") == "Authorization: Bearer ***"
