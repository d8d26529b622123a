"""Logging: structlog for our events, stdlib logging routed through the same pipeline.

One pipeline for everything (ours, httpx, apscheduler, uvicorn): ISO-8601 UTC timestamps,
exceptions rendered to text, then *redaction*, then a renderer (console on a TTY, JSON
lines otherwise; journald stores either). Redaction runs last before rendering so no
path (a foreign library's message, a URL, an exception text) reaches the output unmasked.

Exceptions are rendered as plain tracebacks *before* redaction on purpose: the console
renderer's rich tracebacks would print local variables (tokens, passwords) unredacted.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

MASK = "***"
#: values shorter than this are not masked as substrings (they would shred every line)
MIN_SECRET_CHARS = 4
FORMATS = ("auto", "console", "json")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "warn": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}
#: chatty libraries: one line per HTTP request / job run; shown only at debug level
QUIET_LIBRARIES = ("httpx", "httpcore", "apscheduler", "uvicorn.access", "hpack", "alembic")

#: keys whose values are always masked (compared lower-case with '-' read as '_')
SENSITIVE_KEYS = frozenset({
    "password", "passwd", "secret", "token", "authorization", "proxy_authorization",
    "access_token", "refresh_token", "id_token", "consumer_secret", "consumer_key",
    "client_secret", "api_key", "apikey", "x_ogokey", "ogokey", "webhook_key", "cookie",
    "set_cookie", "x_shopify_access_token", "private_key",
})
_SENSITIVE_SUFFIXES = ("_password", "_secret", "_token", "_api_key")

# "name=value" in URLs, form bodies and free text, and "name": "value" in JSON text.
_NAMES = (r"consumer_secret|consumer_key|client_secret|access_token|refresh_token|id_token"
          r"|password|passwd|api_key|apikey|secret|token|key|signature|sig")
_QUERY_PARAM = re.compile(rf"(?i)\b((?:{_NAMES})=)([^&\s\"'<>]+)")
_JSON_FIELD = re.compile(rf"(?i)(\"(?:{_NAMES})\"\s*:\s*\")([^\"]*)(\")")
#: a credential after an auth scheme: must contain a digit or symbol, so prose such as
#: "token endpoint answered" is kept (known secret values are masked by value anyway)
_AUTH_SCHEME = re.compile(
    r"(?i)\b(Bearer|Basic|Digest|Token)\s+(?=[A-Za-z]*[0-9._~+/=-])([A-Za-z0-9._~+/=-]{6,})"
)
_OGOKEY_HEADER = re.compile(r"(?i)\b(X-OgoKey|X-Shopify-Access-Token)(\s*[:=]\s*)(\S+)")

_HANDLER_MARK = "_ogo_syncd_handler"
#: sd-daemon(3) priority prefixes: journald strips "<3>" and files the line as an error
_SYSLOG_PRIORITY = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4),
                    (logging.INFO, 6))


class Redactor:
    """Masks known secret values and sensitive fields anywhere in an event dict."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()

    def add(self, values: Iterable[str | None]) -> None:
        """Register secret values (and their URL-encoded forms); never forgets any."""
        found = set(self._secrets)
        for value in values:
            if not isinstance(value, str):
                continue
            value = value.strip()
            if len(value) < MIN_SECRET_CHARS:
                continue
            found.update({value, quote(value, safe=""), quote_plus(value)})
        with self._lock:
            # longest first, so a secret containing another is masked whole
            self._secrets = tuple(sorted(found, key=len, reverse=True))

    @property
    def count(self) -> int:
        return len(self._secrets)

    def text(self, value: str) -> str:
        """``value`` with every known secret and sensitive ``name=value`` masked."""
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        value = _QUERY_PARAM.sub(rf"\1{MASK}", value)
        value = _JSON_FIELD.sub(rf"\1{MASK}\3", value)
        value = _AUTH_SCHEME.sub(rf"\1 {MASK}", value)
        return _OGOKEY_HEADER.sub(rf"\1\2{MASK}", value)

    def value(self, value: Any, depth: int = 0) -> Any:
        """Mask recursively; unknown objects become their (masked) ``str``."""
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.text(value)
        if depth > 20:
            return MASK
        if isinstance(value, Mapping):
            return {k: MASK if is_sensitive_key(k) and v not in (None, "")
                    else self.value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v, depth + 1) for v in value]
        if isinstance(value, bytes | bytearray):
            return self.text(bytes(value).decode("utf-8", "replace"))
        return self.text(str(value))

    def __call__(self, logger: WrappedLogger, name: str, event_dict: EventDict) -> EventDict:
        """structlog processor."""
        return {k: MASK if is_sensitive_key(k) and v not in (None, "")
                else self.value(v) for k, v in event_dict.items()}


def is_sensitive_key(key: object) -> bool:
    """Whether a field named ``key`` holds a credential (password, token, secret...)."""
    if not isinstance(key, str):
        return False
    name = key.lower().replace("-", "_")
    return name in SENSITIVE_KEYS or name.endswith(_SENSITIVE_SUFFIXES)


_redactor = Redactor()


def add_secrets(values: Iterable[str | None]) -> None:
    """Register more secret values at runtime (e.g. a freshly issued access token)."""
    _redactor.add(values)


def redact(text: str) -> str:
    """Mask secrets in a string meant for humans elsewhere (CLI errors, stored messages)."""
    return _redactor.text(text)


def _shared_processors() -> list[Processor]:
    """Steps for both structlog and stdlib records, before redaction and rendering."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
    ]


def _renderer(fmt: str, stream: TextIO) -> Processor:
    if fmt == "auto":
        fmt = "console" if _isatty(stream) else "json"
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=_isatty(stream))
    return structlog.processors.JSONRenderer()


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def writes_to_journal(stream: TextIO) -> bool:
    """Whether ``stream`` is the journald stream systemd connected (``$JOURNAL_STREAM``)."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        st = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"


class _JournalFormatter(structlog.stdlib.ProcessorFormatter):
    """Prefixes each line with its syslog priority, so ``journalctl -p err`` works."""

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in _SYSLOG_PRIORITY if record.levelno >= level), 7)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).split("\n"))


def configure_logging(fmt: str = "auto", level: str = "info", secrets: Iterable[str] = (),
                      *, stream: TextIO | None = None, journal: bool | None = None) -> None:
    """Set up structlog and the stdlib root logger; safe to call again (it replaces ours).

    ``fmt``: auto (console on a TTY, else JSON lines), console or json. Output goes to
    ``stream`` (default stdout, which journald captures under systemd). ``secrets`` are
    added to the redaction list, which only ever grows. ``journal`` (default: detected
    from ``$JOURNAL_STREAM``) prefixes lines with ``<N>`` syslog priorities.
    """
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if level.lower() not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    numeric = LEVELS[level.lower()]
    out = stream if stream is not None else sys.stdout
    add_secrets(secrets)

    shared = _shared_processors()
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        context_class=dict,
        cache_logger_on_first_use=False,  # module-level loggers must follow reconfiguration
    )
    if journal is None:
        journal = writes_to_journal(out)
    formatter_class = _JournalFormatter if journal else structlog.stdlib.ProcessorFormatter
    formatter = formatter_class(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    _redactor, _renderer(fmt, out)],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG
                                         else max(numeric, logging.WARNING))
    # uvicorn ships its own handlers; let its records reach ours instead
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
