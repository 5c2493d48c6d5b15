"""Live monitoring: a model's prediction log cut into windows of time, each summarised.

Per window and model version: traffic (requests, rows), latency percentiles per request,
error rate, feature drift against the version's reference (the profile of the dataset version
it was trained on) and prediction drift (``monitoring.drift.compare`` on a uniform sample of
the window's rows), and, for the predictions whose labels arrived, realised performance.

Parts are summarised once and the summaries merged (``part_summaries``), labels joined once
per pair of parts (``label_joins``), so a report reads only the parts it has not seen.

>>> report = monitor_windows(client, "cancer@champion", window_ms=3_600_000)  # doctest: +SKIP
>>> report.windows[0].to_dict()["latency_ms"]["p95"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from loopml.core.errors import InvalidInputError
from loopml.core.ids import now_ms
from loopml.core.refs import parse_model_ref
from loopml.monitoring.label_joins import JoinsOnRead
from loopml.monitoring.latency_sketch import LatencySketch
from loopml.monitoring.log_parts import LogPart, log_parts
from loopml.monitoring.log_records import ERRORS, FEEDBACK, PREDICTIONS
from loopml.monitoring.part_summaries import (
    BUCKET_MS,
    GroupSummary,
    PartRead,
    PartSummary,
    SummaryCache,
    summarise_part,
)
from loopml.monitoring.window_checks import WindowChecks, check_windows
from loopml.tracking.client import Client

__all__ = ["LogSelection", "Window", "WindowsReport", "monitor_windows", "select_log"]

Progress = Callable[[int, int], None]  # (done, total) parts
SUMMARY_THREADS = 4  # parts summarised at once when a report reads parts it has not seen


@dataclass(frozen=True)
class LogSelection:
    """Which logged predictions a report covers: ``NAME@ALIAS``, the main traffic of every
    deployment that follows the alias (``run_ids``: their log runs); ``NAME@N``, every
    prediction of version N (any server, any traffic)."""

    ref: str
    model: str
    run_ids: frozenset[str] | None
    version: str | None  # "cancer@3"
    traffic: str | None

    def wants(self, group: GroupSummary) -> bool:
        if self.version is not None and group.model_version != self.version:
            return False
        return self.traffic is None or group.traffic == self.traffic


@dataclass
class Window:
    """One window of one version: what was served, how fast, how many failed; ``checks``
    holds drift and performance (``WindowChecks``)."""

    start_ms: int
    end_ms: int
    model_version: str
    rows: int = 0
    requests: int = 0
    errors: int = 0
    server_errors: int = 0
    latency: LatencySketch = field(default_factory=LatencySketch)
    checks: WindowChecks = field(default_factory=WindowChecks)

    @property
    def error_rate(self) -> float | None:
        attempts = self.requests + self.errors
        return self.errors / attempts if attempts else None

    def to_dict(self) -> dict[str, Any]:
        from loopml.core.ids import format_ms

        quantiles = {f"p{round(q * 100)}": self.latency.quantile(q) for q in (0.5, 0.95, 0.99)}
        return {
            "start": format_ms(self.start_ms),
            "end": format_ms(self.end_ms),
            "model_version": self.model_version,
            "requests": self.requests,
            "rows": self.rows,
            "errors": self.errors,
            "server_errors": self.server_errors,
            "error_rate": self.error_rate,
            "latency_ms": quantiles,
            **self.checks.to_dict(),
            "signals": self.signals(),
        }

    def signals(self) -> dict[str, float | None]:
        """The window as alert rules and the retraining policy see it (``loop.signals``)."""
        from loopml.monitoring.window_signals import window_signals

        return window_signals(self)


@dataclass
class WindowsReport:
    selection: LogSelection
    window_ms: int
    since_ms: int
    until_ms: int
    windows: list[Window]
    parts_read: int  # parts summarised now (not found in the cache)
    parts: int
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from loopml.core.ids import format_ms

        return {
            "model": self.selection.ref,
            "window_seconds": self.window_ms / 1000,
            "since": format_ms(self.since_ms),
            "until": format_ms(self.until_ms),
            "parts": self.parts,
            "parts_summarised_now": self.parts_read,
            "windows": [window.to_dict() for window in self.windows],
            "notes": self.notes,
        }


def select_log(client: Client, ref: str) -> LogSelection:
    """The selection ``ref`` names (``NAME@ALIAS`` or ``NAME@N``)."""
    parsed = parse_model_ref(ref)
    if parsed.version is not None:
        return LogSelection(ref, parsed.model, None, f"{parsed.model}@{parsed.version}", None)
    if parsed.alias is None:
        raise InvalidInputError(
            f"{ref!r}: name the alias the servers follow or a version, e.g. "
            f"{parsed.model}@champion or {parsed.model}@3."
        )
    runs: set[str] = set()
    token: str | None = None
    while True:
        page = client.loop.list_deployments(model=parsed.model, page_token=token)
        runs.update(d.run_id for d in page.items if d.alias == parsed.alias and d.run_id)
        token = page.next_page_token
        if not token:
            break
    return LogSelection(ref, parsed.model, frozenset(runs), None, "main")


def monitor_windows(
    client: Client,
    ref: str,
    *,
    window_ms: int,
    since_ms: int | None = None,
    until_ms: int | None = None,
    progress: Progress | None = None,
) -> WindowsReport:
    """The windows of ``window_ms`` (a whole number of minutes) over ``[since_ms,
    until_ms)`` (default: the last 24 windows up to now), aligned to multiples of the window
    since the epoch, of the predictions ``ref`` selects."""
    if window_ms < BUCKET_MS or window_ms % BUCKET_MS:
        raise InvalidInputError(
            f"A window of {window_ms / 1000:g} s: windows are whole minutes (1m, 15m, 1h, 1d)."
        )
    until_ms = until_ms if until_ms is not None else now_ms()
    until_ms = -(-until_ms // window_ms) * window_ms
    since_ms = since_ms if since_ms is not None else until_ms - 24 * window_ms
    since_ms = since_ms // window_ms * window_ms
    if since_ms >= until_ms:
        raise InvalidInputError("--since must be before --until.")
    selection = select_log(client, ref)
    cache = SummaryCache.for_client(client)
    found = {
        kind: log_parts(
            client,
            selection.model,
            kind,
            run_ids=None if kind == FEEDBACK else selection.run_ids,
            since_ms=None if kind == FEEDBACK else since_ms,
            until_ms=None if kind == FEEDBACK else until_ms,
        )
        for kind in (PREDICTIONS, ERRORS, FEEDBACK)
    }
    every = [part for parts in found.values() for part in parts]
    summaries, read = _summarise(client, found[FEEDBACK], cache, None)
    feedback = [(part, summaries[part]) for part in found[FEEDBACK]]
    joins = JoinsOnRead(client, feedback, cache, (since_ms, until_ms)) if feedback else None
    rest, read_now = _summarise(
        client, [*found[PREDICTIONS], *found[ERRORS]], cache, progress, joins, len(every)
    )
    summaries.update(rest)
    read += read_now
    windows = _merge(selection, summaries, found, window_ms, since_ms, until_ms)
    notes = check_windows(
        client, selection, windows, [(p, summaries[p]) for p in found[PREDICTIONS]],
        [(p, summaries[p]) for p in found[FEEDBACK]], cache,
    )  # fmt: skip
    if selection.run_ids is not None and not selection.run_ids:
        notes.insert(0, f"No deployment follows {ref} (loopml deployments list).")
    return WindowsReport(selection, window_ms, since_ms, until_ms, windows, read, len(every), notes)


def _summarise(
    client: Client,
    parts: list[LogPart],
    cache: SummaryCache,
    progress: Progress | None,
    on_read: PartRead | None = None,
    total: int | None = None,
) -> tuple[dict[LogPart, PartSummary], int]:
    """Every part's summary: cached ones loaded, the others read and summarised side by side
    (reading Parquet, sorting and writing the samples release the GIL), each digest once;
    ``progress`` counts up to ``total`` (default: these parts)."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    summaries: dict[LogPart, PartSummary] = {}
    missing: dict[str, list[LogPart]] = {}
    for part in parts:
        cached = cache.load(part)
        if cached is None:
            missing.setdefault(part.digest, []).append(part)
        else:
            summaries[part] = cached
    total = len(parts) if total is None else total
    done = total - len(parts) + len(summaries)
    if progress is not None and done:
        progress(done, total)
    if missing:
        workers = min(len(missing), SUMMARY_THREADS)
        with ThreadPoolExecutor(workers, thread_name_prefix="loopml-summary") as pool:
            futures = {
                pool.submit(summarise_part, client, same[0], cache, on_read=on_read): same
                for same in missing.values()
            }
            for future in as_completed(futures):
                for part in futures[future]:
                    summaries[part] = future.result()
                done += len(futures[future])
                if progress is not None:
                    progress(done, total)
    read = sum(len(same) for same in missing.values())
    return summaries, read


def _merge(
    selection: LogSelection,
    summaries: dict[LogPart, PartSummary],
    found: dict[str, list[LogPart]],
    window_ms: int,
    since_ms: int,
    until_ms: int,
) -> list[Window]:
    windows: dict[tuple[int, str], Window] = {}
    for kind in (PREDICTIONS, ERRORS):
        for part in found[kind]:
            for group in summaries[part].groups:
                if not (since_ms <= group.bucket_ms < until_ms) or not selection.wants(group):
                    continue
                start = group.bucket_ms // window_ms * window_ms
                key = (start, group.model_version)
                window = windows.get(key)
                if window is None:
                    window = windows[key] = Window(start, start + window_ms, group.model_version)
                window.rows += group.rows
                window.requests += group.requests
                window.errors += group.errors
                window.server_errors += group.server_errors
                window.latency.merge(group.latency)
    return [windows[key] for key in sorted(windows)]
