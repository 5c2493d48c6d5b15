"""The audit log becomes a hash chain: each event gets its position, request id, before/after
state digests and the two links (``prev_hash``, ``hash``), and its payload is kept as the
canonical JSON text the chain hashes.

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-07

The events already stored are chained here, in the order they were appended (by id), so
``loopml audit verify`` passes on an upgraded store. Their request id is "" and their before
digest "" (not known then); the after digest is that of the payload, as for new events that
name no state. The hashing is :mod:`loopml.core.audit_chain`'s, copied at the bottom of this
file so that this snapshot stays what it was if that module changes.

A frozen snapshot: later schema changes are new revisions, never edits to this one.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from blake3 import blake3

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_CHAIN_COLUMNS = ("seq", "request_id", "before_digest", "after_digest", "prev_hash", "hash")
_GENESIS = "0" * 64
_BATCH = 5000


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.alter_column(
            "events", "payload", type_=sa.Text(), postgresql_using="payload::text", nullable=False
        )
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        for name in _CHAIN_COLUMNS[1:]:
            batch.add_column(sa.Column(name, sa.String(64), nullable=False, server_default=""))
    _chain_existing_events(conn)
    with op.batch_alter_table("events") as batch:
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        for name in _CHAIN_COLUMNS[1:]:
            batch.alter_column(name, existing_type=sa.String(64), server_default=None)
        batch.create_unique_constraint("uq_events_seq", ["seq"])


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_seq", type_="unique")
        for name in _CHAIN_COLUMNS:
            batch.drop_column(name)
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("events", "payload", type_=sa.JSON(), postgresql_using="payload::jsonb")


def _chain_existing_events(conn: sa.Connection) -> None:
    table = sa.table(
        "events",
        sa.column("id", sa.BigInteger()),
        sa.column("timestamp", sa.BigInteger()),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("target", sa.String()),
        sa.column("payload", sa.Text()),
        *(sa.column(name, sa.String()) for name in _CHAIN_COLUMNS[1:]),
        sa.column("seq", sa.BigInteger()),
    )
    update = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("event_id"))
        .values(
            seq=sa.bindparam("new_seq"),
            payload=sa.bindparam("new_payload"),
            after_digest=sa.bindparam("new_after"),
            prev_hash=sa.bindparam("new_prev"),
            hash=sa.bindparam("new_hash"),
        )
    )
    prev, seq, last_id = _GENESIS, 0, None
    while True:
        query = (
            sa.select(
                table.c.id,
                table.c.timestamp,
                table.c.actor,
                table.c.action,
                table.c.target,
                table.c.payload,
            )
            .order_by(table.c.id)
            .limit(_BATCH)
        )
        if last_id is not None:
            query = query.where(table.c.id > last_id)
        rows = conn.execute(query).all()
        if not rows:
            return
        changes: list[dict[str, Any]] = []
        for row in rows:
            seq += 1
            payload = _canonical(json.loads(row.payload) if row.payload else {})
            after = blake3(payload.encode()).hexdigest()
            text = (
                f"{seq}|{row.timestamp}|{len(row.actor)}:{row.actor}|{len(row.action)}:"
                f"{row.action}|{len(row.target)}:{row.target}|0:||{after}|{payload}"
            )
            digest = blake3(f"{prev}\n{text}".encode()).hexdigest()
            changes.append(
                {
                    "event_id": row.id,
                    "new_seq": seq,
                    "new_payload": payload,
                    "new_after": after,
                    "new_prev": prev,
                    "new_hash": digest,
                }
            )
            prev = digest
        conn.execute(update, changes)
        last_id = rows[-1].id


def _canonical(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
