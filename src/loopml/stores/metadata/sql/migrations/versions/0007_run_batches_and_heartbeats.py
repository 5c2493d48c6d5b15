"""Idempotent metric batches and run heartbeats.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07

``run_batches`` records the id of every batch a client logged, in the transaction of its rows,
so a batch sent again (its answer was lost) is recognised and not stored twice.
``runs.heartbeat_at`` is when the process logging to a run last showed it was alive; NULL for
runs logged before this revision, which are never closed as lapsed.

A frozen snapshot: later schema changes are new revisions, never edits to this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("heartbeat_at", sa.BigInteger(), nullable=True))
    op.create_index("ix_runs_status_heartbeat", "runs", ["status", "heartbeat_at"])
    op.create_table(
        "run_batches",
        sa.Column("run_id", _ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("batch_id", _ID, primary_key=True),
        sa.Column("logged_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("run_batches")
    op.drop_index("ix_runs_status_heartbeat", "runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("heartbeat_at")
