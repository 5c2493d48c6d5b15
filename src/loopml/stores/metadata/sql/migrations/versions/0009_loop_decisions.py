"""Loop decisions: what the loop did, why (the evidence), and how far it got.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

``loop_decisions`` holds one row per decision of the retraining loop: its trigger and evidence
(JSON), its state in the decision state machine, and what each step made (the pipeline run,
the candidate version, the gate result, the action taken). ``key`` is unique in the project:
the same situation recorded twice (a restarted agent, a second one) is one decision.

A frozen snapshot: later schema changes are new revisions, never edits to this one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "loop_decisions",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("model", sa.String(250), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("evidence", sa.JSON(none_as_null=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("pipeline_run_id", _ID, nullable=True),
        sa.Column("candidate_version", sa.Integer(), nullable=True),
        sa.Column("gate_result_id", _ID, nullable=True),
        sa.Column("action", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("lease_token", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("key", name="uq_loop_decisions_key"),
    )
    op.create_index("ix_loop_decisions_model_created", "loop_decisions", ["model", "created_at"])
    op.create_index("ix_loop_decisions_created", "loop_decisions", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_loop_decisions_created", "loop_decisions")
    op.drop_index("ix_loop_decisions_model_created", "loop_decisions")
    op.drop_table("loop_decisions")
