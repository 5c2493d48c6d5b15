"""Gate results and approvals of model versions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

A frozen snapshot: later schema changes are new revisions, never edits to this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.String(64)
_NAME = sa.String(250)
_DOCUMENT = sa.JSON(none_as_null=True)


def _version_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["model_id", "version"],
        ["model_versions.model_id", "model_versions.version"],
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "model_gate_results",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("model_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("checks", _DOCUMENT, nullable=False),
        sa.Column("policy", _DOCUMENT, nullable=False),
        sa.Column("policy_digest", sa.String(256), nullable=False),
        sa.Column("evaluated_at", sa.BigInteger(), nullable=False),
        sa.Column("against", sa.Integer(), nullable=True),
        sa.Column("dataset", sa.String(255), nullable=True),
        sa.Column("actor", _NAME, nullable=True),
        _version_fk(),
    )
    op.create_index(
        "ix_model_gate_results_version",
        "model_gate_results",
        ["model_id", "version", "evaluated_at"],
    )
    op.create_table(
        "model_approvals",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("model_id", _ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", _NAME, nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        _version_fk(),
    )
    op.create_index("ix_model_approvals_version", "model_approvals", ["model_id", "version", "id"])


def downgrade() -> None:
    for table in ("model_approvals", "model_gate_results"):
        op.drop_table(table)
