"""Fleet mode: the lease table goes (procrastinate's job locks replace it); runs name
their worker.

``job_run.worker``: which process ran a flow (``host:pid``, plus ``#id`` of the
procrastinate worker in fleet mode); NULL for runs of the embedded daemon and the CLI.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_table("lease")
    with op.batch_alter_table("job_run") as batch:
        batch.add_column(sa.Column("worker", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("job_run") as batch:
        batch.drop_column("worker")
    op.create_table(
        "lease",
        sa.Column("store", sa.String(), nullable=False),
        sa.Column("flow", sa.String(), nullable=False),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("store", "flow"),
    )
