"""The tables of the SQL metadata store (SQLAlchemy Core), shared by SQLite and PostgreSQL.

This module describes the newest schema for queries. The DDL that creates it lives in the
Alembic revisions under ``migrations/versions``; a test checks that the two agree.

Conventions: ids are text, timestamps are integer milliseconds since the epoch (UTC), and a
metric value of SQL NULL means NaN (SQLite turns NaN into NULL on insert, so both backends
store it the same way; ±inf are stored as themselves).
"""

from __future__ import annotations

import sqlalchemy as sa

from loopml.stores.metadata.sql.dialects import Payload

metadata = sa.MetaData()

ID = sa.String(64)
KEY = sa.String(250)
NAME = sa.String(250)
DIGEST = sa.String(256)
# a rowid alias on SQLite (INTEGER PRIMARY KEY), a 64-bit identity on PostgreSQL
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
PAYLOAD = Payload()  # JSONB on PostgreSQL
# btree index entries are limited to ~2.7 kB on PostgreSQL; long values are indexed by prefix
INDEXED_PREFIX = 200


def _fk_run() -> sa.ForeignKey:
    return sa.ForeignKey("runs.id", ondelete="CASCADE")


def _value_index(name: str, table: sa.Table) -> list[sa.Index]:
    """An index on (key, value): plain on SQLite, on (key, left(value, 200)) on PostgreSQL."""
    return [
        sa.Index(name, table.c.key, table.c.value).ddl_if(dialect="sqlite"),
        sa.Index(name, table.c.key, sa.func.left(table.c.value, INDEXED_PREFIX)).ddl_if(
            dialect="postgresql"
        ),
    ]


experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.UniqueConstraint("name", name="uq_experiments_name"),
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column(
        "experiment_id",
        ID,
        sa.ForeignKey("experiments.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column(
        "experiment_id",
        ID,
        sa.ForeignKey("experiments.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", NAME, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("start_time", sa.BigInteger(), nullable=False),
    sa.Column("end_time", sa.BigInteger(), nullable=True),
    sa.Column("parent_run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=True),
    # when the logging process last showed it is alive; NULL for runs from before heartbeats
    sa.Column("heartbeat_at", sa.BigInteger(), nullable=True),
    sa.Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    sa.Index("ix_runs_start_time", "start_time"),
    sa.Index("ix_runs_parent", "parent_run_id"),
    sa.Index("ix_runs_status_heartbeat", "status", "heartbeat_at"),
)

# the id of every batch logged to a run, written with the batch's rows: a batch sent again
# (because its answer was lost) is recognised and stored once
run_batches = sa.Table(
    "run_batches",
    metadata,
    sa.Column("run_id", ID, _fk_run(), primary_key=True),
    sa.Column("batch_id", ID, primary_key=True),
    sa.Column("logged_at", sa.BigInteger(), nullable=False),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column("run_id", ID, _fk_run(), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)
_value_index("ix_params_key_value", params)

run_tags = sa.Table(
    "run_tags",
    metadata,
    sa.Column("run_id", ID, _fk_run(), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)
_value_index("ix_run_tags_key_value", run_tags)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column("run_id", ID, _fk_run(), nullable=False),
    sa.Column("key", KEY, nullable=False),
    sa.Column("value", sa.Double(), nullable=True),  # NULL = NaN
    sa.Column("step", sa.BigInteger(), nullable=False),
    sa.Column("timestamp", sa.BigInteger(), nullable=False),
    sa.Index("ix_metrics_run_key_step", "run_id", "key", "step", "timestamp"),
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_id", ID, _fk_run(), primary_key=True),
    sa.Column("key", KEY, primary_key=True),
    sa.Column("value", sa.Double(), nullable=True),  # NULL = NaN
    sa.Column("step", sa.BigInteger(), nullable=False),
    sa.Column("timestamp", sa.BigInteger(), nullable=False),
    sa.Index("ix_latest_metrics_key_value", "key", "value"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("run_id", ID, _fk_run(), primary_key=True),
    sa.Column("path", sa.String(1000), primary_key=True),
    sa.Column("digest", sa.String(256), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column("timestamp", sa.BigInteger(), nullable=False),
    sa.Column("actor", NAME, nullable=False),
    sa.Column("action", NAME, nullable=False),
    sa.Column("target", sa.String(1000), nullable=False),
    # canonical JSON text (loopml.core.audit_chain): the exact text the chain hashes
    sa.Column("payload", sa.Text(), nullable=False),
    # the hash chain (revision 0012): position, request, state digests, links
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("before_digest", sa.String(64), nullable=False),
    sa.Column("after_digest", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("seq", name="uq_events_seq"),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    # the number the next version gets: never lowered, so deleted numbers are not reused
    sa.Column("next_version", sa.Integer(), nullable=False),
    sa.UniqueConstraint("name", name="uq_datasets_name"),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("dataset_id", ID, sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("tree_digest", DIGEST, nullable=False),
    sa.Column("profiles_digest", DIGEST, nullable=True),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sa.Column("file_count", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    # the run that produced the version; the version outlives it
    sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    # where the files were added from (project-relative when inside the project)
    sa.Column("source", sa.Text(), nullable=True),
    sa.Index("ix_dataset_versions_run", "run_id"),
)

# lineage: run used (dataset, version); no foreign key to the version row, whose deletion
# removes its edges explicitly (see .datasets)
dataset_inputs = sa.Table(
    "dataset_inputs",
    metadata,
    sa.Column("run_id", ID, _fk_run(), primary_key=True),
    sa.Column("dataset_id", ID, sa.ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Index("ix_dataset_inputs_dataset_version", "dataset_id", "version"),
)

# lineage: run read ("input") or wrote ("output") the stored tree with this digest, under a
# name (a step's input parameter, or "output"); no foreign key to the tree, which lives in the
# artifact store
artifact_edges = sa.Table(
    "artifact_edges",
    metadata,
    sa.Column("run_id", ID, _fk_run(), primary_key=True),
    sa.Column("direction", sa.String(8), primary_key=True),
    sa.Column("digest", DIGEST, primary_key=True),
    sa.Column("name", sa.String(255), primary_key=True),
    # "which runs used or produced this tree"
    sa.Index("ix_artifact_edges_digest", "digest"),
)

# the model registry: see .models
# a JSON document read and written whole (never queried); None is SQL NULL
DOCUMENT = sa.JSON(none_as_null=True)
ALIAS = sa.String(64)


def _fk_model() -> sa.ForeignKey:
    return sa.ForeignKey("registered_models.id", ondelete="CASCADE")


registered_models = sa.Table(
    "registered_models",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    # the last new version or alias change
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    # the number the next version gets: never lowered, so deleted numbers are not reused
    sa.Column("next_version", sa.Integer(), nullable=False),
    sa.UniqueConstraint("name", name="uq_registered_models_name"),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("model_id", ID, _fk_model(), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("flavor", sa.String(64), nullable=False),
    sa.Column("tree_digest", DIGEST, nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    # the run it came from; the version outlives it
    sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    sa.Column("signature", DOCUMENT, nullable=True),  # a JSON object
    sa.Column("metrics", DOCUMENT, nullable=False),  # {key: finite float}
    sa.Column("datasets", DOCUMENT, nullable=False),  # ["name@N", …]
    sa.Column("requirements", DOCUMENT, nullable=False),  # ["pip line", …]
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("tags", DOCUMENT, nullable=False),  # {key: value}
    sa.Column("created_by", NAME, nullable=True),
    sa.Index("ix_model_versions_run", "run_id"),
)

# where each alias points now; no foreign key to the version row: deleting a version an alias
# points at is refused by the store (see .models)
model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model_id", ID, _fk_model(), primary_key=True),
    sa.Column("alias", ALIAS, primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
)

# every move of an alias, appended in the transaction of the move
model_alias_history = sa.Table(
    "model_alias_history",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column("model_id", ID, _fk_model(), nullable=False),
    sa.Column("alias", ALIAS, nullable=False),
    sa.Column("from_version", sa.Integer(), nullable=True),  # NULL: the alias was not set
    sa.Column("to_version", sa.Integer(), nullable=True),  # NULL: the alias was removed
    sa.Column("at", sa.BigInteger(), nullable=False),
    sa.Column("actor", NAME, nullable=True),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Index("ix_model_alias_history_model_alias", "model_id", "alias", "id"),
)


def _fk_model_version() -> sa.ForeignKeyConstraint:
    """Rows of a version go with it: deleting the version deletes them (ON DELETE CASCADE)."""
    return sa.ForeignKeyConstraint(
        ["model_id", "version"],
        ["model_versions.model_id", "model_versions.version"],
        ondelete="CASCADE",
    )


# every gate evaluation of a version; the id is the caller's (a new_id())
model_gate_results = sa.Table(
    "model_gate_results",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("model_id", ID, nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("passed", sa.Boolean(), nullable=False),
    sa.Column("checks", DOCUMENT, nullable=False),  # [{"check", "name", "passed", …}, …]
    sa.Column("policy", DOCUMENT, nullable=False),  # the policy as evaluated
    sa.Column("policy_digest", DIGEST, nullable=False),  # "sha256:<hex>"
    sa.Column("evaluated_at", sa.BigInteger(), nullable=False),
    sa.Column("against", sa.Integer(), nullable=True),  # the champion's version, not a key
    sa.Column("dataset", sa.String(255), nullable=True),  # "name@N"
    sa.Column("actor", NAME, nullable=True),
    _fk_model_version(),
    sa.Index("ix_model_gate_results_version", "model_id", "version", "evaluated_at"),
)

# every approval of a version for promotion, appended
model_approvals = sa.Table(
    "model_approvals",
    metadata,
    sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
    sa.Column("model_id", ID, nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("at", sa.BigInteger(), nullable=False),
    sa.Column("actor", NAME, nullable=True),
    sa.Column("comment", sa.Text(), nullable=False),
    _fk_model_version(),
    sa.Index("ix_model_approvals_version", "model_id", "version", "id"),
)

# the loop's records (stores/loop/sql.py): model servers, and leases with a fencing token
deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("id", ID, primary_key=True),  # chosen by the server: registering is idempotent
    sa.Column("model", NAME, nullable=False),
    sa.Column("alias", sa.String(64), nullable=True),
    sa.Column("version", sa.Integer(), nullable=True),  # served now; None until loaded
    sa.Column("address", sa.String(500), nullable=False),
    sa.Column("run_id", ID, nullable=True),  # its prediction log; not a key (runs are deleted)
    sa.Column("heartbeat_ms", sa.BigInteger(), nullable=False),  # the declared interval
    sa.Column("started_at", sa.BigInteger(), nullable=False),
    sa.Column("heartbeat_at", sa.BigInteger(), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=False),  # gone after this, if not ended
    sa.Column("ended_at", sa.BigInteger(), nullable=True),
    sa.Column("end_reason", sa.Text(), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),  # live | ended | gone (as last marked)
    sa.Index("ix_deployments_model_started", "model", "started_at"),
    sa.Index("ix_deployments_state_expires", "state", "expires_at"),
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=True),  # None: released
    sa.Column("token", sa.BigInteger(), nullable=False),  # +1 at every new acquisition
    sa.Column("acquired_at", sa.BigInteger(), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=False),
)

# every decision of the retraining loop (stores/loop/sql_decisions.py), one row each
loop_decisions = sa.Table(
    "loop_decisions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("key", sa.String(400), nullable=False),  # the situation: unique in the project
    sa.Column("model", NAME, nullable=False),
    sa.Column("alias", ALIAS, nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),  # drift | decay | schedule | …
    sa.Column("evidence", DOCUMENT, nullable=False),  # the numbers, read and written whole
    sa.Column("state", sa.String(16), nullable=False),  # triggered | training | … | failed
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("champion_version", sa.Integer(), nullable=True),  # when it was triggered
    sa.Column("pipeline_run_id", ID, nullable=True),  # not keys: runs and versions are deleted
    sa.Column("candidate_version", sa.Integer(), nullable=True),
    sa.Column("gate_result_id", ID, nullable=True),
    sa.Column("action", sa.Text(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("lease_token", sa.BigInteger(), nullable=True),  # the last writer's fence
    sa.UniqueConstraint("key", name="uq_loop_decisions_key"),
    sa.Index("ix_loop_decisions_model_created", "model", "created_at"),
    sa.Index("ix_loop_decisions_created", "created_at"),
)

# small JSON documents the loop keeps between ticks, by name (stores/loop/sql_states.py)
loop_states = sa.Table(
    "loop_states",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("document", DOCUMENT, nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("lease_token", sa.BigInteger(), nullable=True),  # of its last writer's lease
)

# identity and access (revision 0011): the token's secret is never stored, only its salted hash
users = sa.Table(
    "users",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("disabled_at", sa.BigInteger(), nullable=True),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),  # the lookup key, part of the token
    sa.Column(
        "user_name", sa.String(100), sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("label", sa.String(200), nullable=False),
    sa.Column("salt", sa.String(32), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False),  # HMAC-SHA256(salt, secret)
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=True),
    sa.Column("revoked_at", sa.BigInteger(), nullable=True),
    sa.Column("last_used_at", sa.BigInteger(), nullable=True),
    sa.Index("ix_api_tokens_user", "user_name"),
)

role_bindings = sa.Table(
    "role_bindings",
    metadata,
    sa.Column(
        "user_name",
        sa.String(100),
        sa.ForeignKey("users.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("project", sa.String(100), primary_key=True),  # "*": every project
    sa.Column("role", sa.String(20), nullable=False),
)
