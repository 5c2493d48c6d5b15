"""Deployments and leases: the first records of the loop store.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07

``deployments`` holds one row per model server (``loopml serve``): what it serves, where, its
prediction-log run and its heartbeat; a live row whose ``expires_at`` passed reads as gone.
``leases`` holds one row per lease name: its holder until ``expires_at`` and a fencing token
that grows with every new acquisition (rows are never deleted, so it never goes back).

A frozen snapshot: later schema changes are new revisions, never edits to this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("model", sa.String(250), nullable=False),
        sa.Column("alias", sa.String(64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("run_id", _ID, nullable=True),
        sa.Column("heartbeat_ms", sa.BigInteger(), nullable=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
    )
    op.create_index("ix_deployments_model_started", "deployments", ["model", "started_at"])
    op.create_index("ix_deployments_state_expires", "deployments", ["state", "expires_at"])
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_deployments_state_expires", "deployments")
    op.drop_index("ix_deployments_model_started", "deployments")
    op.drop_table("deployments")
