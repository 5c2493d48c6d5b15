"""Dataset versions remember where their files were added from.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

``source`` is the path given to ``data add``: relative to the project root when inside it (so
a clone elsewhere still finds it), absolute otherwise; NULL for versions added before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.add_column(sa.Column("source", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dataset_versions") as batch:
        batch.drop_column("source")
