"""A project with a real deployment and its prediction log, for the deployments page's tests.

scikit-learn's breast cancer table: ``cancer@1`` (a logistic regression on named columns,
trained on the dataset ``cancer-train@1``) is the champion, served by a deployment that
follows ``@champion``. Its log, written by the log's own writer as a model server writes it,
holds ``WINDOWS`` hourly windows of scored requests and a few refused ones; from window
``DRIFT_FROM`` on the feature ``DRIFTED`` is shifted far from the training data; labels came
for the first ``LABELLED`` windows. The loop retrained on the drift: ``cancer@2`` from a run,
gated for real on ``cancer-holdout``, and held for approval (a decision with its evidence), and
an alert rule's firing is kept as the agent keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml
from loopml.core.ids import now_ms
from loopml.core.loop_records import (
    MAX_TTL_MS,
    DecisionState,
    DecisionUpdate,
    NewDecision,
    NewDeployment,
    TriggerKind,
)
from loopml.loop.agent_tick import ALERT_STATE
from loopml.loop.alerts import AlertState
from loopml.models.gate_policy import policy_from_yaml
from loopml.monitoring.log_records import ErrorEntry, FeedbackEntry, PredictionEntry
from loopml.monitoring.log_store import SERVER, RunSink, start_log_run
from loopml.monitoring.prediction_log import PredictionLog
from loopml.serving.rows import Rows
from loopml.serving.scoring import Scorer
from loopml.tracking.client import Client

HOUR = 3_600_000
WINDOWS = 5
DRIFT_FROM = 3  # windows 3 and 4: mean_radius shifted
LABELLED = 3  # labels came for windows 0, 1, 2
REQUESTS, ROWS = 30, 4  # per window
ERRORS = 2  # refused requests per window
DRIFTED = "mean_radius"
GATE = """\
evaluation: {dataset: cancer-holdout@latest, target: target}
metrics: {accuracy: {min: 0.8}}
"""


@dataclass(frozen=True)
class DeploymentProject:
    deployment_id: str
    start_ms: int  # the first window's start
    decision_id: str
    pipeline_run_id: str
    features: int


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.drop(columns="target")
    frame.columns = [name.replace(" ", "_") for name in frame.columns]
    return frame, data.target.to_numpy()


def build_deployment_project(folder: Path, client: Client) -> DeploymentProject:
    """The project above in ``client``'s stores (``folder`` holds its files)."""
    frame, target = _frame()
    rng = np.random.default_rng(11)
    order = rng.permutation(len(target))
    train, holdout = order[:380], order[380:]
    train_csv, holdout_csv = folder / "cancer-train.csv", folder / "cancer-holdout.csv"
    frame.iloc[train].assign(target=target[train]).to_csv(train_csv, index=False)
    frame.iloc[holdout].assign(target=target[holdout]).to_csv(holdout_csv, index=False)
    loopml.data.add("cancer-train", train_csv, client=client)
    loopml.data.add("cancer-holdout", holdout_csv, client=client)

    def fit(rows: np.ndarray) -> Any:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        return model.fit(frame.iloc[rows], target[rows])

    champion = fit(train)
    with loopml.start_run("training", name="train cancer", client=client) as run:
        run.use_dataset("cancer-train@1")
        loopml.models.register(
            "cancer", champion, input_example=frame.head(5), run=run, client=client
        )
    loopml.models.set_alias("cancer", "champion", 1, client=client)

    server = start_log_run(client, model="cancer", kind=SERVER, name="serve cancer")
    client.loop.register_deployment(
        NewDeployment(
            id=server.id,
            model="cancer",
            address="http://127.0.0.1:8085",
            heartbeat_ms=MAX_TTL_MS,
            alias="champion",
            version=1,
            run_id=server.id,
        )
    )
    start_ms = (now_ms() // HOUR - WINDOWS - 1) * HOUR
    entries = _traffic(champion, frame.iloc[holdout], target[holdout], start_ms, rng)
    log = PredictionLog(
        RunSink(client, server.id), folder / "spool", flush_seconds=0.05, roll_seconds=3600
    )
    log.start()
    for entry in entries:
        log.add(entry)
    log.close()

    # the loop saw the drift: it retrained, gated the candidate, and holds it for approval
    end = start_ms + (DRIFT_FROM + 1) * HOUR
    decision = client.loop.record_decision(
        NewDecision(
            key=f"retrain:cancer@champion:drift:{end}",
            model="cancer",
            alias="champion",
            trigger=TriggerKind.DRIFT,
            champion_version=1,
            evidence={
                "signal": "drift_share",
                "value": 0.2,
                "threshold": 0.03,
                "samples": REQUESTS * ROWS,
                "window_end_ms": end,
            },
        )
    )
    with loopml.start_run("training", name="retrain cancer", client=client) as run:
        run.use_dataset("cancer-train@1")
        loopml.models.register(
            "cancer", fit(order[:420]), input_example=frame.head(5), run=run, client=client
        )
    result = loopml.models.gate("cancer@2", policy_from_yaml(GATE), client=client)
    for step in (
        DecisionUpdate(DecisionState.TRIGGERED, DecisionState.TRAINING, pipeline_run_id=run.id),
        DecisionUpdate(DecisionState.TRAINING, DecisionState.TRAINED, candidate_version=2),
        DecisionUpdate(DecisionState.TRAINED, DecisionState.GATED, gate_result_id=result.id),
        DecisionUpdate(DecisionState.GATED, DecisionState.HELD, action="held for approval"),
    ):
        client.loop.advance_decision(decision.id, step)
    fired = AlertState().fired("drift-high", "cancer@champion", end + 60_000)
    client.loop.put_loop_state(ALERT_STATE, fired.to_dict())
    return DeploymentProject(server.id, start_ms, decision.id, run.id, frame.shape[1])


def _traffic(
    model: Any, rows: pd.DataFrame, truth: np.ndarray, start_ms: int, rng: np.random.Generator
) -> list[Any]:
    scorer = Scorer.for_predictor(model, "native")
    entries: list[Any] = []
    for window in range(WINDOWS):
        for index in range(REQUESTS):
            picked = rng.choice(len(truth), ROWS)
            inputs = rows.iloc[picked].reset_index(drop=True)
            if window >= DRIFT_FROM:
                inputs[DRIFTED] = inputs[DRIFTED] + 15.0
            labels, scores = scorer.predict(inputs)
            at = start_ms + window * HOUR + index * 100_000
            prefix = f"{window:02d}{index:04d}{'0' * 26}"
            entries.append(
                PredictionEntry(
                    prefix,
                    prefix,
                    at,
                    "cancer@1",
                    "main",
                    float(rng.lognormal(1.0, 0.5)),
                    Rows(pa.Table.from_pandas(inputs, preserve_index=False)),
                    labels,
                    scores,
                )
            )
            if window < LABELLED:
                ids = [f"{prefix}-{row}" for row in range(ROWS)]
                entries.append(FeedbackEntry(ids, truth[picked].tolist(), at + 60_000))
        entries.extend(
            ErrorEntry(
                f"bad{window}-{i}",
                start_ms + window * HOUR + 30_000 * (i + 1),
                "cancer@1",
                "main",
                1.0,
                400,
                "invalid_input",
            )
            for i in range(ERRORS)
        )
    return entries
