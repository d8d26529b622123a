"""What the fleet is doing, for ``ogo-syncd status``: read from procrastinate's tables
(jobs waiting and running, worker heartbeats) and ``job_run`` (who ran what)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from syncd.fleet.queue import QUEUE
from syncd.state.db import StateDB

#: runs per worker are counted over this window
RECENT_MINUTES = 10

_HAS_QUEUE = text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
_JOBS = text("""
    SELECT args->>'store' AS store, args->>'flow' AS flow, status::text AS status,
           worker_id, count(*) AS n
      FROM procrastinate_jobs
     WHERE queue_name = :queue AND status IN ('todo', 'doing')
     GROUP BY 1, 2, 3, 4 ORDER BY 1, 2
""")
_WORKERS = text("""
    SELECT id, extract(epoch FROM now() - last_heartbeat) AS age
      FROM procrastinate_workers ORDER BY id
""")
_RUNS = text("""
    SELECT worker, count(*) AS n FROM job_run
     WHERE worker IS NOT NULL AND started_at > now() - :minutes * interval '1 minute'
     GROUP BY worker
""")


def _worker_id(name: str) -> int | None:
    tail = name.rpartition("#")[2]
    return int(tail) if tail.isdigit() else None


def collect_fleet(db: StateDB, timeout: float) -> dict[str, Any] | None:
    """Workers (heartbeat age, runs lately) and per (store, flow) jobs running and waiting;
    None when the database has no fleet (SQLite, or no worker ever started)."""
    if not db.is_postgres:
        return None
    with db.engine.connect() as conn:
        if not conn.execute(_HAS_QUEUE).scalar():
            return None
        jobs = conn.execute(_JOBS, {"queue": QUEUE}).mappings().all()
        workers = conn.execute(_WORKERS).mappings().all()
        runs = conn.execute(_RUNS, {"minutes": RECENT_MINUTES}).mappings().all()
    names = {wid: r["worker"] for r in runs if (wid := _worker_id(r["worker"])) is not None}
    recent = {r["worker"]: int(r["n"]) for r in runs}
    out_workers = []
    for w in workers:
        name = names.get(w["id"], f"#{w['id']}")
        out_workers.append({"id": w["id"], "name": name, "heartbeat_age_s": round(w["age"], 1),
                            "alive": w["age"] < timeout,
                            f"runs_{RECENT_MINUTES}m": recent.get(name, 0)})
    per: dict[tuple[str, str], dict[str, Any]] = {}
    for j in jobs:
        row = per.setdefault((j["store"], j["flow"]), {"store": j["store"], "flow": j["flow"],
                                                     "doing": None, "waiting": 0})
        if j["status"] == "doing":
            wid = j["worker_id"]
            row["doing"] = names.get(wid, f"#{wid}") if wid is not None else "(worker gone)"
        else:
            row["waiting"] += int(j["n"])
    return {"workers": out_workers, "jobs": list(per.values())}
