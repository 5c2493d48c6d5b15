"""Predictions and, for a classifier with class probabilities, their scores, from one model
call: what the prediction log keeps for performance estimated before labels arrive (CBPE).

A score is the positive class's probability for a binary classifier (the second of its
``classes_``: 1, ``True``, or the later label), and the row of per-class probabilities (in
``classes_`` order) for a multiclass one. It is computed only where it costs no second
model call:

- an ONNX classifier converted by loopml has the probabilities as its second output, beside
  the labels: one session run gives both;
- a native scikit-learn classifier whose ``predict`` is the most probable class (forests,
  trees, boosting, linear models, naive Bayes, neighbours, MLP...) is called once, with
  ``predict_proba``, and the label is ``classes_[argmax]`` — exactly what its ``predict``
  would return. A classifier whose ``predict`` is not that (SVC with Platt scaling, a tuned
  decision threshold, a stacked final estimator) or that is unknown keeps its ``predict``
  alone and logs no score: calling it twice would slow every request.

>>> from sklearn.linear_model import LogisticRegression
>>> scorer = Scorer.for_predictor(LogisticRegression().fit([[0], [1]], [0, 1]), "native")
>>> labels, scores = scorer.predict([[0.0], [1.0]])
>>> labels.tolist(), scores.round(2).tolist()
([0, 1], [0.44, 0.56])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["ARGMAX_CLASSIFIERS", "Scorer"]

ARGMAX_CLASSIFIERS = frozenset(
    {
        "AdaBoostClassifier",
        "BaggingClassifier",
        "BernoulliNB",
        "CalibratedClassifierCV",
        "CategoricalNB",
        "ComplementNB",
        "DecisionTreeClassifier",
        "ExtraTreeClassifier",
        "ExtraTreesClassifier",
        "GaussianNB",
        "GradientBoostingClassifier",
        "HistGradientBoostingClassifier",
        "KNeighborsClassifier",
        "LinearDiscriminantAnalysis",
        "LogisticRegression",
        "LogisticRegressionCV",
        "MLPClassifier",
        "MultinomialNB",
        "QuadraticDiscriminantAnalysis",
        "RandomForestClassifier",
    }
)
"""scikit-learn classifiers whose ``predict`` is ``classes_[argmax(predict_proba)]``."""

Predict = Callable[[Any], tuple[Any, Any]]


@dataclass(frozen=True)
class Scorer:
    """How one loaded model predicts: ``predict(inputs)`` → ``(labels, scores or None)``."""

    predict: Predict
    scores: bool  # whether predict gives scores

    @classmethod
    def for_predictor(cls, predictor: Any, variant: str) -> Scorer:
        """The cheapest way to get labels (and scores, when free) from ``predictor``."""
        run_scored = getattr(predictor, "predict_scored", None)
        if variant == "onnx" and callable(run_scored) and predictor.has_probabilities:
            return cls(lambda inputs: _scored(*run_scored(inputs)), True)
        if _predicts_most_probable(predictor):
            return cls(lambda inputs: _from_probabilities(predictor, inputs), True)
        return cls(lambda inputs: (predictor.predict(inputs), None), False)


def _predicts_most_probable(model: Any) -> bool:
    final = model
    while type(final).__name__ == "Pipeline" and getattr(final, "steps", None):
        final = final.steps[-1][1]
    kind = type(final)
    return (
        kind.__module__.startswith("sklearn.")
        and kind.__name__ in ARGMAX_CLASSIFIERS
        and hasattr(model, "predict_proba")
        and getattr(model, "classes_", None) is not None
    )


def _from_probabilities(model: Any, inputs: Any) -> tuple[Any, Any]:
    import numpy as np

    probabilities = np.asarray(model.predict_proba(inputs), dtype=np.float64)
    labels = np.asarray(model.classes_).take(np.argmax(probabilities, axis=1))
    return labels, _score_of(probabilities)


def _scored(labels: Any, probabilities: Any) -> tuple[Any, Any]:
    import numpy as np

    return labels, _score_of(np.asarray(probabilities, dtype=np.float64))


def _score_of(probabilities: Any) -> Any:
    """The positive class's column of a binary model; every column of a multiclass one."""
    if probabilities.ndim == 2 and probabilities.shape[1] == 2:
        return probabilities[:, 1]
    return probabilities
