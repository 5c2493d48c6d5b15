"""``loopml quickstart --loop``: the whole loop on the quickstart's real data, in a few minutes.

1. The loop's sections go into ``loopml.yaml`` (:mod:`.quickstart_loop_config`: a retraining
   policy and alert rules with one-minute windows) and the champion is served for real.
2. Traffic is replayed in phases (:mod:`.quickstart_loop_traffic`): normal, then a new scanner
   (drift) whose cases are labelled under a new protocol (the labels fed back through
   ``/feedback``); after each, what monitoring sees (``monitor_windows``).
3. The labelled drifted rows are read back from the prediction log and become the next version
   of the training data; what the policy decides on the drifted window is shown
   (``decide_retraining``), then the agent acts on it: it retrains, gates and promotes.
4. A model trained on shuffled labels is promoted by hand; it answers worse, and the agent's
   rollback guard moves the alias back. It ends with ``loopml loop log``.

The agent runs as ``loopml agent --once --json`` in a process of its own (:func:`agent_tick`),
as an operator would run it; the time from the first drifted request to the promoted champion
is measured, the training's own time reported apart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.cli.quickstart_data import DATASET, HOLDOUT, TARGET
from loopml.cli.quickstart_loop_config import LOOP_PIPELINE, WINDOW_MS, write_loop_config
from loopml.cli.quickstart_loop_replay import (
    Replayed,
    fits_in_window,
    replay,
    wait_until,
    watch,
)
from loopml.cli.quickstart_loop_traffic import Phase, new_world, traffic_phases
from loopml.core.errors import LoopMLError
from loopml.core.ids import now_ms

if TYPE_CHECKING:
    import httpx

    from loopml.tracking.client import Client

__all__ = ["AGENT_TIMEOUT_S", "LoopStory", "agent_tick", "quickstart_loop", "run_loop"]

AGENT_TIMEOUT_S = 900.0  # one tick trains a model: minutes on a busy machine
DRIFT_BUDGET_MS = 15_000  # the drifted traffic is sent in the last 15 s of a window
SERVE_TIMEOUT_S = 300.0
SWAP_TIMEOUT_S = 60.0
LOOP_FOLDER = "loop"  # data/loop/: the files of the new data versions
LOOP_NEEDS = ("httpx", "uvicorn", "orjson", "prometheus_client", "pandas")


@dataclass
class LoopStory:
    """What the loop did: the phases, the decisions the agent took, the timings (seconds)."""

    model: str
    first_model: str | None = None  # trained by the loop, when the champion took an array
    first_model_forced: str | None = None  # why its promotion needed --force (its schema)
    phases: list[Replayed] = field(default_factory=list)
    data_versions: dict[str, str] = field(default_factory=dict)  # role → NAME@N
    preview: dict[str, Any] | None = None  # decide_retraining on the drifted window
    ticks: list[dict[str, Any]] = field(default_factory=list)  # loopml agent --once --json
    retraining: dict[str, Any] | None = None  # the decision, as stored
    rollback: dict[str, Any] | None = None
    timings: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    loop_log: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "first_model": self.first_model,
            "first_model_forced": self.first_model_forced,
            "phases": [p.to_dict() for p in self.phases],
            "data_versions": self.data_versions,
            "policy_decides": self.preview,
            "agent_ticks": self.ticks,
            "retraining": self.retraining,
            "rollback": self.rollback,
            "timings_s": self.timings,
            "notes": self.notes,
            "loop_log": self.loop_log,
        }


def quickstart_loop(
    folder: Path,
    *,
    quiet: bool,
    as_json: bool,
    first_run: Callable[[], None],
    model: str,
    alias: str,
) -> None:
    """The loop in the quickstart project ``folder``; ``first_run`` makes its champion first
    when it has none (the quickstart's own run). Prints the story, or ``--json``."""
    from loopml.cli import output
    from loopml.cli.quickstart_loop_report import print_loop_story
    from loopml.core.config import init_project
    from loopml.core.errors import BackendUnavailableError, NotFoundError
    from loopml.tracking.client import Client

    missing = [name for name in LOOP_NEEDS if find_spec(name) is None]
    if missing:
        raise BackendUnavailableError(
            f"loopml quickstart --loop serves named columns and needs {', '.join(missing)}: "
            "pip install 'loopml[sklearn,tune,serve]' pandas"
        )
    config = init_project(folder)
    with Client(config=config, create=False) as client:
        try:
            client.metadata.get_model_alias(model, alias)
        except NotFoundError:
            first_run()
    err = output.console(stderr=True, quiet=quiet)

    def say(text: str) -> None:
        err.print(text, markup=False, soft_wrap=True, style="dim")

    with Client(config=config, create=False) as client:
        story = run_loop(client, folder, model=model, alias=alias, say=say)
        decisions = client.loop.list_decisions(model=model).items
    story.loop_log = [d.to_dict() for d in decisions]
    if as_json:
        output.print_json({"project": str(config.root), **story.to_dict()})
        return
    print_loop_story(story, decisions)


def agent_tick(folder: Path) -> dict[str, Any]:
    """One tick of ``loopml agent`` in ``folder``, in a process of its own, and what it did
    (its ``--json``). The one place the quickstart calls the agent."""
    command = [sys.executable, "-m", "loopml", "agent", "--once", "--json", "--quiet"]
    done = subprocess.run(
        command,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=AGENT_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise LoopMLError(
            f"'loopml agent --once' exited with {done.returncode}: "
            f"{(done.stderr or done.stdout).strip()[-1500:]}"
        )
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def run_loop(client: Client, folder: Path, *, model: str, alias: str, say: Any = None) -> LoopStory:
    """The scenario above in the quickstart project ``folder`` (its champion served)."""
    import httpx

    from loopml.cli.quickstart_serving import LiveServer

    tell = say or (lambda text: None)
    story = LoopStory(f"{model}@{alias}")
    write_loop_config(folder, model=model, alias=alias, dataset=DATASET)
    tell("loopml.yaml: a retraining policy and two alert rules, one-minute windows")
    header, rows, labels = _table(folder / "data" / f"{DATASET}.csv")
    phases = {p.name: p for p in traffic_phases(header, rows, labels, seed=0)}
    champion = _named_champion(client, folder, model, alias, story, tell)
    with (
        LiveServer(folder, f"{model}@{alias}", []) as live,
        httpx.Client(base_url=live.url, timeout=60.0) as http,
    ):
        wait_until(http, champion, timeout=SERVE_TIMEOUT_S, why="starting")
        tell(f"Serving {model}@{alias} ({champion}) on {live.url}")
        _phase(client, http, phases["normal"], header, story, tell)
        first_drift = _drift_phase(client, http, phases["drift"], header, story, tell)
        _new_data(client, folder, story, header, tell)
        _wait_for_window_end(first_drift, tell)
        story.preview = _preview(client, folder, model, alias, story)
        _tick(folder, story, tell)
        retrained = _retraining_outcome(client, story, model, first_drift)
        if retrained is None:
            return story
        wait_until(http, retrained, timeout=SWAP_TIMEOUT_S, why="the retrained champion")
        _phase(client, http, phases["recovered"], header, story, tell)
        worse = _promote_worse(client, folder, model, story)
        wait_until(http, worse, timeout=SWAP_TIMEOUT_S, why="the worse model, promoted")
        tell(f"Promoted {worse}, trained on shuffled labels, by hand (--force)")
        _phase(client, http, phases["worse"], header, story, tell)
        _tick(folder, story, tell)
        story.rollback = _rollback_outcome(client, model, story)
        if story.rollback is not None:
            wait_until(http, retrained, timeout=SWAP_TIMEOUT_S, why="the rollback")
            tell(f"The rollback guard moved {model}@{alias} back to {retrained}")
    return story


def _named_champion(
    client: Client, folder: Path, model: str, alias: str, story: LoopStory, tell: Any
) -> str:
    """The champion, if it takes named columns (then the server logs them by name and live
    drift compares each with its training data's); else the loop's first model: the
    ``retraining`` pipeline on the champion's training data (its searches come from the
    cache) registers the same model fitted on named columns, gated and promoted."""
    from loopml.core.errors import PromotionBlockedError
    from loopml.models.gate_policy import read_policy
    from loopml.models.gates import gate
    from loopml.models.promotion import promote
    from loopml.pipelines.loading import plan_named
    from loopml.pipelines.runner import REF_TAG, run

    current = client.metadata.get_model_version(
        model, client.metadata.get_model_alias(model, alias)
    )
    if (current.signature or {}).get("inputs", {}).get("kind") == "columns":
        return f"{model}@{current.version}"
    data = current.datasets[0] if len(current.datasets) == 1 else f"{DATASET}@latest"
    tell(f"Training the loop's first model on {data}: {model}@{current.version} takes an "
         "array, live drift compares named columns")  # fmt: skip
    ref, plan = plan_named(LOOP_PIPELINE, folder, [f"data={data}", "n_trials=10"])
    result = run(
        plan, client=client, experiment="quickstart", tags={REF_TAG: ref}, executor="local"
    )
    registered = f"{model}@{result.value()['version']}"
    policy = read_policy(folder / "gates.yaml")
    gate(registered, policy, client=client)
    reason = "the loop's first champion: it takes named columns, so live drift compares them"
    try:
        promote(registered, policy=policy, reason=reason, client=client)
    except PromotionBlockedError as blocked:
        # its schema differs from the champion's by design (named columns, not an array)
        story.first_model_forced = blocked.message
        tell(f"{registered} promoted with --force: {blocked.message}")
        promote(registered, policy=policy, force=True, reason=reason, client=client)
    story.first_model = registered
    return registered


def _table(path: Path) -> tuple[list[str], list[tuple[float, ...]], list[int]]:
    import csv

    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.reader(stream)
        columns = next(reader)
        target = columns.index(TARGET)
        header = [name for i, name in enumerate(columns) if i != target]
        rows, labels = [], []
        for row in reader:
            rows.append(tuple(float(v) for i, v in enumerate(row) if i != target))
            labels.append(int(row[target]))
    return header, rows, labels


def _phase(
    client: Client, http: httpx.Client, phase: Phase, header: list[str], story: LoopStory,
    tell: Any,
) -> Replayed:  # fmt: skip
    wait_ms = fits_in_window(15.0)
    if wait_ms:
        time.sleep(wait_ms / 1000)
    seen = replay(http, phase, header)
    watch(client, seen)
    story.phases.append(seen)
    tell(f"Phase {phase.name}: {seen.rows} rows to {seen.version}, labels fed back")
    return seen


def _drift_phase(
    client: Client, http: httpx.Client, phase: Phase, header: list[str], story: LoopStory,
    tell: Any,
) -> int:  # fmt: skip
    """The drifted rows, sent late in the window after the normal phase's (the agent acts on
    complete windows, so the drift waits there for the window's end). Returns when the first
    drifted request was sent."""
    after = story.phases[-1].ended_ms // WINDOW_MS * WINDOW_MS + WINDOW_MS
    target = after + WINDOW_MS - DRIFT_BUDGET_MS
    if now_ms() > target:
        target = (now_ms() // WINDOW_MS + 1) * WINDOW_MS + WINDOW_MS - DRIFT_BUDGET_MS
    tell(f"Waiting {(target - now_ms()) / 1000:.0f} s: the drift goes into a window of its own")
    time.sleep(max(0, target - now_ms()) / 1000)
    seen = replay(http, phase, header)
    if seen.ended_ms // WINDOW_MS != seen.started_ms // WINDOW_MS:
        story.notes.append("The drifted traffic ran over into the next window (a busy machine).")
    watch(client, seen)
    story.phases.append(seen)
    tell(f"Phase drift: {seen.rows} rows to {seen.version}, labelled under the new protocol")
    return seen.started_ms


def _new_data(client: Client, folder: Path, story: LoopStory, header: list[str], tell: Any) -> None:
    """The drifted rows with their labels, read back from the prediction log, as the next
    version of the training data; the held-out cases measured and labelled the new way as
    the next version of the gate's evaluation data."""
    import csv

    import pyarrow as pa
    import pyarrow.compute as pc

    from loopml.data import versions
    from loopml.monitoring.log_reader import read_predictions

    drift = next(p for p in story.phases if p.name == "drift")
    logged = read_predictions(
        drift.version.split("@")[0], client, since_ms=drift.started_ms, until_ms=drift.ended_ms + 1
    )
    wanted = pa.array(drift.prediction_ids)
    logged = logged.filter(pc.is_in(logged["prediction_id"], value_set=wanted))
    logged = logged.filter(pc.is_valid(logged["label"]))
    inputs = logged["inputs"].combine_chunks()
    table = pa.table(
        {name: inputs.field(name) for name in header}
        | {TARGET: pc.cast(logged["label"], pa.int64())}
    )
    out = folder / "data" / LOOP_FOLDER
    out.mkdir(parents=True, exist_ok=True)
    train_path = out / f"{DATASET}.csv"
    with train_path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(table.column_names)
        writer.writerows(zip(*(table[c].to_pylist() for c in table.column_names), strict=True))
    message = "the drifted traffic with the labels fed back, read from the prediction log"
    added = versions.add(DATASET, train_path, message=message, client=client).version
    story.data_versions["training"] = f"{added.dataset}@{added.version}"
    hold_header, hold_rows, _ = _table(folder / "data" / f"{HOLDOUT}.csv")
    scanned_rows, relabelled = new_world(hold_header, hold_rows)
    holdout_path = out / f"{HOLDOUT}.csv"
    with holdout_path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow([*hold_header, TARGET])
        for row, label in zip(scanned_rows, relabelled, strict=True):
            writer.writerow([repr(v) for v in row] + [label])
    message = "the held-out cases, scanned and labelled the new way"
    held = versions.add(HOLDOUT, holdout_path, message=message, client=client).version
    story.data_versions["holdout"] = f"{held.dataset}@{held.version}"
    tell(f"New data: {story.data_versions['training']} ({table.num_rows} labelled rows from "
         f"the log), {story.data_versions['holdout']} for the gate")  # fmt: skip


def _wait_for_window_end(first_drift_ms: int, tell: Any) -> None:
    end = (first_drift_ms // WINDOW_MS + 1) * WINDOW_MS
    left = end - now_ms() + 1500  # and a moment for the last log part to be stored
    if left > 0:
        tell(f"Waiting {left / 1000:.0f} s for the drifted window to end")
        time.sleep(left / 1000)


def _preview(
    client: Client, folder: Path, model: str, alias: str, story: LoopStory
) -> dict[str, Any] | None:
    """What the policy decides on the drifted window (the agent decides the same)."""
    from loopml.core.loop_records import TriggerKind
    from loopml.loop.decide import Situation, Window, decide_retraining
    from loopml.loop.policy import load_loop_policy

    policy = load_loop_policy(folder).for_model(model, alias)
    drift = next(p for p in story.phases if p.name == "drift")
    seen = drift.window
    if policy is None or "window_start" not in seen:
        return None
    start = drift.started_ms // WINDOW_MS * WINDOW_MS
    signals = {
        "traffic": float(seen["rows"]),
        "drift_share": seen.get("drift_share"),
        "accuracy": seen.get("accuracy"),
    }
    window = Window(start, start + WINDOW_MS, signals, int(seen.get("labelled") or 0))
    newest = client.metadata.get_dataset_version(DATASET).version
    served = client.metadata.get_model_version(model, int(drift.version.split("@")[1]))
    trained_on = [int(d.split("@")[1]) for d in served.datasets if d.split("@")[0] == DATASET]
    decisions = client.loop.list_decisions(model=model).items
    situation = Situation(
        now_ms=now_ms(), windows={WINDOW_MS: window}, decisions=decisions,
        newest_data_version=newest, champion_data_version=max(trained_on, default=None),
    )  # fmt: skip
    trigger = decide_retraining(policy, situation)
    drifted = decide_retraining(policy, _without(situation, "accuracy"))
    return {
        "trigger": None if trigger is None else str(trigger.kind),
        "evidence": None if trigger is None else trigger.evidence,
        "drift_alone": None
        if drifted is None or drifted.kind is not TriggerKind.DRIFT
        else drifted.evidence,
    }


def _without(situation: Any, signal: str) -> Any:
    """``situation`` with ``signal`` unmeasured (what would fire without it)."""
    from dataclasses import replace

    windows = {
        length: replace(w, signals={**w.signals, signal: None})
        for length, w in situation.windows.items()
    }
    return replace(situation, windows=windows)


def _tick(folder: Path, story: LoopStory, tell: Any) -> dict[str, Any]:
    started = time.monotonic()
    tell("loopml agent --once …")
    report = agent_tick(folder)
    report["seconds"] = round(time.monotonic() - started, 3)
    story.ticks.append(report)
    return report


def _retraining_outcome(
    client: Client, story: LoopStory, model: str, first_drift_ms: int
) -> str | None:
    """The retraining decision as stored and the timings; the new champion (``NAME@N``), or
    None (with a note) when the agent did not promote one."""
    from loopml.core.loop_records import DecisionState, TriggerKind

    decisions = client.loop.list_decisions(model=model).items
    retrainings = [d for d in decisions if d.trigger is not TriggerKind.ROLLBACK_GUARD]
    if not retrainings:
        story.notes.append("The agent recorded no retraining decision.")
        return None
    decision = max(retrainings, key=lambda d: d.created_at)
    story.retraining = decision.to_dict()
    training_s = None
    if decision.pipeline_run_id is not None:
        run = client.get_run(decision.pipeline_run_id)
        if run.end_time is not None:
            training_s = (run.end_time - run.start_time) / 1000
    story.timings["training"] = training_s
    story.timings["first_drifted_request_to_decision"] = (
        decision.created_at - first_drift_ms
    ) / 1000
    if decision.state is not DecisionState.PROMOTED or decision.candidate_version is None:
        story.notes.append(f"The retraining ended {decision.state}: {decision.error or ''}")
        return None
    history = client.metadata.list_alias_history(model, decision.alias)
    promoted_at = max(
        (c.at for c in history if c.to_version == decision.candidate_version), default=None
    )
    if promoted_at is not None:
        total = (promoted_at - first_drift_ms) / 1000
        story.timings["first_drifted_request_to_promotion"] = total
        story.timings["first_drifted_request_to_promotion_without_training"] = (
            None if training_s is None else round(total - training_s, 3)
        )
    return f"{model}@{decision.candidate_version}"


def _promote_worse(client: Client, folder: Path, model: str, story: LoopStory) -> str:
    """A model trained on the newest data with its labels shuffled, registered (lineage: that
    data version) and promoted by force: its gate would refuse it."""
    import numpy as np

    import loopml
    from loopml.cli.quickstart_pipeline import make_model, named
    from loopml.data import versions
    from loopml.models.gate_policy import read_policy
    from loopml.models.promotion import promote
    from loopml.models.registry import register

    ref = story.data_versions["training"]
    table = versions.get(ref, client=client).to_arrow()
    names = [n for n in table.column_names if n != TARGET]
    x = np.column_stack([table[n].to_numpy() for n in names]).astype(np.float64)
    y = np.random.default_rng(0).permutation(table[TARGET].to_numpy())
    fitted = make_model("logistic_regression", {"C": 1.0}, 0).fit(named(x, names), y)
    with loopml.start_run(experiment="quickstart", name="worse-on-purpose", client=client) as run:
        run.use_dataset(ref)
        version = register(
            model, fitted, input_example=named(x[:5], names), run=run,
            description="trained on shuffled labels: deliberately worse", client=client,
        )  # fmt: skip
    promote(
        f"{model}@{version.version}",
        policy=read_policy(folder / "gates.yaml"),
        force=True,
        reason="the quickstart promotes a deliberately worse model to show the rollback guard",
        client=client,
    )
    return f"{model}@{version.version}"


def _rollback_outcome(client: Client, model: str, story: LoopStory) -> dict[str, Any] | None:
    from loopml.core.loop_records import DecisionState, TriggerKind

    found = [
        d
        for d in client.loop.list_decisions(model=model).items
        if d.trigger is TriggerKind.ROLLBACK_GUARD and d.state is DecisionState.ROLLED_BACK
    ]
    if not found:
        story.notes.append("The rollback guard did not roll the worse model back.")
        return None
    return max(found, key=lambda d: d.created_at).to_dict()
