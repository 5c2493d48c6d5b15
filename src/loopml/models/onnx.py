"""ONNX: models stored as ``.onnx`` and run with ONNX Runtime, and the checked conversion of
scikit-learn models at registration (``register(..., onnx=True)``).

The conversion is accepted only when the converted model predicts the same labels as the
original on the whole input example (and, for classifiers with probabilities, within
``PROBABILITY_TOLERANCE``); otherwise registration fails and nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loopml.core.errors import BackendUnavailableError, InvalidInputError

__all__ = ["OnnxModel", "convert_checked"]

PROBABILITY_TOLERANCE = 1e-4
FILE = "model.onnx"


def _runtime() -> Any:
    try:
        import onnxruntime  # type: ignore[import-untyped]
    except ImportError as exc:
        raise BackendUnavailableError(
            "ONNX models run with ONNX Runtime, which is not installed: pip install 'loopml[onnx]'."
        ) from exc
    return onnxruntime


class OnnxModel:
    """An ONNX model in an ONNX Runtime session: ``predict`` gives the first output (labels
    for converted classifiers), ``predict_proba`` the probabilities when there are any."""

    def __init__(self, path: Path) -> None:
        runtime = _runtime()
        options = runtime.SessionOptions()
        options.intra_op_num_threads = 1  # single rows are latency-bound; workers scale out
        self.session = runtime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [output.name for output in self.session.get_outputs()]

    def _run(self, inputs: Any) -> list[Any]:
        import numpy as np

        array = np.ascontiguousarray(np.asarray(inputs, dtype=np.float32))
        return list(self.session.run(None, {self.input_name: array}))

    @property
    def has_probabilities(self) -> bool:
        """Whether the model has a second output, the class probabilities (a classifier)."""
        return len(self.output_names) >= 2

    def predict(self, inputs: Any) -> Any:
        return self._run(inputs)[0]

    def predict_proba(self, inputs: Any) -> Any:
        return self.predict_scored(inputs)[1]

    def predict_scored(self, inputs: Any) -> tuple[Any, Any]:
        """The labels and the class probabilities, from one run of the session."""
        import numpy as np

        outputs = self._run(inputs)
        if len(outputs) < 2:
            raise InvalidInputError("This ONNX model has no probability output.")
        probabilities = outputs[1]
        if isinstance(probabilities, list):  # a list of {class: probability} maps
            probabilities = np.array([[row[k] for k in sorted(row)] for row in probabilities])
        return outputs[0], probabilities


def convert_checked(model: Any, example: Any, folder: Path) -> dict[str, Any]:
    """Convert a scikit-learn ``model`` to ``folder/model.onnx`` and check it against the
    original on ``example``; InvalidInputError when it cannot be converted or predicts
    differently. Returns what the manifest records: the file, the check, and a classifier's
    class labels (the order of its probability columns)."""
    import numpy as np

    try:
        from skl2onnx import to_onnx  # type: ignore[import-untyped]
    except ImportError as exc:
        raise BackendUnavailableError(
            "Converting to ONNX needs skl2onnx: pip install 'loopml[onnx]'."
        ) from exc
    if example is None:
        raise InvalidInputError(
            "ONNX conversion needs an input example (it fixes the input type and checks the "
            "converted model's predictions)."
        )
    rows = np.asarray(example, dtype=np.float32)
    if rows.ndim != 2:
        raise InvalidInputError(
            "ONNX conversion takes a 2-D numeric input example (rows × features); got shape "
            f"{rows.shape}."
        )
    try:
        converted = to_onnx(model, rows, options={"zipmap": False}, target_opset=None)
    except Exception as exc:
        raise InvalidInputError(
            f"The model cannot be converted to ONNX: {type(exc).__name__}: {exc}."
        ) from exc
    path = folder / FILE
    path.write_bytes(converted.SerializeToString())
    onnx_model = OnnxModel(path)
    # the original is asked as it is asked everywhere else: with the example as given (a
    # model fitted on named columns warns when it is handed a bare array)
    expected = np.asarray(model.predict(example))
    got = np.asarray(onnx_model.predict(rows)).reshape(expected.shape)
    if np.issubdtype(expected.dtype, np.floating):
        mismatches = int(np.sum(~np.isclose(got, expected, rtol=1e-4, atol=1e-5)))
    else:
        mismatches = int(np.sum(got != expected))
    difference = None
    if hasattr(model, "predict_proba"):
        original = np.asarray(model.predict_proba(example))
        difference = float(np.max(np.abs(onnx_model.predict_proba(rows) - original)))
    if mismatches or (difference is not None and difference > PROBABILITY_TOLERANCE):
        raise InvalidInputError(
            f"The ONNX conversion predicts differently on the input example: {mismatches} of "
            f"{len(rows)} predictions differ, probabilities by up to {difference}. Not "
            "registered; register without --onnx."
        )
    details: dict[str, Any] = {
        "file": FILE,
        "checked_rows": len(rows),
        "max_probability_diff": difference,
    }
    classes = getattr(model, "classes_", None)
    if classes is not None:  # the probability columns' labels, so scoring needs no onnx parse
        details["classes"] = [c.item() if hasattr(c, "item") else c for c in classes]
    return details
