"""What `ogo-syncd status` shows, read from the state DB only (works while the daemon runs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, func, select

from syncd.flows import FLOWS
from syncd.state.tables import Cursor, Failure, JobRun, OrderLink


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _age(value: datetime | None) -> str | None:
    if value is None:
        return None
    seconds = int((datetime.now(UTC) - value).total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def collect_status(config: Any, db: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with db.session() as session:
        for store in config.stores:
            for spec in FLOWS:
                flow = spec.name
                last = session.exec(
                    select(JobRun).where(JobRun.store == store.name, JobRun.job == flow)
                    .order_by(col(JobRun.id).desc()).limit(1)).first()
                failed = session.exec(select(func.count()).select_from(Failure).where(
                    Failure.store == store.name,
                    col(Failure.flow).in_(list(spec.failures)),
                )).one()
                pending = 0
                if spec.intent is not None:
                    pending = session.exec(select(func.count()).select_from(OrderLink).where(
                        OrderLink.store == store.name,
                        OrderLink.status == spec.intent)).one()
                cursor = session.get(Cursor, (store.name, flow))
                interval = getattr(store.schedule, flow)
                started = _aware(last.started_at) if last else None
                next_run = None
                if interval is None or not store.enabled:
                    next_run = "off"
                elif started is not None:
                    next_run = (started + interval).strftime("%H:%M:%S") + " (est.)"
                counts = json.loads(last.counts) if last else {}
                result = "never run"
                if last is not None:
                    result = "running" if last.ok is None else ("ok" if last.ok else "failed")
                rows.append({
                    "store": store.name,
                    "flow": flow,
                    "last_run": started,
                    "result": result,
                    "error": last.error if last else None,
                    "counts": ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                    "next_run": next_run,
                    "pending": pending,
                    "failed": failed,
                    "cursor_age": _age(_aware(cursor.updated_at)) if cursor else None,
                })
    return rows
