"""One TOML file -> validated, typed settings, with errors that name the key.

Every mistake becomes one ``ConfigError(message, key="stores[0].schedule.orders")`` whose
message says what was expected, so ``ogo-syncd check`` and a failing start (exit 78) tell
the operator exactly which line to fix. Unknown keys are errors everywhere: a typo must not
silently fall back to a default. Secrets may be literals, ``{ env = "NAME" }`` or
``{ file = "name" }``; resolved values end up as ``SecretStr`` and never in messages.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    SerializeAsAny,
    ValidationError,
    create_model,
    field_validator,
)
from pydantic_core import ErrorDetails
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from syncd import connector as connector_registry
from syncd.connector import ConnectorSettings
from syncd.errors import ConfigError
from syncd.flows import FLOWS
from syncd.myogo.settings import MyogoSettings
from syncd.secrets import SECRET_REF_HELP, is_secret_ref, resolve_secret_ref

DURATION_HELP = "expected a duration like '2m', '90s' or 'off'"
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^(?:\d+[smhd])+$")
_DURATION_PART = re.compile(r"(\d+)([smhd])")
_STORE_NAME = re.compile(r"^[a-z0-9_-]+$")
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
#: a shell-style placeholder written as a secret: "${WOO_KEY}" (the config never expands it)
_PLACEHOLDER = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")
_SECRET_IN_URL_FIELDS = {"state_db"}      # may hold a password: never echo the value
M = TypeVar("M", bound=BaseModel)
_INTERNAL_FIELDS = {"settings"}          # filled by the loader, never written in the file


# ---------------------------------------------------------------- value parsers


def parse_duration(value: object) -> timedelta | None:
    """``"15m"``, ``"90s"``, ``"2h"``, ``"1h30m"``, ``"1d"``, int seconds, or ``"off"`` (None)."""
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{DURATION_HELP}, got {str(value).lower()}")
    if isinstance(value, int):
        seconds = value
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if text == "off":
            return None
        if text.isdigit():
            seconds = int(text)
        elif _DURATION.match(text):
            seconds = sum(int(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(text))
        else:
            raise ValueError(f"{DURATION_HELP}, got {value!r}")
    else:
        raise ValueError(f"{DURATION_HELP}, got {_toml_type(value)}")
    if seconds <= 0:
        raise ValueError(f"expected a positive duration or 'off', got {value!r}")
    return timedelta(seconds=seconds)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


Duration = Annotated[timedelta | None, BeforeValidator(parse_duration)]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


def default_state_path() -> Path:
    """Where the state DB lives when the config does not say: systemd, then XDG, then ~."""
    state_dir = os.environ.get("STATE_DIRECTORY")
    if state_dir:
        return Path(state_dir.split(":")[0]) / "ogo-syncd.sqlite"
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / "ogo-syncd" / "state.sqlite"


# ---------------------------------------------------------------- settings models


class _Strict(BaseModel):
    """TOML already has types: take them as they are, refuse unknown keys."""

    model_config = ConfigDict(extra="forbid", strict=True)


class DaemonSettings(_Strict):
    """The ``[daemon]`` table."""

    # SQLAlchemy URL or a file path; None = default path. Not in repr: a URL may hold a password.
    state_db: str | None = Field(None, repr=False)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Annotated[LogLevel, BeforeValidator(_lower)] = "info"
    write_concurrency: int = Field(8, ge=1, le=256)     # concurrent remote writes per flow
    http_listen: str = ""                               # "127.0.0.1:9181"; "" = no HTTP surface
    shutdown_grace_seconds: float = Field(30.0, ge=0)
    # fleet workers: silent this long (no heartbeat) = dead; its running jobs are retried
    worker_timeout_seconds: float = Field(30.0, ge=2, le=3600)

    @field_validator("state_db")
    @classmethod
    def _check_state_db(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("expected a SQLAlchemy URL or a file path, got an empty string")
        if "://" in value:
            try:
                make_url(value)
            except ArgumentError:
                raise ValueError("expected a SQLAlchemy URL like 'sqlite:///path/state.sqlite' "
                                 "or 'postgresql+psycopg://user@host/db'") from None
        return value

    @field_validator("http_listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        if value == "":
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
            raise ValueError(f"expected host:port like '127.0.0.1:9181' (or \"\" for none), "
                             f"got {value!r}")
        return value

    def state_db_url(self) -> str:
        """The SQLAlchemy URL of the state DB (a path becomes a ``sqlite:///`` URL)."""
        if self.state_db and "://" in self.state_db:
            return self.state_db
        path = Path(self.state_db).expanduser() if self.state_db else default_state_path()
        return URL.create("sqlite", database=str(path)).render_as_string(hide_password=False)


#: ``[stores.schedule]``: how often each flow runs; None (``"off"``) = never scheduled. One
#: key per flow of the registry (``syncd.flows``), defaulting to the flow's interval.
ScheduleSettings: type[_Strict] = create_model(
    "ScheduleSettings", __base__=_Strict, __module__=__name__,
    **{flow.name: (Duration, flow.interval) for flow in FLOWS},  # type: ignore[call-overload]
)
ScheduleSettings.__doc__ = "``[stores.schedule]``: how often each flow runs (syncd.flows)."


class StoreConfig(_Strict):
    """One ``[[stores]]`` table. ``settings`` is the connector's validated ``options``."""

    name: str
    connector: str
    enabled: bool = True
    reference_prefix: str               # myOGO reference = prefix + store order number
    language: Literal["fi", "en", "sv"] = "fi"
    currency: str = "EUR"
    default_shipping_code: str = ""     # "" = omit shippingCode when the map has no entry
    shipping_map: dict[str, str] = Field(default_factory=dict)
    update_new_orders: bool = False
    #: go-live date: orders paid (else created) before it, 00:00 UTC, are never sent
    orders_since: date | None = None
    webhook_secret: SecretStr | None = None
    schedule: ScheduleSettings = Field(default_factory=ScheduleSettings)
    options: dict[str, Any] = Field(default_factory=dict, repr=False)   # as written in the file
    settings: SerializeAsAny[ConnectorSettings] = Field(default_factory=ConnectorSettings)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _STORE_NAME.match(value) or len(value) > 64:
            raise ValueError("expected lowercase letters, digits, '_' or '-' (like 'shop1'), "
                             f"got {value!r}")
        return value

    @field_validator("connector")
    @classmethod
    def _check_connector(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("expected a connector name like 'woocommerce', got an empty string")
        return value

    @field_validator("reference_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if len(value) > 32 or any(ch.isspace() or not ch.isprintable() for ch in value):
            raise ValueError("expected a short prefix without spaces (like 'WC-'), "
                             f"got {value!r}")
        return value

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"expected a 3-letter ISO currency code like 'EUR', got {value!r}")
        return value

    @field_validator("orders_since", mode="before")
    @classmethod
    def _check_orders_since(cls, value: object) -> object:
        """A TOML date (``2024-05-01``) or the same as a string; never a date-time."""
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            try:
                return date.fromisoformat(value.strip())
            except ValueError:
                pass
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        raise ValueError(f'expected a date like "2024-05-01" (YYYY-MM-DD), got {value!r}')

    @field_validator("shipping_map")
    @classmethod
    def _check_shipping_map(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not k.strip() for k in value):
            raise ValueError("expected store shipping method names as keys, got an empty key")
        return value


class Config(BaseModel):
    """The whole validated config file."""

    model_config = ConfigDict(extra="forbid")

    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    myogo: MyogoSettings
    stores: list[StoreConfig]
    _resolved_secrets: list[str] = PrivateAttr(default_factory=list)

    def secrets(self) -> list[str]:
        """Every secret value in the config, longest first, for the log redaction processor.

        That is every ``SecretStr`` anywhere (myOGO, store webhook secrets, connector
        settings), every value read through ``{ env }``/``{ file }`` and a state DB password.
        """
        found = set(self._resolved_secrets)
        found.update(s.get_secret_value() for s in _secret_strs(self))
        if self.daemon.state_db and "://" in self.daemon.state_db:
            password = make_url(self.daemon.state_db).password
            if password:
                found.add(str(password))
        return sorted((s for s in found if s), key=lambda s: (-len(s), s))


def _secret_strs(value: object) -> Iterator[SecretStr]:
    if isinstance(value, SecretStr):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secret_strs(getattr(value, name))
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secret_strs(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _secret_strs(item)


# ---------------------------------------------------------------- loading


def load_config(path: Path) -> Config:
    """Read, resolve secret references and validate ``path``; ``ConfigError`` on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: "
                          f"{exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_error_message(path, exc)) from None
    return _Loader(base_dir=path.resolve().parent).build(raw)


def format_config_error(err: ConfigError) -> str:
    """One line for the operator: ``config error: <key>: <message>``."""
    message = " ".join(err.message.split())
    return f"config error: {err.key}: {message}" if err.key else f"config error: {message}"


class _Loader:
    """Carries what one load needs: the base directory and the secrets seen so far."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.resolved: list[str] = []       # values read from env/file
        self.literals: set[str] = set()     # literal strings written in secret fields

    def build(self, raw: dict[str, Any]) -> Config:
        for key in raw:
            if key not in Config.model_fields:
                raise ConfigError(_unknown_key_message(key, Config), key=_join("", (key,)))
        daemon = self._section(raw, "daemon", DaemonSettings)
        if daemon.state_db and "://" not in daemon.state_db:
            state_path = Path(daemon.state_db).expanduser()
            if not state_path.is_absolute():    # relative to the config file, not the cwd
                daemon = daemon.model_copy(update={"state_db": str(self.base_dir / state_path)})
        myogo = self._section(raw, "myogo", MyogoSettings)
        if not (myogo.api_key or (myogo.merchant_id and myogo.secret_token)):
            raise ConfigError("expected credentials: merchant_id and secret_token, "
                              "or api_key", key="myogo")
        stores = self._stores(raw.get("stores"))
        config = Config(daemon=daemon, myogo=myogo, stores=stores)
        config._resolved_secrets = list(self.resolved)
        return config

    def _section(self, raw: dict[str, Any], name: str, model: type[M]) -> M:
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"expected a table [{name}], got {_toml_type(table)}", key=name)
        return self._validate(model, self._resolve_refs(table, model, name), name)

    def _stores(self, tables: object) -> list[StoreConfig]:
        if tables is None:
            raise ConfigError("expected at least one [[stores]] table", key="stores")
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise ConfigError("expected an array of tables [[stores]]", key="stores")
        if not tables:
            raise ConfigError("expected at least one [[stores]] table", key="stores")
        stores = [self._store(i, table) for i, table in enumerate(tables)]
        _check_unique(stores)
        return stores

    def _store(self, index: int, table: dict[str, Any]) -> StoreConfig:
        prefix = f"stores[{index}]"
        for key in _INTERNAL_FIELDS & set(table):
            raise ConfigError(_unknown_key_message(key, StoreConfig), key=f"{prefix}.{key}")
        options = table.get("options", {})
        if not isinstance(options, dict):
            raise ConfigError(f"expected a table [stores.options], got {_toml_type(options)}",
                              key=f"{prefix}.options")
        resolved = self._resolve_refs({k: v for k, v in table.items() if k != "options"},
                                      StoreConfig, prefix)
        store = self._validate(StoreConfig, {**resolved, "options": options}, prefix)
        cls = _load_connector(store.connector, key=f"{prefix}.connector")
        settings_model: type[BaseModel] = getattr(cls, "Settings", ConnectorSettings)
        option_values = self._resolve_refs(options, settings_model, f"{prefix}.options")
        store.settings = self._validate(settings_model, option_values, f"{prefix}.options")
        return store

    def _resolve_refs(self, table: dict[str, Any], model: type[BaseModel],
                      prefix: str) -> dict[str, Any]:
        """Replace ``{ env }``/``{ file }`` tables by their values (top level of a table)."""
        out: dict[str, Any] = {}
        for key, value in table.items():
            secret_field = _is_secret_field(model, key)
            if _is_table_field(model, key):     # a real table (shipping_map): never a reference
                out[key] = value
                continue
            if is_secret_ref(value, secret_field=secret_field):
                value = resolve_secret_ref(value, key=_join(prefix, (key,)),
                                           base_dir=self.base_dir)
                self.resolved.append(value)
            elif secret_field and isinstance(value, str):
                if _PLACEHOLDER.fullmatch(value.strip()):
                    raise ConfigError(f"{value.strip()} is not expanded (there is no ${{...}} "
                                      f"syntax): write {SECRET_REF_HELP}",
                                      key=_join(prefix, (key,)))
                self.literals.add(value)
            out[key] = value
        return out

    def _validate(self, model: type[M], data: dict[str, Any], prefix: str) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise self._error(exc, model, data, prefix) from None

    def _error(self, exc: ValidationError, model: type[BaseModel], data: dict[str, Any],
               prefix: str) -> ConfigError:
        """The first pydantic error as a one-line ``ConfigError`` free of secret values."""
        detail = exc.errors(include_url=False)[0]
        loc = _clean_loc(detail["loc"])
        message = _describe(detail, model, loc, self._secret_values())
        for secret in self._secret_values():
            message = message.replace(secret, "***")
        return ConfigError(message, key=_join(prefix, loc))

    def _secret_values(self) -> list[str]:
        return sorted({*self.resolved, *self.literals} - {""}, key=len, reverse=True)


def _check_unique(stores: list[StoreConfig]) -> None:
    """Store names are unique; no reference prefix may start another (ambiguous owner)."""
    seen: dict[str, int] = {}
    for i, store in enumerate(stores):
        if store.name in seen:
            raise ConfigError(f"expected a unique store name, but {store.name!r} is also "
                              f"stores[{seen[store.name]}]", key=f"stores[{i}].name")
        seen[store.name] = i
    for i, store in enumerate(stores):
        for j, other in enumerate(stores[:i]):
            a, b = store.reference_prefix, other.reference_prefix
            if a == b:
                raise ConfigError(f"expected a unique reference prefix, but {a!r} is also "
                                  f"used by stores[{j}] ({other.name})",
                                  key=f"stores[{i}].reference_prefix")
            if a.startswith(b) or b.startswith(a):
                raise ConfigError(f"expected reference prefixes that do not start one another: "
                                  f"{a!r} and {b!r} (stores[{j}], {other.name}) make myOGO "
                                  f"references ambiguous", key=f"stores[{i}].reference_prefix")


def _load_connector(name: str, *, key: str) -> type[connector_registry.StoreConnector]:
    """The connector class, or a ``ConfigError`` naming ``stores[i].connector``."""
    try:
        return connector_registry.load_connector(name)
    except ConfigError as exc:
        raise ConfigError(exc.message, key=key) from None
    except Exception as exc:  # a broken or half-installed plug-in
        raise ConfigError(f"connector {name!r} could not be loaded: "
                          f"{type(exc).__name__}: {exc}", key=key) from None


# ---------------------------------------------------------------- error messages


def _toml_error_message(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    text = str(exc)
    where = re.search(r"\(at line (\d+), column (\d+)\)", text)
    reason = re.sub(r"\s*\(at [^)]*\)\s*$", "", text)
    reason = reason[:1].lower() + reason[1:]
    if where:
        return (f"invalid TOML in {path} at line {where.group(1)}, column {where.group(2)}: "
                f"{reason}")
    return f"invalid TOML in {path}: {reason}"


_TYPE_WORDS = {
    "string_type": "a string", "int_type": "an integer", "int_parsing": "an integer",
    "int_from_float": "an integer", "float_type": "a number", "float_parsing": "a number",
    "bool_type": "true or false", "bool_parsing": "true or false", "dict_type": "a table",
    "model_type": "a table", "model_attributes_type": "a table", "list_type": "an array",
    "tuple_type": "an array", "set_type": "an array",
}


def _describe(detail: ErrorDetails, model: type[BaseModel], loc: tuple[str | int, ...],
              secrets: list[str]) -> str:
    kind = detail["type"]
    value = detail.get("input")
    ctx = detail.get("ctx") or {}
    if kind == "extra_forbidden":
        return _unknown_key_message(str(loc[-1]) if loc else "?", _model_at(model, loc[:-1]))
    if kind == "missing":
        return "required key is missing"
    if kind in ("value_error", "assertion_error"):
        error = ctx.get("error")
        return str(error) if error is not None else detail["msg"]
    if kind == "literal_error":
        expected = f"one of {ctx.get('expected', '')}"
    elif kind in _TYPE_WORDS:
        expected = _TYPE_WORDS[kind]
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = ctx.get("gt", ctx.get("ge", ctx.get("lt", ctx.get("le"))))
        if isinstance(bound, float) and bound.is_integer():
            bound = int(bound)
        relation = {"greater_than": "greater than", "greater_than_equal": "at least",
                    "less_than": "less than", "less_than_equal": "at most"}[kind]
        expected = f"a number {relation} {bound}"
    elif kind == "secret_type" or "SecretStr" in detail["msg"]:
        expected = SECRET_REF_HELP
    else:
        text = detail["msg"]
        expected = text[len("Input should be "):] if text.startswith("Input should be ") else text
    return f"expected {expected}, got {_show(value, model, loc, secrets)}"


def _show(value: object, model: type[BaseModel], loc: tuple[str | int, ...],
          secrets: list[str]) -> str:
    """The offending value for the message, unless it could be a secret (then its type)."""
    field = str(loc[0]) if loc else ""
    echo_ok = (
        isinstance(value, str | int | float | bool)
        and not _is_secret_field(model, field)
        and field not in _SECRET_IN_URL_FIELDS
        and not any(s in str(value) for s in secrets)
        and len(str(value)) <= 80
    )
    if not echo_ok:
        return _toml_type(value)
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def _unknown_key_message(key: str, model: type[BaseModel] | None) -> str:
    known = sorted(set(model.model_fields) - _INTERNAL_FIELDS) if model is not None else []
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else (
        f"; expected one of {', '.join(known)}" if known else "")
    return f"unknown key {key!r}{hint}"


def _toml_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return "a date/time" if value is not None else "nothing"


def _clean_loc(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop pydantic's schema tags (``function-after[...]``, union members) from a location."""
    tags = {"str", "int", "float", "bool", "none", "SecretStr", "timedelta", "dict", "list",
            "constrained-str", "constrained-int", "constrained-float", "literal"}
    return tuple(p for p in loc if isinstance(p, int) or ("[" not in p and p not in tags))


def _join(prefix: str, loc: tuple[str | int, ...]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if _BARE_KEY.match(part) else f'"{part}"'
            out = f"{out}.{name}" if out else name
    return out


def _unwrap(annotation: Any) -> list[Any]:
    """The plain types inside ``X | None``, ``Annotated[X, ...]`` and friends."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _is_secret_field(model: type[BaseModel] | None, name: str) -> bool:
    if model is None or name not in model.model_fields:
        return False
    return any(t is SecretStr for t in _unwrap(model.model_fields[name].annotation))


def _is_table_field(model: type[BaseModel], name: str) -> bool:
    if name not in model.model_fields:
        return False
    for t in _unwrap(model.model_fields[name].annotation):
        origin = typing.get_origin(t) or t
        if isinstance(origin, type) and issubclass(origin, dict | Mapping | BaseModel):
            return True
    return False


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class that validates the table at ``loc`` inside ``model`` (for hints)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None or not isinstance(part, str) or part not in current.model_fields:
            return None
        nested = [t for t in _unwrap(current.model_fields[part].annotation)
                  if isinstance(t, type) and issubclass(t, BaseModel)]
        current = nested[0] if nested else None
    return current
