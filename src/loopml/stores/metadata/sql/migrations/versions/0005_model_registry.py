"""The model registry: registered models, numbered versions, aliases and their history.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

A frozen snapshot: later schema changes are new revisions, never edits to this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.String(64)
_NAME = sa.String(250)
_ALIAS = sa.String(64)
_DOCUMENT = sa.JSON(none_as_null=True)


def _model_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["model_id"], ["registered_models.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("name", _NAME, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        # the number the next version gets: never lowered, so deleted numbers are not reused
        sa.Column("next_version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("name", name="uq_registered_models_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("model_id", _ID, primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("flavor", sa.String(64), nullable=False),
        sa.Column("tree_digest", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("run_id", _ID, nullable=True),
        sa.Column("signature", _DOCUMENT, nullable=True),
        sa.Column("metrics", _DOCUMENT, nullable=False),
        sa.Column("datasets", _DOCUMENT, nullable=False),
        sa.Column("requirements", _DOCUMENT, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", _DOCUMENT, nullable=False),
        sa.Column("created_by", _NAME, nullable=True),
        _model_fk(),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
    )
    # deleting a run looks up the versions it produced
    op.create_index("ix_model_versions_run", "model_versions", ["run_id"])
    op.create_table(
        "model_aliases",
        sa.Column("model_id", _ID, primary_key=True),
        sa.Column("alias", _ALIAS, primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _model_fk(),
    )
    op.create_table(
        "model_alias_history",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("model_id", _ID, nullable=False),
        sa.Column("alias", _ALIAS, nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("actor", _NAME, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        _model_fk(),
    )
    op.create_index(
        "ix_model_alias_history_model_alias", "model_alias_history", ["model_id", "alias", "id"]
    )


def downgrade() -> None:
    for table in ("model_alias_history", "model_aliases", "model_versions", "registered_models"):
        op.drop_table(table)
