"""Which version answers a request, and what happens to every prediction afterwards.

A server follows one reference (``cancer@champion``: the *main* traffic) and, optionally, a
second alias of the same model: ``--canary challenger:10%`` sends that share of requests to
it (answers say which version produced them), ``--shadow challenger`` has it score a copy of
every request in the background (its answers are logged, never returned). Both aliases are
followed and hot-swapped on their own. Every prediction is counted by version and traffic
and, when the log is on, logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

from loopml.core.errors import LoopMLError
from loopml.core.ids import now_ms
from loopml.monitoring.log_records import ErrorEntry, PredictionEntry
from loopml.monitoring.prediction_ids import mint_prefix
from loopml.monitoring.prediction_log import PredictionLog
from loopml.serving.holder import ModelHolder, ServedModel
from loopml.serving.live_drift import LiveDrift
from loopml.serving.metrics import ServingMetrics
from loopml.serving.rows import Rows
from loopml.serving.split import CANARY, MAIN, SHADOW, TrafficSplit

__all__ = ["Traffic"]

MAX_SHADOW_IN_FLIGHT = 256  # beyond this, copies are skipped (and counted), never queued
log = logging.getLogger("loopml.serving")


class Traffic:
    """Routes requests between the main holder and the split's, then counts, logs and
    shadows what was predicted."""

    def __init__(
        self,
        main: ModelHolder,
        *,
        metrics: ServingMetrics,
        split: TrafficSplit | None = None,
        second: ModelHolder | None = None,
        prediction_log: PredictionLog | None = None,
        deployment_id: str | None = None,
        drift: LiveDrift | None = None,
    ) -> None:
        self.main = main
        # named in every prediction id, so feedback finds the deployment (and model) again
        self.deployment_id = deployment_id
        self.second = second
        self.split = split
        self.metrics = metrics
        self.log = prediction_log
        self.drift = drift  # the main traffic's live window
        self._shadows: set[asyncio.Task[None]] = set()

    @property
    def holders(self) -> list[ModelHolder]:
        return [self.main] + ([self.second] if self.second is not None else [])

    def choose(self) -> tuple[ServedModel, str]:
        """The model for a request that names no version, and its traffic."""
        model = self.main.require()
        if self.split is not None and self.split.mode == CANARY:
            other = self.second.current if self.second is not None else None
            if other is not None and random.random() < self.split.share:
                return other, CANARY
        return model, MAIN

    def version(self, version: int) -> tuple[ServedModel, str] | None:
        """A request for one version: the main's, or the canary's."""
        model = self.main.require()
        if model.version == version:
            return model, MAIN
        other = self.second.current if self.second is not None else None
        if other is not None and other.version == version and self.split is not None:
            return other, CANARY if self.split.mode == CANARY else SHADOW
        return None

    async def predict(
        self, model: ServedModel, traffic: str, rows: Rows, request_id: str, started: float
    ) -> tuple[Any, str]:
        """The predictions and the id prefix of their prediction ids (``PREFIX-ROW``)."""
        predictions, scores = await model.predict_scored(rows)
        prefix = mint_prefix(
            model.name, rows.count, deployment=self.deployment_id, version=model.version
        )
        self._record(model, traffic, rows, (predictions, scores), prefix, request_id, started)
        if self.split is not None and self.split.mode == SHADOW and traffic == MAIN:
            self._shadow(model, rows, prefix, request_id)
        return predictions, prefix

    def _record(
        self,
        model: ServedModel,
        traffic: str,
        rows: Rows,
        scored: tuple[Any, Any],
        prefix: str,
        request_id: str,
        started: float,
    ) -> None:
        predictions, scores = scored
        self.metrics.predictions.labels(model.label, traffic).inc(rows.count)
        if self.drift is not None and traffic == MAIN and rows.count:
            self.drift.observe(model, rows, predictions, scores)
        if self.log is not None and rows.count:
            latency_ms = (time.perf_counter() - started) * 1000
            self.log.add(
                PredictionEntry(
                    prefix,
                    request_id,
                    now_ms(),
                    model.label,
                    traffic,
                    latency_ms,
                    rows,
                    predictions,
                    scores,
                )
            )

    def failed(
        self, model: ServedModel, traffic: str, request_id: str, started: float, exc: Exception
    ) -> None:
        """Log that ``model`` did not answer a request it was chosen for (a body that does not
        parse or fit, or the model raised), so monitoring sees the error rate."""
        if self.log is None:
            return
        self.log.add(
            ErrorEntry(
                request_id,
                now_ms(),
                model.label,
                traffic,
                (time.perf_counter() - started) * 1000,
                exc.http_status if isinstance(exc, LoopMLError) else 500,
                exc.code if isinstance(exc, LoopMLError) else LoopMLError.code,
            )
        )

    def _shadow(self, main: ServedModel, rows: Rows, prefix: str, request_id: str) -> None:
        shadow = self.second.current if self.second is not None else None
        if shadow is None or shadow.version == main.version or rows.count == 0:
            return
        if len(self._shadows) >= MAX_SHADOW_IN_FLIGHT:
            self.metrics.shadow_failures.labels(shadow.label, "overloaded").inc()
            return
        task = asyncio.get_running_loop().create_task(
            self._score_shadow(shadow, rows, prefix, request_id)
        )
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    async def _score_shadow(
        self, shadow: ServedModel, rows: Rows, prefix: str, request_id: str
    ) -> None:
        """The shadow's predictions for a copy of the rows, logged under the main answer's
        prediction ids (so both are compared row by row); a failure is counted, not raised."""
        started = time.perf_counter()
        try:
            scored = await shadow.predict_scored(rows)
        except Exception as exc:
            self.metrics.shadow_failures.labels(shadow.label, "error").inc()
            log.debug("shadow %s failed: %s", shadow.label, exc)
            return
        self._record(shadow, SHADOW, rows, scored, prefix, request_id, started)

    async def start(self) -> None:
        if self.log is not None:
            await asyncio.to_thread(self.log.start)
        if self.drift is not None:
            self.drift.start()

    async def close(self) -> None:
        """Finish the shadow copies in flight, then store the whole log."""
        if self._shadows:
            await asyncio.gather(*self._shadows, return_exceptions=True)
        if self.drift is not None:
            await asyncio.to_thread(self.drift.close)
        if self.log is not None:
            await asyncio.to_thread(self.log.close)
