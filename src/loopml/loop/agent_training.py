"""How the agent trains: the policy's pipeline in a process of its own, detached from the
agent, so that neither a kill -9 of the agent nor its SIGTERM stops a training half-way, and
a second agent that takes over finds the same training and waits for it (never a second one).

The pipeline run is tagged ``loopml.loop.decision=<decision id>``, and a training lease
(``train:<decision id>``) says that a process is (about to be) running it:

1. the agent acquires the training lease under a holder name of its own making, then starts
   the process, which acquires the lease under that same holder (extending it) and renews it
   while it trains; so from before the process starts until it ends, the lease is held;
2. the process, holding the lease, starts the run only if no run carries the tag yet;
3. whoever finds a ``training`` decision looks for the tagged run first: a run that ended
   decides it; a running one, or no run while the lease is held, is waited for; no run and no
   lease means nobody trains it (the process died before its run started): train it now.

A run still RUNNING whose lease lapsed lost its process: it is ended KILLED and the decision
fails. Started as ``python -m loopml.loop.agent_training`` by :func:`start_training`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from loopml.core.config import ENV_ARTIFACT_URI, ENV_SERVER_URL, ENV_STORE_URI, ENV_TOKEN
from loopml.core.entities import Run
from loopml.core.errors import LeaseLostError, LoopMLError
from loopml.core.ids import new_id
from loopml.pipelines.loading import plan_named
from loopml.pipelines.runner import REF_TAG, run
from loopml.tracking.client import Client

__all__ = [
    "DECISION_TAG",
    "ERROR_TAG",
    "Training",
    "find_training_run",
    "start_training",
    "training_lease_name",
]

DECISION_TAG = "loopml.loop.decision"  # on the pipeline run a decision started
ERROR_TAG = "loopml.loop.error"  # why that run failed, in a line, set by the process
EXIT_NOT_MINE = 4  # the process found the lease held by another or the run started already
MAX_ERROR = 1500


def training_lease_name(decision_id: str) -> str:
    return f"train:{decision_id}"


def find_training_run(client: Client, decision_id: str) -> Run | None:
    """The pipeline run tagged with ``decision_id`` (the oldest, should there be two)."""
    page = client.search_runs(filter=f"tags.{DECISION_TAG} = '{decision_id}'", max_results=10)
    return min(page.items, key=lambda r: (r.start_time, r.id), default=None)


@dataclass
class Training:
    """A training process this agent started (None once reaped), and where its output goes."""

    decision_id: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def exit_code(self) -> int | None:
        return self.process.poll()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])


def start_training(
    client: Client,
    *,
    project: Path,
    decision_id: str,
    pipeline: str,
    params: list[str],
    holder: str,
    lease_ttl_ms: int,
) -> Training | None:
    """Start the process that runs ``pipeline`` (``params``: ``key=value``) for the decision,
    having acquired its training lease first; None if another holder has it (a process is
    training it already)."""
    name = training_lease_name(decision_id)
    own = f"{holder}/train/{new_id()[:8]}"
    if client.loop.acquire_lease(name, own, lease_ttl_ms) is None:
        return None
    log_path = _log_folder(client) / f"train-{decision_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "loopml.loop.agent_training",
        "--project",
        str(project.resolve()),
        "--decision",
        decision_id,
        "--pipeline",
        pipeline,
        "--holder",
        own,
        "--lease-ttl-ms",
        str(lease_ttl_ms),
        *[arg for param in params for arg in ("--param", param)],
    ]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=project,
            env=_environment(client),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the agent's SIGTERM or Ctrl-C is not the training's
        )
    return Training(decision_id, process, log_path)


def _log_folder(client: Client) -> Path:
    if client.project_root is not None:
        return client.project_root / "cache" / "agent"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "loopml" / "agent"


def _environment(client: Client) -> dict[str, str]:
    """The agent's environment, with the stores of its client (whatever it was opened with)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (ENV_STORE_URI, ENV_ARTIFACT_URI, ENV_SERVER_URL, ENV_TOKEN)
        and not k.endswith("_URI_FILE")
    }
    spec = client.spec
    if spec.server_url is not None:
        env[ENV_SERVER_URL] = spec.server_url
        if spec.token:
            env[ENV_TOKEN] = spec.token
    else:
        env[ENV_STORE_URI] = str(spec.store_uri)
        env[ENV_ARTIFACT_URI] = str(spec.artifact_uri)
    return env


# the training process ----------------------------------------------------------------------


class _Renewer(threading.Thread):
    def __init__(self, client: Client, name: str, holder: str, ttl_ms: int) -> None:
        super().__init__(name="loopml-training-lease", daemon=True)
        self.client, self.lease_name, self.holder, self.ttl_ms = client, name, holder, ttl_ms
        self.stop = threading.Event()
        self.lease = client.loop.acquire_lease(name, holder, ttl_ms)

    def run(self) -> None:
        while self.lease is not None and not self.stop.wait(self.ttl_ms / 3000):
            try:
                self.lease = self.client.loop.renew_lease(self.lease, self.ttl_ms)
            except LeaseLostError:
                return
            except LoopMLError:
                continue  # the store is away for a moment: try again at the next beat

    def release(self) -> None:
        self.stop.set()
        if self.lease is not None:
            with contextlib.suppress(LoopMLError):  # else it lapses by itself
                self.client.loop.release_lease(self.lease)


def main(argv: list[str] | None = None) -> int:
    """Run the pipeline for one decision, as described above; exit 0 when it ran (or ran
    already elsewhere: EXIT_NOT_MINE), 1 when it failed (the reason tagged on its run)."""
    parser = argparse.ArgumentParser(prog="python -m loopml.loop.agent_training")
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--decision", required=True)
    parser.add_argument("--pipeline", required=True)
    parser.add_argument("--holder", required=True)
    parser.add_argument("--lease-ttl-ms", type=int, required=True)
    parser.add_argument("--param", action="append", default=[])
    args = parser.parse_args(argv)
    with Client(create=False) as client:
        renewer = _Renewer(
            client, training_lease_name(args.decision), args.holder, args.lease_ttl_ms
        )
        if renewer.lease is None:
            print("another process holds this training's lease", file=sys.stderr)
            return EXIT_NOT_MINE
        renewer.start()
        try:
            if find_training_run(client, args.decision) is not None:
                print("this decision's run started already", file=sys.stderr)
                return EXIT_NOT_MINE
            return _train(client, args.project, args.decision, args.pipeline, args.param)
        finally:
            renewer.release()


def _train(
    client: Client, project: Path, decision_id: str, pipeline: str, params: list[str]
) -> int:
    try:
        ref, plan = plan_named(pipeline, project, params)
        result = run(plan, client=client, tags={REF_TAG: ref, DECISION_TAG: decision_id})
    except Exception as exc:  # any failure is the decision's: told through the run's tag
        message = exc.message if isinstance(exc, LoopMLError) else f"{type(exc).__name__}: {exc}"
        print(message, file=sys.stderr)
        failed = find_training_run(client, decision_id)
        if failed is not None:
            with contextlib.suppress(LoopMLError):
                client.set_tag(failed.id, ERROR_TAG, message[:MAX_ERROR])
                client.flush()
        return 1
    print(f"pipeline run {result.run_id} finished", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
