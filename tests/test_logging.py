"""syncd.logging: secrets never reach the output, whichever renderer and logger is used."""

from __future__ import annotations

import io
import json
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from syncd.logging import MASK, QUIET_LIBRARIES, add_secrets, configure_logging, redact


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for other tests."""
    names = ["", *QUIET_LIBRARIES, "uvicorn", "uvicorn.error"]
    saved = [(lg, list(lg.handlers), lg.level, lg.propagate)
             for lg in map(logging.getLogger, names)]
    yield
    for lg, handlers, level, propagate in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate
    structlog.reset_defaults()


def fresh_secret() -> str:
    return f"s3cr3t-{uuid.uuid4().hex}"


def log_everywhere(secret: str, token: str) -> None:
    """One event with the secret as a value, nested, in a URL and in an exception."""
    log = structlog.get_logger("syncd.test")
    try:
        raise RuntimeError(f"refused with key {secret}")
    except RuntimeError:
        log.exception(
            "store_call_failed",
            store="shop1",
            detail=secret,
            nested={"options": {"consumer_secret": "anything", "note": f"[{secret}]"},
                    "list": ["ok", secret]},
            url=f"https://shop.example/wp-json/wc/v3/orders?consumer_key=ck_1&"
                f"consumer_secret={secret}&page=2",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            password="hunter2-long",
            error=ValueError(f"bad {secret}"),
        )
    # a library logging through the stdlib, with the secret in its message and exception
    try:
        raise ConnectionError(f"tls failed for {secret}")
    except ConnectionError:
        logging.getLogger("httpx").error(
            "HTTP Request: GET %s", f"https://x.example/api?access_token={token}",
            exc_info=True)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_secrets_are_masked_everywhere(fmt: str) -> None:
    secret, token = fresh_secret(), fresh_secret()
    out = io.StringIO()
    configure_logging(fmt, "info", secrets=[secret], stream=out)
    log_everywhere(secret, token)
    text = out.getvalue()

    assert secret not in text
    assert token not in text            # unknown value, masked by field name / auth scheme
    assert "hunter2-long" not in text
    assert "anything" not in text
    # the event itself is still there and useful
    assert "store_call_failed" in text and "shop1" in text and "page=2" in text
    assert "RuntimeError: refused with key ***" in text
    assert "ConnectionError: tls failed for ***" in text
    assert "HTTP Request: GET https://x.example/api?access_token=***" in text


def test_json_lines_shape() -> None:
    secret, token = fresh_secret(), fresh_secret()
    out = io.StringIO()
    configure_logging("json", "info", secrets=[secret], stream=out)
    log_everywhere(secret, token)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [
        "store_call_failed", f"HTTP Request: GET https://x.example/api?access_token={MASK}"]
    ours, foreign = lines
    assert ours["level"] == "error" and ours["logger"] == "syncd.test"
    assert ours["timestamp"].endswith("Z") and "T" in ours["timestamp"]
    assert ours["detail"] == MASK
    assert ours["password"] == MASK
    assert ours["nested"] == {"options": {"consumer_secret": MASK, "note": f"[{MASK}]"},
                              "list": ["ok", MASK]}
    assert ours["headers"] == {"Authorization": MASK, "Accept": "application/json"}
    assert ours["url"] == ("https://shop.example/wp-json/wc/v3/orders?consumer_key=***&"
                           "consumer_secret=***&page=2")
    assert ours["error"] == f"bad {MASK}"
    assert "Traceback" in ours["exception"]
    assert foreign["logger"] == "httpx" and foreign["level"] == "error"
    assert "tls failed for ***" in foreign["exception"]


def test_secrets_added_at_runtime_are_masked() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    rotated = fresh_secret()
    log = structlog.get_logger("syncd.test")
    log.info("before", value=rotated)
    add_secrets([rotated])
    log.info("after", value=rotated, url=f"https://h/?x={rotated}")
    before, after = (json.loads(line) for line in out.getvalue().splitlines())
    assert before["value"] == rotated                # not known yet: proves the test can fail
    assert after["value"] == MASK and after["url"] == f"https://h/?x={MASK}"
    assert redact(f"Authorization failed for {rotated}") == f"Authorization failed for {MASK}"


def test_url_encoded_secret_is_masked() -> None:
    secret = "p@ss word/with+chars"
    out = io.StringIO()
    configure_logging("json", "info", secrets=[secret], stream=out)
    structlog.get_logger("t").info("call", url="https://h/x?pw=p%40ss+word%2Fwith%2Bchars")
    assert "p%40ss" not in out.getvalue()
    assert json.loads(out.getvalue())["url"] == f"https://h/x?pw={MASK}"


def test_level_filters_and_quiet_libraries() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    structlog.get_logger("syncd.test").debug("hidden")
    logging.getLogger("httpx").info("HTTP Request: GET https://h/ 200")   # chatty: hidden
    logging.getLogger("apscheduler.scheduler").info("Running job")       # chatty: hidden
    structlog.get_logger("syncd.test").info("shown", n=1)
    assert [json.loads(x)["event"] for x in out.getvalue().splitlines()] == ["shown"]

    out = io.StringIO()
    configure_logging("json", "debug", stream=out)   # reconfiguring replaces our handler
    logging.getLogger("httpx").info("HTTP Request: GET https://h/ 200")
    assert [json.loads(x)["event"] for x in out.getvalue().splitlines()] == [
        "HTTP Request: GET https://h/ 200"]


def test_auto_is_json_when_not_a_tty_and_bad_options_are_refused() -> None:
    out = io.StringIO()
    configure_logging("auto", "info", stream=out)
    structlog.get_logger("t").info("hello")
    assert json.loads(out.getvalue())["event"] == "hello"
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml")
    with pytest.raises(ValueError, match="log level"):
        configure_logging("json", "loud")


def test_journald_priority_prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under systemd ($JOURNAL_STREAM names our stdout) lines carry <N> priorities."""
    with open(tmp_path / "journal", "w+") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        configure_logging("json", "info", stream=stream)
        log = structlog.get_logger("t")
        log.error("broke")
        log.warning("odd")
        log.info("fine")
        monkeypatch.setenv("JOURNAL_STREAM", "1:2")    # someone else's stream: no prefix
        configure_logging("json", "info", stream=stream)
        log.info("plain")
        stream.seek(0)
        lines = stream.read().splitlines()
    assert [line[:4] for line in lines[:3]] == ["<3>{", "<4>{", "<6>{"]
    assert json.loads(lines[3])["event"] == "plain"
    assert json.loads(lines[0][3:])["event"] == "broke"
