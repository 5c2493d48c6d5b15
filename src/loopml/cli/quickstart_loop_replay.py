"""Replaying a phase of the quickstart loop's traffic against a real ``loopml serve``: rows as
named columns to ``/invocations`` (so the log keeps them by name and monitoring compares them
column by column), their labels to ``/feedback`` by prediction id, then the prediction log
read back through ``monitor_windows`` until it holds them all — what monitoring saw.

>>> seen = replay(http, phase, header)  # doctest: +SKIP
>>> watch(client, f"breast-cancer@{seen.version}", seen)  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.cli.quickstart_loop_config import WINDOW_MS
from loopml.core.errors import LoopMLError
from loopml.core.ids import now_ms

if TYPE_CHECKING:
    import httpx

    from loopml.cli.quickstart_loop_traffic import Phase
    from loopml.tracking.client import Client

__all__ = ["Replayed", "fits_in_window", "replay", "served_version", "wait_until", "watch"]

BATCH_ROWS = 5  # rows per request: a trickle of small requests, as a client sends them
LABELS_PER_REQUEST = 100
LOG_TIMEOUT_S = 60.0  # the server stores its log parts every second; a busy machine lags


@dataclass
class Replayed:
    """One phase as it was sent and as monitoring saw it."""

    name: str
    description: str
    rows: int
    version: str = ""  # NAME@N that answered (the last request's)
    started_ms: int = 0
    ended_ms: int = 0
    prediction_ids: list[str] = field(default_factory=list)
    window: dict[str, Any] = field(default_factory=dict)  # what monitor_windows said

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.name,
            "description": self.description,
            "rows": self.rows,
            "served_by": self.version,
            "started_ms": self.started_ms,
            "ended_ms": self.ended_ms,
            "monitoring": self.window,
        }


def served_version(http: httpx.Client) -> str | None:
    """``NAME@N`` the server answers with now (None: not ready yet)."""
    import httpx

    try:
        response = http.get("/version")
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    return str(response.json()["model_version"])


def wait_until(http: httpx.Client, version: str, *, timeout: float, why: str) -> None:
    """Until the server answers with ``version`` (started, or swapped after an alias move)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served_version(http) == version:
            return
        time.sleep(0.1)
    raise LoopMLError(f"The quickstart's server never answered with {version} ({why}).")


def fits_in_window(seconds: float, *, at_ms: int | None = None) -> int:
    """How long (ms) to wait so that ``seconds`` of traffic starting then ends inside one
    monitoring window (0: it fits in the current one)."""
    now = now_ms() if at_ms is None else at_ms
    left = WINDOW_MS - now % WINDOW_MS
    return 0 if left > seconds * 1000 else left + 100


def replay(http: httpx.Client, phase: Phase, header: list[str]) -> Replayed:
    """Send ``phase``'s rows and then its labels; HTTP errors are LoopMLErrors."""
    seen = Replayed(phase.name, phase.description, len(phase.rows), started_ms=now_ms())
    for start in range(0, len(phase.rows), BATCH_ROWS):
        chunk = [list(row) for row in phase.rows[start : start + BATCH_ROWS]]
        body = {"dataframe_split": {"columns": header, "data": chunk}}
        answer = _ok(http.post("/invocations", json=body), "/invocations")
        seen.prediction_ids.extend(answer["prediction_ids"])
        seen.version = str(answer["model_version"])
    seen.ended_ms = now_ms()
    pairs = list(zip(seen.prediction_ids, phase.labels, strict=True))
    for start in range(0, len(pairs), LABELS_PER_REQUEST):
        labels = [{"prediction_id": p, "label": y} for p, y in pairs[start : start + 100]]
        _ok(http.post("/feedback", json=labels), "/feedback")
    return seen


def _ok(response: Any, route: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise LoopMLError(
            f"The quickstart's server answered {route} with HTTP {response.status_code}: "
            f"{response.text[:300]}"
        )
    answer: dict[str, Any] = response.json()
    return answer


def watch(client: Client, seen: Replayed) -> dict[str, Any]:
    """What monitoring says of the phase (the window of ``seen.version`` it was sent in),
    once the log holds every row and label of it; stored in ``seen.window``."""
    from loopml.monitoring.windows import monitor_windows

    deadline = time.monotonic() + LOG_TIMEOUT_S
    summary: dict[str, Any] = {}
    while True:
        report = monitor_windows(
            client,
            seen.version,
            window_ms=WINDOW_MS,
            since_ms=seen.started_ms,
            until_ms=seen.ended_ms + 1,
        )
        summary = _summary(report.windows, report.notes)
        labelled = summary.get("labelled") or 0
        if summary["rows"] >= seen.rows and labelled >= seen.rows:
            break
        if time.monotonic() > deadline:
            summary["notes"].append(
                f"the log held {summary['rows']} of {seen.rows} rows and {labelled} labels "
                f"after {LOG_TIMEOUT_S:g} s"
            )
            break
        time.sleep(0.5)
    seen.window = summary
    return summary


def _summary(windows: list[Any], notes: list[str]) -> dict[str, Any]:
    """The phase's window(s) of one version, in the loop's signal names."""
    rows = sum(w.rows for w in windows)
    found: dict[str, Any] = {"rows": rows, "notes": list(notes)}
    if not windows:
        return found
    newest = windows[-1].to_dict()
    found["window_start"], found["window_end"] = newest["start"], newest["end"]
    drift = newest.get("drift") or {}
    found["drift_share"] = drift.get("share")
    found["drifted_features"] = drift.get("drifted_features")
    performance = newest.get("performance") or {}
    found["accuracy"] = performance.get("accuracy")
    found["labelled"] = performance.get("labelled")
    estimated = newest.get("estimated_performance") or {}
    found["estimated_accuracy"] = estimated.get("accuracy", estimated.get("estimated_accuracy"))
    return found
