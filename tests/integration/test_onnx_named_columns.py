"""A scikit-learn model fitted on named columns converts to ONNX without a warning: the
conversion's check asks the original model with the example as given (a DataFrame), not a bare
array it would warn about (pytest turns warnings into errors)."""

from __future__ import annotations

import numpy as np

import loopml.models
from loopml.tracking.client import Client


def test_a_model_fitted_on_a_dataframe_is_converted_and_checked_without_a_warning(
    client: Client,
) -> None:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    bunch = load_breast_cancer()
    frame = pd.DataFrame(bunch.data, columns=[n.replace(" ", "_") for n in bunch.feature_names])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(frame, bunch.target)

    version = loopml.models.register(
        "cancer", model, input_example=frame.head(20), onnx=True, client=client
    )

    assert version.tags["loopml.onnx"] == "true"
    assert version.signature is not None
    assert version.signature["inputs"]["kind"] == "columns"  # what live drift compares
    fast = loopml.models.load("cancer@1", variant="onnx", client=client)
    assert np.array_equal(fast.predict(frame.head(50)), model.predict(frame.head(50)))
