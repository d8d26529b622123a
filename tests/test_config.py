"""Config loading: every error names its key; secrets resolve and never leak."""

from __future__ import annotations

import re
import textwrap
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, field_validator

import syncd.connector
from syncd.config import (
    Config,
    DaemonSettings,
    StoreConfig,
    default_state_path,
    format_config_error,
    load_config,
    parse_duration,
)
from syncd.connector import ConnectorSettings, StoreConnector
from syncd.errors import ConfigError

REAL_LOAD_CONNECTOR = syncd.connector.load_connector
REPO = Path(__file__).resolve().parents[1]
LITERAL_TOKEN = "tok-literal-7f3a9c"
LITERAL_KEY = "key-literal-c41d2e"


# ---------------------------------------------------------------- a stub connector registry
# The real connectors are written elsewhere and may not import yet; options validation is
# tested against these minimal ones through the same lookup the config uses.


class DummySettings(ConnectorSettings):
    url: str
    api_key: SecretStr
    page_size: int = 50
    tags: list[str] = []

    @field_validator("api_key")
    @classmethod
    def _leaky(cls, value: SecretStr) -> SecretStr:
        # A careless connector that puts the value in its message: config must scrub it.
        if value.get_secret_value().startswith("bad"):
            raise ValueError(f"key {value.get_secret_value()} is revoked")
        return value


class DummyConnector(StoreConnector):
    name = "dummy"
    Settings = DummySettings
    capabilities = frozenset()


class WooStubSettings(ConnectorSettings):
    url: str
    consumer_key: SecretStr
    consumer_secret: SecretStr
    paid_statuses: list[str] = ["processing"]
    shipped_status: str = "completed"


class WooStub(StoreConnector):
    name = "woocommerce"
    Settings = WooStubSettings
    capabilities = frozenset()


class ShopifyStubSettings(ConnectorSettings):
    shop: str
    access_token: SecretStr
    location_id: str | None = None


class ShopifyStub(StoreConnector):
    name = "shopify"
    Settings = ShopifyStubSettings
    capabilities = frozenset()


class Broken(Exception):
    pass


STUBS: dict[str, type[StoreConnector]] = {
    "dummy": DummyConnector, "woocommerce": WooStub, "shopify": ShopifyStub,
}


def _stub_load_connector(name: str) -> type[StoreConnector]:
    if name == "broken":
        raise Broken("plug-in import failed")
    if name not in STUBS:
        raise ConfigError(f"unknown connector {name!r}; installed: {', '.join(sorted(STUBS))}")
    return STUBS[name]


@pytest.fixture(autouse=True)
def stub_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syncd.connector, "load_connector", _stub_load_connector)
    for var in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "XDG_STATE_HOME"):
        monkeypatch.delenv(var, raising=False)


BASE = f"""
[myogo]
merchant_id = "m1"
secret_token = "{LITERAL_TOKEN}"

[[stores]]
name = "shop1"
connector = "dummy"
reference_prefix = "D-"

[stores.options]
url = "https://shop.example.com"
api_key = "{LITERAL_KEY}"
"""

