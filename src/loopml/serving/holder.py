"""The model being served, and the swap to a new version when its alias moves.

:class:`ModelHolder` loads the source's current version in the background (``/health`` is 503
until then), then asks the source every ``poll_seconds`` which version it names. A new version
is loaded beside the old one, in a thread; then ``current`` is switched in one assignment on
the event loop. A version that would run code the source does not trust (UntrustedCodeError)
is never swapped in: the old one keeps serving, the refusal is logged, counted
(``loopml_serving_model_refusals``) and listed in ``/health``, and the version (immutable) is
not tried again. A request keeps the :class:`ServedModel` it started with, so requests in flight
finish on the old version and none fails; the old batcher answers what it has queued and stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor
from typing import Any

from loopml.core.errors import LoopMLError, UntrustedCodeError
from loopml.monitoring.sensitive_columns import parse_sensitive
from loopml.serving.batching import MicroBatcher
from loopml.serving.errors import ModelNotReadyError, PredictionFailedError
from loopml.serving.metrics import ServingMetrics
from loopml.serving.options import ServeOptions
from loopml.serving.rows import Rows, combine, model_input, split
from loopml.serving.scoring import Scorer
from loopml.serving.signatures import InputSpec, input_spec
from loopml.serving.sources import LoadedModel, ModelSource

__all__ = ["ModelHolder", "ServedModel"]

log = logging.getLogger("loopml.serving")
_MAX_ERROR_TEXT = 300


class ServedModel:
    """A loaded version with its compiled input spec and its own micro-batcher."""

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        options: ServeOptions,
        executor: Executor,
        metrics: ServingMetrics,
    ) -> None:
        self.loaded = loaded
        self.spec: InputSpec = input_spec(loaded.signature, allow_missing=loaded.allow_missing)
        self.scorer = Scorer.for_predictor(loaded.predictor, loaded.variant)
        self.batcher = MicroBatcher(
            self._predict_batch,
            max_batch_rows=options.max_batch_size,
            max_wait=options.max_wait_ms / 1000,
            executor=executor,
            on_batch=metrics.observe_batch,
        )

    @property
    def label(self) -> str:
        return self.loaded.label

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def version(self) -> int:
        return self.loaded.version

    async def predict(self, rows: Rows) -> Any:
        """The predictions for ``rows`` (a numpy array, one entry per row)."""
        return (await self.predict_scored(rows))[0]

    async def predict_scored(self, rows: Rows) -> tuple[Any, Any]:
        """The predictions for ``rows`` and, for a classifier that gives them in the same
        call, their scores (``serving.scoring``; else None)."""
        if rows.count == 0:
            import numpy as np

            return np.empty((0,)), None
        found: tuple[Any, Any] = await self.batcher.submit(rows)
        return found

    def _predict_batch(self, parts: Sequence[Rows]) -> list[tuple[Any, Any]]:
        """One model call for several requests; runs in the worker thread."""
        import numpy as np

        rows = combine(parts)
        inputs = model_input(rows, self.loaded.signature)
        try:
            output, scores = self.scorer.predict(inputs)
        except LoopMLError:
            raise
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            if len(text) > _MAX_ERROR_TEXT:
                text = text[: _MAX_ERROR_TEXT - 3] + "..."
            raise PredictionFailedError(
                f"The model could not predict on this input ({text}); the input matches the "
                "signature, so check its values."
            ) from exc
        predictions = np.asarray(output)
        if predictions.ndim == 0 or predictions.shape[0] != rows.count:
            raise LoopMLError(
                f"{self.label} returned predictions of shape {list(predictions.shape)} for "
                f"{rows.count} rows; expected one per row."
            )
        counts = [part.count for part in parts]
        if scores is None or len(scores) != rows.count:
            return [(piece, None) for piece in split(predictions, counts)]
        return list(zip(split(predictions, counts), split(scores, counts), strict=True))

    def start(self) -> None:
        self.batcher.start()

    async def close(self) -> None:
        await self.batcher.close()


class ModelHolder:
    """Holds the current :class:`ServedModel` of a source and keeps it up to date;
    ``on_ready`` is told when the first version is loaded (the server is ready)."""

    def __init__(
        self,
        source: ModelSource,
        *,
        options: ServeOptions,
        executor: Executor,
        metrics: ServingMetrics,
        on_ready: Callable[[ServedModel], None] | None = None,
        on_serve: Callable[[ServedModel], Awaitable[None]] | None = None,
    ) -> None:
        self.source = source
        # told about every version swapped in (the first load too): the deployment record
        self.on_serve = on_serve
        self.options = options
        self.executor = executor
        self.metrics = metrics
        self.on_ready = on_ready  # told once, when the first version is loaded
        self.current: ServedModel | None = None
        self.problem: str | None = None  # why nothing (new) could be loaded, for messages
        self.refused: dict[str, str] = {}  # "NAME@N" → why it was not loaded (untrusted code)
        self._reported: str | None = None

    def require(self) -> ServedModel:
        """The model to answer with now; ModelNotReadyError (503) before the first load."""
        current = self.current
        if current is None:
            why = f": {self.problem}" if self.problem else ""
            raise ModelNotReadyError(
                f"{self.source.description} is not loaded yet{why}. Retry shortly; GET /health "
                "answers 200 once it is."
            )
        return current

    async def run(self) -> None:
        """Load, then follow the source until cancelled (a fixed source: until loaded)."""
        while True:
            await self.refresh()
            if self.current is not None and not self.source.polls:
                return
            await asyncio.sleep(self.options.poll_seconds)

    async def refresh(self) -> None:
        """Swap in the version the source names now, if it is not the one served."""
        try:
            version = await asyncio.to_thread(self.source.current_version)
        except Exception as exc:
            self._report(exc, "cannot find the version to serve")
            return
        if self.current is not None and self.current.version == version:
            return
        label = f"{self.source.name}@{version}"
        if label in self.refused:
            return
        try:
            loaded = await asyncio.to_thread(self.source.load, version)
            served = ServedModel(
                loaded, options=self.options, executor=self.executor, metrics=self.metrics
            )
        except UntrustedCodeError as exc:
            self.refused[label] = exc.message
            self.metrics.refusals.labels(label).inc()
            self._report(exc, f"refused version {version}")
            return
        except Exception as exc:
            self._report(exc, f"cannot load version {version}")
            return
        served.start()
        previous, self.current = self.current, served
        self.problem = self._reported = None
        self.metrics.loads.labels(served.label).inc()
        was = f" (was {previous.label})" if previous is not None else ""
        log.info("serving %s [%s]%s", served.label, served.loaded.variant, was)
        self._check_sensitive(served)
        if previous is not None:
            await previous.close()
        elif self.on_ready is not None:
            self.on_ready(served)
        if self.on_serve is not None:
            await self.on_serve(served)

    def _check_sensitive(self, served: ServedModel) -> None:
        """Warn about sensitive columns the version does not take: a misspelt name would
        otherwise leave the real column in the log without a word."""
        names = [column.name for column in parse_sensitive(self.options.sensitive)]
        unknown = [name for name in names if name not in served.spec.column_names]
        if unknown:
            log.warning(
                "%s takes no input column named %s: nothing of it to keep out of the "
                "prediction log; check the names given to --sensitive (its columns: %s)",
                served.label,
                ", ".join(repr(name) for name in unknown),
                ", ".join(served.spec.column_names) or "none, it takes an array",
            )

    def _report(self, exc: Exception, what: str) -> None:
        message = exc.message if isinstance(exc, LoopMLError) else f"{type(exc).__name__}: {exc}"
        self.problem = message
        if message != self._reported:  # once per problem, not once per poll
            self._reported = message
            serving = f"; still serving {self.current.label}" if self.current else ""
            log.warning("%s: %s: %s%s", self.source.description, what, message, serving)

    async def close(self) -> None:
        if self.current is not None:
            await self.current.close()
        await asyncio.to_thread(self.source.close)
