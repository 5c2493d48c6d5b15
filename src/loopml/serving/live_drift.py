"""Live drift on the model server: a rolling window of the main traffic's inputs and
predictions, compared with the served version's reference on a cadence, off the request path,
and published as Prometheus gauges (``loopml_serving_drift_*``).

A request only appends its rows to the window (:meth:`LiveDrift.observe`). A thread wakes
every ``interval_seconds``: for a version it has not seen it resolves the reference — the
dataset version the version was trained on (lineage), or ``--drift-reference`` — samples it
once and scores the sample with the version (for prediction drift); then it compares the
window with it (:func:`loopml.monitoring.live_drift.live_drift`) and sets the gauges. Without
a reference (a model registered without lineage, a bundle without a store, a model that takes
an array rather than named columns) no drift gauge has a value: ``/health``'s ``drift`` says
why, and the log says it (a reference not found is looked for again every 5 minutes:
the store may have been away).

With ``--workers N`` each worker keeps its own window over its share of the traffic; the
gauges show the most recently computed worker's values (the window's rows are summed).

On the same cadence, a classifier's live scores give its estimated performance
(``serving/live_estimates.py``: ``loopml_serving_estimated_accuracy`` and ``_roc_auc``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.errors import LoopMLError
from loopml.monitoring.live_drift import LiveReference, LiveWindow
from loopml.serving.holder import ServedModel
from loopml.serving.live_estimates import LiveEstimates
from loopml.serving.metrics import DriftMetrics
from loopml.serving.rows import Rows, model_input
from loopml.serving.sources import BundleSource, ModelSource, RegistrySource

if TYPE_CHECKING:
    from loopml.monitoring.drift import DriftReport
    from loopml.monitoring.references import TableSource

__all__ = ["DriftSettings", "LiveDrift"]

log = logging.getLogger("loopml.serving")
RETRY_SECONDS = 300.0  # a reference that could not be found is looked for again after this


@dataclass(frozen=True)
class DriftSettings:
    """``window_rows`` live rows compared every ``interval_seconds`` with ``reference`` (a
    table file, ``NAME@VERSION``; None: each served version's training data), sampled to at
    most ``reference_rows``."""

    window_rows: int = 5_000
    interval_seconds: float = 30.0
    reference: str | None = None
    reference_rows: int = 50_000


class LiveDrift:
    """The window, the references by version, and the thread that scores them."""

    def __init__(
        self,
        source: ModelSource,
        metrics: DriftMetrics,
        settings: DriftSettings,
        *,
        client: Callable[[], Any] | None = None,
    ) -> None:
        self.source = source
        self.metrics = metrics
        self.settings = settings
        self.window = LiveWindow(settings.window_rows)
        self._client = client
        self._models: dict[str, ServedModel] = {}
        self._references: dict[str, LiveReference | str] = {}  # a reason when there is none
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: tuple[str, float] | None = None  # version, when computed
        self._problem: str | None = None
        self._failed_at = 0.0
        self.estimates = LiveEstimates(settings.window_rows, self._monitor_folder)

    def observe(self, model: ServedModel, rows: Rows, predictions: Any, scores: Any = None) -> None:
        """One request's rows (the request path: an append)."""
        if scores is not None:
            self.estimates.observe(model.label, model.loaded.digest, scores)
        if not rows.is_table:
            if model.label not in self._references:
                self._references[model.label] = (
                    f"{model.label} takes an array, not named columns: live drift compares "
                    "columns with its training data's"
                )
            return
        self._models[model.label] = model
        self.window.add(model.label, rows.data, predictions)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="loopml-live-drift", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def health(self) -> dict[str, object]:
        """What ``/health`` says: on (with the reference and the window) or off, and why."""
        version = self.window.version or next(iter(self._references), None)
        found = self._references.get(version) if version else None
        if isinstance(found, str):
            return {"status": "off", "reason": found}
        if found is None:
            return {"status": "waiting", "reason": "no request scored yet"}
        answer: dict[str, object] = {
            "status": "on",
            "reference": found.label,
            "window_rows": self.window.rows,
        }
        if self._last is not None and self._last[0] == version:
            answer["computed_at"] = round(self._last[1], 3)
        if self._problem:
            answer["problem"] = self._problem
        return answer

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.interval_seconds):
            try:
                self.compute_estimates()
            except Exception as exc:  # the drift gauges still count
                log.warning("estimated performance not computed: %s", exc)
            try:
                self.compute()
                self._problem = None
            except Exception as exc:  # never stop watching: say so, try again next time
                self._problem = str(getattr(exc, "message", exc))
                log.warning("live drift not computed: %s", self._problem)

    def compute(self) -> DriftReport | None:
        """Compare the window with its version's reference now and set the gauges (None:
        nothing to compare yet, or no reference)."""
        version, inputs, predictions = self.window.snapshot()
        if version is None or inputs is None:
            return None
        reference = self._reference(version)
        if reference is None:
            return None
        from loopml.monitoring.live_drift import live_drift

        report = live_drift(reference, inputs, predictions)
        now = time.time()
        self.metrics.publish(version, report, rows=inputs.num_rows, at=now)
        self._last = (version, now)
        return report

    def compute_estimates(self) -> bool:
        """Estimate the live scores' performance with the version's kept calibration and set
        the gauges; False when there is nothing to estimate with yet."""
        found = self.estimates.estimate()
        if found is None:
            return False
        version, estimate, rows = found
        self.metrics.publish_estimates(version, estimate, rows=rows)
        return True

    def _monitor_folder(self) -> Any:
        """The project's monitoring cache, where ``loopml monitor report`` keeps calibrations
        (None: no store to find it from)."""
        if self._client is None:
            return None
        from loopml.monitoring.part_summaries import SummaryCache

        client = self._client()
        try:
            return SummaryCache.for_client(client).folder
        finally:
            client.close()

    def _reference(self, version: str) -> LiveReference | None:
        found = self._references.get(version)
        retry = isinstance(found, str) and time.monotonic() - self._failed_at > RETRY_SECONDS
        if found is None or retry:
            try:
                found = self._load_reference(version)
            except LoopMLError as exc:
                found = exc.message
            except (OSError, ValueError) as exc:
                found = f"{type(exc).__name__}: {exc}"
            if isinstance(found, str):
                self._failed_at = time.monotonic()  # tried again later: a store may be back
                log.warning("live drift of %s is off: %s", version, found)
            else:
                log.info("live drift of %s: against %s", version, found.label)
            self.metrics.forget()  # the previous version's series
            self._references = {version: found}
        return found if isinstance(found, LiveReference) else None

    def _load_reference(self, version: str) -> LiveReference:
        model = self._models[version]
        from loopml.monitoring.references import resolve_table

        named = self._reference_name(model)
        opened: list[Any] = []

        def client() -> Any:  # opened only when the reference needs a store
            if self._client is None:
                raise LoopMLError("no store to find the reference in (a table file needs none)")
            if not opened:
                opened.append(self._client())
            return opened[0]

        try:  # the dataset's files are read while the client is open
            return self._sampled(model, resolve_table(named, role="reference", client=client))
        finally:
            for each in opened:
                each.close()

    def _sampled(self, model: ServedModel, source: TableSource) -> LiveReference:
        from loopml.monitoring.live_drift import sample_reference

        features = tuple(model.spec.column_names) or tuple(source.columns)
        table, present = sample_reference(source, features, max_rows=self.settings.reference_rows)
        predictions = None
        try:
            import numpy as np

            inputs = model_input(Rows(table), model.loaded.signature)
            scored = np.asarray(model.loaded.predictor.predict(inputs))
            predictions = scored if scored.ndim == 1 and len(scored) == table.num_rows else None
        except Exception as exc:  # the features alone still say a lot
            log.info("live prediction drift of %s is off: %s", model.label, exc)
        return LiveReference(source.label, table, present, source.profile, predictions)

    def _reference_name(self, model: ServedModel) -> str:
        """--drift-reference, else the version's training data (registry lineage, or the
        one dataset version its bundle names)."""
        if self.settings.reference is not None:
            return self.settings.reference
        if isinstance(self.source, RegistrySource):
            return f"models:/{model.name}/{model.version}"
        if isinstance(self.source, BundleSource):
            datasets = list(self.source.manifest.get("datasets") or [])
            if len(datasets) == 1:
                return str(datasets[0])
            raise LoopMLError(
                f"the bundle of {model.label} names {len(datasets)} training dataset "
                "versions; name the reference with --drift-reference"
            )
        raise LoopMLError(f"no reference known for {model.label}: give --drift-reference")
