"""Datasets: named, numbered versions of file trees, and which runs used them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

A frozen snapshot: later schema changes are new revisions, never edits to this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.String(64)
_DIGEST = sa.String(256)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", sa.String(250), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        # the number the next version gets: never lowered, so deleted numbers are not reused
        sa.Column("next_version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("name", name="uq_datasets_name"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("dataset_id", _ID, primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("tree_digest", _DIGEST, nullable=False),
        sa.Column("profiles_digest", _DIGEST, nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("file_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("run_id", _ID, nullable=True),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
    )
    # deleting a run looks up the versions it produced
    op.create_index("ix_dataset_versions_run", "dataset_versions", ["run_id"])
    op.create_table(
        "dataset_inputs",
        sa.Column("run_id", _ID, primary_key=True),
        sa.Column("dataset_id", _ID, primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
    )
    # "which runs used this version"
    op.create_index(
        "ix_dataset_inputs_dataset_version", "dataset_inputs", ["dataset_id", "version"]
    )


def downgrade() -> None:
    for table in ("dataset_inputs", "dataset_versions", "datasets"):
        op.drop_table(table)
