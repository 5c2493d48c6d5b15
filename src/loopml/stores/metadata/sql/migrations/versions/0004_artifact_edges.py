"""Artifact lineage: which run read or wrote which stored tree, under which name.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

A frozen snapshot: later schema changes are new revisions, never edits to this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_edges",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("direction", sa.String(8), primary_key=True),
        sa.Column("digest", sa.String(256), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
    )
    # "which runs used or produced this tree"
    op.create_index("ix_artifact_edges_digest", "artifact_edges", ["digest"])


def downgrade() -> None:
    op.drop_table("artifact_edges")
