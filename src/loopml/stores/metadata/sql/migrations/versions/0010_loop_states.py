"""Loop states: small JSON documents the loop keeps between its ticks, by name.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

``loop_states`` holds one row per name: a JSON document (the agent keeps its alert rules'
cooldowns there, ``alerts``), when it was last written, and the fencing token of the lease
its writer held (None when written without one).

A frozen snapshot: later schema changes are new revisions, never edits to this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loop_states",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("document", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("lease_token", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("loop_states")
