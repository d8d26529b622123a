"""Leases and store ownership: several daemons and merchants on one state database.

``lease``: at most one runner per (store, flow), with an expiry in database time; after a
run the row stays as a short reservation (``released_at`` set) so other replicas skip.
``store_owner``: which merchant a store name belongs to (store names are unique per DB).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lease",
        sa.Column("store", sa.String(), nullable=False),
        sa.Column("flow", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("acquired_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("released_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("store", "flow"),
    )
    op.create_table(
        "store_owner",
        sa.Column("store", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("claimed_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("store"),
    )


def downgrade() -> None:
    op.drop_table("store_owner")
    op.drop_table("lease")
