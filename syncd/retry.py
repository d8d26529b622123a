"""`ogo-syncd retry`: forget parked failures and rewind their flows' cursors.

A parked item is only retried when the store changes it; rewinding the cursor makes the next
run read the flow's whole window again, and the state tables make that re-read cheap (items
already done are skipped by their content hash).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, delete, select

from syncd import flows
from syncd.flows import REWIND
from syncd.state.ledger import Kind
from syncd.state.tables import Cursor, Failure, ProductLink


def retry_failures(db: Any, *, store: str | None = None, flow: str | None = None) -> int:
    with db.session() as session:
        query = select(Failure)
        if store:
            query = query.where(Failure.store == store)
        if flow:
            kinds = list(flows.BY_NAME[flow].failures) if flow in flows.BY_NAME else [flow]
            query = query.where(col(Failure.flow).in_(kinds))
        rows = list(session.exec(query))
        for row in rows:
            for stream in REWIND.get(row.flow, ()):
                session.exec(delete(Cursor).where(Cursor.store == row.store,
                                                  Cursor.stream == stream))
            if row.flow == Kind.PRODUCTS:
                link = session.get(ProductLink, (row.store, row.key))
                if link is not None:
                    link.content_hash = None
                    session.add(link)
            session.delete(row)
        session.commit()
        return len(rows)
