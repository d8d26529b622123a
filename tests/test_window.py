"""The myOGO time window shared by the stock, tracking and myOGO-product-edit streams."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from syncd.cursor import format_time, parse_time
from syncd.jobs.window import Window
from syncd.state.db import StateDB
from syncd.state.ops import get_cursor

OVERLAP = timedelta(minutes=2)


@dataclass
class Ctx:
    """The three things a window reads from a flow context."""

    db: StateDB
    name: str = "shop"
    dry_run: bool = False


@pytest.fixture
def db(tmp_path: Path) -> Iterator[StateDB]:
    state = StateDB(f"sqlite:///{tmp_path}/state.sqlite")
    state.migrate()
    yield state
    state.dispose()


def _saved(db: StateDB) -> str | None:
    with db.session() as session:
        return get_cursor(session, "shop", "tracking")


def test_window_saves_min_of_newest_seen_and_signpost_minus_overlap(db: StateDB) -> None:
    first = Window(Ctx(db), "tracking", OVERLAP)   # type: ignore[arg-type]
    assert first.saved is None
    old = first.signpost - timedelta(hours=1)
    first.see(format_time(old))
    first.see(None)
    first.see(old - timedelta(minutes=5))          # older: ignored
    first.save()
    assert parse_time(_saved(db)) == old
    recent = Window(Ctx(db), "tracking", OVERLAP)   # type: ignore[arg-type]
    assert recent.saved == old
    recent.see(recent.signpost - timedelta(seconds=10))   # inside the overlap
    recent.save()
    assert parse_time(_saved(db)) == recent.signpost - OVERLAP


def test_window_keeps_the_cursor_when_items_moved_during_the_scan(db: StateDB) -> None:
    seed = Window(Ctx(db), "tracking", OVERLAP)   # type: ignore[arg-type]
    seed.save(seed.signpost - timedelta(hours=2))
    window = Window(Ctx(db), "tracking", OVERLAP)   # type: ignore[arg-type]
    window.see(window.signpost + timedelta(seconds=1))   # changed while we paged
    assert window.next == window.saved
    window.save()
    assert parse_time(_saved(db)) == seed.signpost - timedelta(hours=2)


def test_dry_run_window_saves_nothing(db: StateDB) -> None:
    window = Window(Ctx(db, dry_run=True), "tracking", OVERLAP)   # type: ignore[arg-type]
    window.see(window.signpost - timedelta(hours=1))
    window.save()
    assert _saved(db) is None
