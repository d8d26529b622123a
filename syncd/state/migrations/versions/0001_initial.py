"""Initial schema: cursor, product_link, order_link, stock_level, failure, job_run.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    """sqlmodel's UTCDateTime stores aware datetimes: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL."""
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cursor",
        sa.Column("store", sa.String(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("store", "stream"),
    )
    op.create_table(
        "product_link",
        sa.Column("store", sa.String(), nullable=False),
        sa.Column("store_id", sa.String(), nullable=False),
        sa.Column("sku", sa.String(), nullable=True),
        sa.Column("content_hash", sa.String(), nullable=True),
        sa.Column("myogo_id", sa.String(), nullable=True),
        sa.Column("payload", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("store", "store_id"),
    )
    op.create_index("ix_product_link_sku", "product_link", ["sku"])
    op.create_table(
        "order_link",
        sa.Column("store", sa.String(), nullable=False),
        sa.Column("store_order_id", sa.String(), nullable=False),
        sa.Column("reference", sa.String(), nullable=False),
        sa.Column("myogo_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=True),
        sa.Column("payload", sa.String(), nullable=True),
        sa.Column("tracking_number", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("store", "store_order_id"),
    )
    op.create_index("ix_order_link_reference", "order_link", ["reference"])
    op.create_table(
        "stock_level",
        sa.Column("store", sa.String(), nullable=False),
        sa.Column("sku", sa.String(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("pushed_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("store", "sku"),
    )
    op.create_table(
        "failure",
        sa.Column("store", sa.String(), nullable=False),
        sa.Column("flow", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("since", _utc(), nullable=False),
        sa.Column("last_seen", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("store", "flow", "key"),
    )
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(), nullable=False),
        sa.Column("job", sa.String(), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=True),
        sa.Column("counts", sa.String(), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_job_run_store", "job_run", ["store"])
    op.create_index("ix_job_run_job", "job_run", ["job"])


def downgrade() -> None:
    op.drop_index("ix_job_run_job", table_name="job_run")
    op.drop_index("ix_job_run_store", table_name="job_run")
    op.drop_table("job_run")
    op.drop_table("failure")
    op.drop_table("stock_level")
    op.drop_index("ix_order_link_reference", table_name="order_link")
    op.drop_table("order_link")
    op.drop_index("ix_product_link_sku", table_name="product_link")
    op.drop_table("product_link")
    op.drop_table("cursor")