SECOND_STORE = """
[[stores]]
name = "shop2"
connector = "dummy"
reference_prefix = "E-"
[stores.options]
url = "https://two.example.com"
api_key = "k2-literal"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(tmp_path: Path, text: str) -> Config:
    return load_config(write(tmp_path, text))


def error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return info.value


def with_store_lines(extra: str, section: str = "") -> str:
    """BASE with ``extra`` lines added to the store table (or a sub-table of it)."""
    head, options = BASE.split("[stores.options]")
    if section == "options":
        return f"{head}[stores.options]{options}{extra}\n"
    if section:
        return f"{head}{section}\n{extra}\n[stores.options]{options}"
    return f"{head}{extra}\n[stores.options]{options}"


# ---------------------------------------------------------------- the happy path


def test_minimal_config_defaults_and_settings(tmp_path: Path) -> None:
    config = load(tmp_path, BASE)
    store = config.stores[0]
    assert (store.name, store.connector, store.enabled, store.reference_prefix) == (
        "shop1", "dummy", True, "D-")
    assert (store.language, store.currency, store.default_shipping_code) == ("fi", "EUR", "")
    assert store.shipping_map == {} and store.update_new_orders is False
    assert store.webhook_secret is None and store.orders_since is None
    assert store.schedule.products == timedelta(minutes=15)
    assert store.schedule.orders == timedelta(minutes=2)
    assert store.schedule.stock == timedelta(minutes=10)
    assert store.schedule.tracking == timedelta(minutes=10)
    assert isinstance(store.settings, DummySettings)
    assert store.settings.url == "https://shop.example.com"
    assert store.settings.api_key.get_secret_value() == LITERAL_KEY
    assert store.options == {"url": "https://shop.example.com", "api_key": LITERAL_KEY}
    assert config.daemon == DaemonSettings()
    assert config.daemon.write_concurrency == 8 and config.daemon.log_format == "auto"
    assert config.myogo.merchant_id == "m1"
    assert isinstance(config.myogo.secret_token, SecretStr)
    assert config.myogo.secret_token.get_secret_value() == LITERAL_TOKEN


def test_every_store_option_is_read(tmp_path: Path) -> None:
    text = with_store_lines(textwrap.dedent("""
        enabled = false
        language = "sv"
        currency = "SEK"
        default_shipping_code = "POSTI"
        shipping_map = { "flat_rate:1" = "POSTI", "Express" = "DHL" }
        update_new_orders = true
        orders_since = "2024-05-01"
        webhook_secret = "whsec-literal"
        """)) + textwrap.dedent("""
        [stores.schedule]
        products = "1h30m"
        orders = 90
        stock = "off"
        tracking = "2h"
        """)  # a sub-table after [stores.options] still belongs to the last [[stores]]
    config = load(tmp_path, text)
    store = config.stores[0]
    assert store.enabled is False and store.language == "sv" and store.currency == "SEK"
    assert store.default_shipping_code == "POSTI"
    assert store.orders_since == date(2024, 5, 1)
    assert load(tmp_path, with_store_lines("orders_since = 2024-05-01")).stores[
        0].orders_since == date(2024, 5, 1)       # a TOML date works too
    assert store.shipping_map == {"flat_rate:1": "POSTI", "Express": "DHL"}
    assert store.update_new_orders is True
    assert store.webhook_secret is not None
    assert store.webhook_secret.get_secret_value() == "whsec-literal"
    assert store.schedule.products == timedelta(hours=1, minutes=30)
    assert store.schedule.orders == timedelta(seconds=90)
    assert store.schedule.stock is None
    assert store.schedule.tracking == timedelta(hours=2)


@pytest.mark.parametrize(("value", "expected"), [
    ("15m", timedelta(minutes=15)), ("90s", timedelta(seconds=90)), ("2h", timedelta(hours=2)),
    ("1d", timedelta(days=1)), ("1h30m", timedelta(minutes=90)), (45, timedelta(seconds=45)),
    ("120", timedelta(seconds=120)), ("off", None), ("OFF", None),
])
def test_parse_duration(value: object, expected: timedelta | None) -> None:
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["soon", "15 minutes", "-5m", "1.5h", "", 0, -3, True, 1.5])
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match=r"expected a (positive )?duration"):
        parse_duration(value)


def test_state_db_from_env_and_its_password_stays_out_of_repr(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://ogo:pw-7q7q@db/ogo")
    config = load(tmp_path, '[daemon]\nstate_db = { env = "DATABASE_URL" }\n' + BASE)
    assert config.daemon.state_db_url() == "postgresql+psycopg://ogo:pw-7q7q@db/ogo"
    assert "pw-7q7q" not in repr(config) and "pw-7q7q" not in str(config)
    assert "pw-7q7q" in config.secrets()


def test_daemon_table(tmp_path: Path) -> None:
    config = load(tmp_path, """
        [daemon]
        state_db = "postgresql+psycopg://ogo:pw-9x8y@db.local/ogo"
        log_format = "json"
        log_level = "DEBUG"
        write_concurrency = 3
        http_listen = "127.0.0.1:9181"
        shutdown_grace_seconds = 5
    """ + BASE)
    d = config.daemon
    assert (d.log_format, d.log_level, d.write_concurrency) == ("json", "debug", 3)
    assert (d.http_listen, d.shutdown_grace_seconds) == ("127.0.0.1:9181", 5.0)
    assert d.state_db_url() == "postgresql+psycopg://ogo:pw-9x8y@db.local/ogo"
    assert "pw-9x8y" in config.secrets()        # the DB password is redacted from logs


def test_state_db_path_is_relative_to_the_config_file(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "etc").mkdir()
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "etc" / "config.toml"
    path.write_text('[daemon]\nstate_db = "data/state.sqlite"\n' + BASE)
    daemon = load_config(path).daemon
    assert daemon.state_db == str(tmp_path / "etc" / "data" / "state.sqlite")
    assert daemon.state_db_url() == f"sqlite:///{tmp_path}/etc/data/state.sqlite"


def test_default_state_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_path() == tmp_path / "home/.local/state/ogo-syncd/state.sqlite"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_path() == tmp_path / "xdg/ogo-syncd/state.sqlite"
    monkeypatch.setenv("STATE_DIRECTORY", f"{tmp_path}/sd:/other")
    assert default_state_path() == tmp_path / "sd/ogo-syncd.sqlite"
    assert DaemonSettings().state_db_url() == f"sqlite:///{tmp_path}/sd/ogo-syncd.sqlite"


def test_api_key_alone_is_enough_for_myogo(tmp_path: Path) -> None:
    config = load(tmp_path, BASE.replace('merchant_id = "m1"', "").replace(
        f'secret_token = "{LITERAL_TOKEN}"', 'api_key = "ogokey-1"'))
    assert config.myogo.api_key is not None and config.myogo.merchant_id is None


# ---------------------------------------------------------------- secrets


def test_secrets_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OGO_SECRET", "env-token-5521")
    monkeypatch.setenv("DUMMY_KEY", "env-key-8832")
    monkeypatch.setenv("HOOK", "env-hook-1177")
    text = BASE.replace(f'"{LITERAL_TOKEN}"', '{ env = "OGO_SECRET" }').replace(
        f'"{LITERAL_KEY}"', '{ env = "DUMMY_KEY" }').replace(
        'reference_prefix = "D-"', 'reference_prefix = "D-"\nwebhook_secret = { env = "HOOK" }')
    config = load(tmp_path, text)
    store = config.stores[0]
    assert config.myogo.secret_token is not None
    assert config.myogo.secret_token.get_secret_value() == "env-token-5521"
    assert store.settings.api_key.get_secret_value() == "env-key-8832"
    assert store.webhook_secret is not None
    assert store.webhook_secret.get_secret_value() == "env-hook-1177"
    assert store.options["api_key"] == {"env": "DUMMY_KEY"}     # options stay as written
    secrets = config.secrets()
    assert {"env-token-5521", "env-key-8832", "env-hook-1177"} <= set(secrets)
    assert secrets == sorted(secrets, key=lambda s: (-len(s), s))


def test_secrets_from_credentials_directory(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "ogo-token").write_text("file-token-3141\n")
    (creds / "dummy-key").write_text("file-key-2718\r\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    text = BASE.replace(f'"{LITERAL_TOKEN}"', '{ file = "ogo-token" }').replace(
        f'"{LITERAL_KEY}"', '{ file = "dummy-key" }')
    config = load(tmp_path, text)
    assert config.myogo.secret_token is not None
    assert config.myogo.secret_token.get_secret_value() == "file-token-3141"
    assert config.stores[0].settings.api_key.get_secret_value() == "file-key-2718"
    assert {"file-token-3141", "file-key-2718"} <= set(config.secrets())


def test_secret_file_next_to_config_and_absolute(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text("side-token-1618\n\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "key").write_text("abs-key-1414")
    text = BASE.replace(f'"{LITERAL_TOKEN}"', '{ file = "token.txt" }').replace(
        f'"{LITERAL_KEY}"', f'{{ file = "{elsewhere / "key"}" }}')
    config = load(tmp_path, text)
    assert config.myogo.secret_token is not None
    assert config.myogo.secret_token.get_secret_value() == "side-token-1618\n"  # one \n dropped
    assert config.stores[0].settings.api_key.get_secret_value() == "abs-key-1414"


def test_secret_never_in_repr_or_str_of_config(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK", "env-hook-4040")
    config = load(tmp_path, BASE.replace(
        'reference_prefix = "D-"', 'reference_prefix = "D-"\nwebhook_secret = { env = "HOOK" }'))
    for text in (repr(config), str(config), repr(config.stores[0]), repr(config.myogo)):
        for secret in (LITERAL_TOKEN, LITERAL_KEY, "env-hook-4040"):
            assert secret not in text
    assert "shop1" in repr(config)          # the repr is still useful


def test_secret_never_in_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a resolved secret fed to a non-secret field of the wrong type
    monkeypatch.setenv("SIZE", "secret-size-9090")
    err = error(tmp_path, with_store_lines('page_size = { env = "SIZE" }', "options"))
    assert err.key == "stores[0].options.page_size"
    assert "secret-size-9090" not in str(err) and "expected an integer" in str(err)
    # a connector validator that echoes the secret: scrubbed
    err = error(tmp_path, BASE.replace(LITERAL_KEY, "bad-key-6060"))
    assert err.key == "stores[0].options.api_key"
    assert "bad-key-6060" not in str(err) and "revoked" in str(err)
    assert "bad-key-6060" not in format_config_error(err)
    # a wrong type in a secret field: the type is named, not the value
    err = error(tmp_path, BASE.replace(f'"{LITERAL_TOKEN}"', "123456789"))
    assert err.key == "myogo.secret_token"
    assert "123456789" not in str(err) and "an integer" in str(err)
    # the password of a malformed state_db URL
    err = error(tmp_path, '[daemon]\nstate_db = "nope://u:pw-3131@h:notaport/x"\n' + BASE)
    assert err.key == "daemon.state_db" and "pw-3131" not in str(err)


def test_table_fields_are_not_taken_for_references(tmp_path: Path) -> None:
    config = load(tmp_path, with_store_lines('shipping_map = { env = "POSTI" }'))
    assert config.stores[0].shipping_map == {"env": "POSTI"}    # a method named "env"


def test_missing_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    err = error(tmp_path, BASE.replace(f'"{LITERAL_KEY}"', '{ env = "NOT_SET_ANYWHERE" }'))
    assert err.key == "stores[0].options.api_key"
    assert err.message == "environment variable NOT_SET_ANYWHERE is not set"


def test_missing_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    err = error(tmp_path, BASE.replace(f'"{LITERAL_TOKEN}"', '{ file = "ogo-token" }'))
    assert err.key == "myogo.secret_token"
    assert err.message == (f"cannot read secret file {tmp_path}/creds/ogo-token: "
                           "No such file or directory")


def test_malformed_secret_reference(tmp_path: Path) -> None:
    err = error(tmp_path, BASE.replace(f'"{LITERAL_TOKEN}"', '{ env = "A", file = "b" }'))
    assert err.key == "myogo.secret_token"
    assert err.message.startswith('expected a string, { env = "NAME" } or { file = "name" }')


# ---------------------------------------------------------------- error paths


ERROR_CASES = [
    # unknown keys at each level
    ("colour = 1\n" + BASE, "colour", "unknown key 'colour'; expected one of daemon, myogo, "
                                      "stores"),
    ('[daemon]\nlog_levle = "info"\n' + BASE, "daemon.log_levle",
     "unknown key 'log_levle'; did you mean 'log_level'?"),
    (BASE.replace('merchant_id = "m1"', 'merchant_id = "m1"\nmerchantid = "x"'),
     "myogo.merchantid", "unknown key 'merchantid'; did you mean 'merchant_id'?"),
    (with_store_lines('colour = "red"'), "stores[0].colour",
     "unknown key 'colour'; expected one of connector, currency, default_shipping_code, "
     "enabled, language, name, options, orders_since, reference_prefix, schedule, "
     "shipping_map, update_new_orders, webhook_secret"),
    (with_store_lines('settings = "x"'), "stores[0].settings", "unknown key 'settings'; "
     "expected one of connector, currency, default_shipping_code, enabled, language, name, "
     "options, orders_since, reference_prefix, schedule, shipping_map, update_new_orders, "
     "webhook_secret"),
    (with_store_lines('product = "1m"', "[stores.schedule]"), "stores[0].schedule.product",
     "unknown key 'product'; did you mean 'products'?"),
    (with_store_lines("pagesize = 10", "options"), "stores[0].options.pagesize",
     "unknown key 'pagesize'; did you mean 'page_size'?"),
    # wrong types and values
    ('[daemon]\nwrite_concurrency = "eight"\n' + BASE, "daemon.write_concurrency",
     "expected an integer, got 'eight'"),
    ("[daemon]\nwrite_concurrency = 0\n" + BASE, "daemon.write_concurrency",
     "expected a number at least 1, got 0"),
    ('[daemon]\nlog_format = "xml"\n' + BASE, "daemon.log_format",
     "expected one of 'auto', 'json' or 'console', got 'xml'"),
    ('[daemon]\nhttp_listen = "9181"\n' + BASE, "daemon.http_listen",
     "expected host:port like '127.0.0.1:9181' (or \"\" for none), got '9181'"),
    ("[daemon]\nshutdown_grace_seconds = -1\n" + BASE, "daemon.shutdown_grace_seconds",
     "expected a number at least 0, got -1"),
    (BASE.replace('merchant_id = "m1"', 'merchant_id = "m1"\ntimeout = "fast"'),
     "myogo.timeout", "expected a number, got 'fast'"),
    (with_store_lines('enabled = "yes"'), "stores[0].enabled",
     "expected true or false, got 'yes'"),
    (with_store_lines('language = "de"'), "stores[0].language",
     "expected one of 'fi', 'en' or 'sv', got 'de'"),
    (with_store_lines('currency = "euro"'), "stores[0].currency",
     "expected a 3-letter ISO currency code like 'EUR', got 'euro'"),
    (with_store_lines('orders_since = "2024-13-01"'), "stores[0].orders_since",
     "expected a date like \"2024-05-01\" (YYYY-MM-DD), got '2024-13-01'"),
    (with_store_lines('orders_since = "1.5.2024"'), "stores[0].orders_since",
     "expected a date like \"2024-05-01\" (YYYY-MM-DD), got '1.5.2024'"),
    (with_store_lines("orders_since = 2024-05-01T10:00:00"), "stores[0].orders_since",
     "expected a date like \"2024-05-01\" (YYYY-MM-DD), got "
     "datetime.datetime(2024, 5, 1, 10, 0)"),
    (with_store_lines('shipping_map = { "x" = 1 }'), 'stores[0].shipping_map.x',
     "expected a string, got 1"),
    (with_store_lines('shipping_map = "POSTI"'), "stores[0].shipping_map",
     "expected a table, got 'POSTI'"),
    (with_store_lines("tags = [1]", "options"), "stores[0].options.tags[0]",
     "expected a string, got 1"),
    (BASE.replace('name = "shop1"', 'name = "Shop 1"'), "stores[0].name",
     "expected lowercase letters, digits, '_' or '-' (like 'shop1'), got 'Shop 1'"),
    (BASE.replace('url = "https://shop.example.com"', ""), "stores[0].options.url",
     "required key is missing"),
    (BASE.replace('reference_prefix = "D-"', ""), "stores[0].reference_prefix",
     "required key is missing"),
    # durations
    (with_store_lines('orders = "soon"', "[stores.schedule]"), "stores[0].schedule.orders",
     "expected a duration like '2m', '90s' or 'off', got 'soon'"),
    (with_store_lines("stock = 0", "[stores.schedule]"), "stores[0].schedule.stock",
     "expected a positive duration or 'off', got 0"),
    (BASE + SECOND_STORE + '[stores.schedule]\ntracking = "later"\n',
     "stores[1].schedule.tracking", "expected a duration like '2m', '90s' or 'off', got 'later'"),
    # connectors
    (BASE.replace('connector = "dummy"', 'connector = "nosuch"'), "stores[0].connector",
     "unknown connector 'nosuch'; installed: dummy, shopify, woocommerce"),
    (BASE.replace('connector = "dummy"', 'connector = "broken"'), "stores[0].connector",
     "connector 'broken' could not be loaded: Broken: plug-in import failed"),
    # cross-checks
    (BASE + SECOND_STORE.replace("shop2", "shop1"), "stores[1].name",
     "expected a unique store name, but 'shop1' is also stores[0]"),
    (BASE + SECOND_STORE.replace('"E-"', '"D-"'), "stores[1].reference_prefix",
     "expected a unique reference prefix, but 'D-' is also used by stores[0] (shop1)"),
    (BASE + SECOND_STORE.replace('"E-"', '"D-X"'), "stores[1].reference_prefix",
     "expected reference prefixes that do not start one another: 'D-X' and 'D-' (stores[0], "
     "shop1) make myOGO references ambiguous"),
    (BASE.split("[[stores]]")[0], "stores", "expected at least one [[stores]] table"),
    ("stores = []\n" + BASE.split("[[stores]]")[0], "stores",
     "expected at least one [[stores]] table"),
    ('stores = "shop1"\n' + BASE.split("[[stores]]")[0], "stores",
     "expected an array of tables [[stores]]"),
    (BASE.replace(f'secret_token = "{LITERAL_TOKEN}"', ""), "myogo",
     "expected credentials: merchant_id and secret_token, or api_key"),
    ('daemon = "fast"\n' + BASE, "daemon", "expected a table [daemon], got a string"),
]


@pytest.mark.parametrize(("text", "key", "message"), ERROR_CASES,
                         ids=[case[1] + ":" + case[2][:30] for case in ERROR_CASES])
def test_config_errors_name_the_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    err = error(tmp_path, text)
    assert (err.key, err.message) == (key, message)
    line = format_config_error(err)
    assert line == f"config error: {key}: {message}"
    assert "\n" not in line


def test_toml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "\n[[stores]\nname = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert err.key is None
    match = re.match(rf"invalid TOML in {re.escape(str(path))} at line (\d+), column (\d+): ",
                     err.message)
    assert match, err.message
    assert int(match.group(1)) == len(BASE.splitlines()) + 2
    assert format_config_error(err) == f"config error: {err.message}"


def test_unreadable_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*missing\.toml: No such"):
        load_config(tmp_path / "missing.toml")


def test_uninstalled_connector_with_the_real_registry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(syncd.connector, "load_connector", REAL_LOAD_CONNECTOR)
    err = error(tmp_path, BASE.replace('connector = "dummy"', 'connector = "not-installed-x"'))
    assert err.key == "stores[0].connector"
    assert err.message.startswith("unknown connector 'not-installed-x'; installed: ")


def test_store_config_can_be_built_directly() -> None:
    """Engine tests build stores without a file; settings then default to an empty model."""
    store = StoreConfig(name="s", connector="dummy", reference_prefix="S-")
    assert isinstance(store.settings, ConnectorSettings)
    assert store.schedule.orders == timedelta(minutes=2)


# ---------------------------------------------------------------- the shipped example


def test_config_example_parses(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OGO_SECRET", "WC_KEY", "WC_SECRET", "SHOPIFY_TOKEN"):
        monkeypatch.setenv(name, f"example-{name.lower()}")
    config = load_config(REPO / "config.example.toml")
    assert [s.name for s in config.stores] == ["shop1"]
    woo = config.stores[0]
    assert isinstance(woo.settings, WooStubSettings)
    assert woo.settings.consumer_secret.get_secret_value() == "example-wc_secret"
    assert woo.settings.paid_statuses == ["processing"]
    assert woo.shipping_map["flat_rate:1"] == "POSTI"
    assert "example-ogo_secret" in config.secrets()


def test_config_example_shopify_block_parses_when_uncommented(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OGO_SECRET", "WC_KEY", "WC_SECRET", "SHOPIFY_TOKEN"):
        monkeypatch.setenv(name, f"example-{name.lower()}")
    text = (REPO / "config.example.toml").read_text()
    start = text.index("# A second store")
    start = text.index("\n", start) + 1
    head, tail = text[:start], re.sub(r"(?m)^# ?", "", text[start:])
    config = load_config(write(tmp_path, head + tail))
    assert [s.connector for s in config.stores] == ["woocommerce", "shopify"]
    shop = config.stores[1]
    assert isinstance(shop.settings, ShopifyStubSettings)
    assert shop.settings.location_id == "gid://shopify/Location/1"
    assert shop.schedule.products == timedelta(minutes=30)
