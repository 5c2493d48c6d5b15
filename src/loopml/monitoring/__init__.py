"""Monitoring: what runs in production and how it behaves.

Deployments (``deployments.py``: each model server's record, its heartbeat, gone when it
lapses; ``prediction_ids.py``: ids that lead back to their deployment and version) and drift:
is the data a model sees still like the data it was trained on?
``loopml.monitoring.drift.compare(reference, current)`` tests every column (statistics in
``statistics.py``, by SciPy), ``references.py`` finds the tables (a file, a dataset version,
or a model version's training data), ``drift_html.py`` renders an offline report. The CLI is
``loopml monitor drift`` and ``loopml deployments``. Decay: ``concept_drift.py`` runs River's
detectors (ADWIN, Page–Hinkley, DDM) on a model's error stream as labels arrive, and
``cbpe.py`` estimates a classifier's performance before they do. A capability layer below the
servers and above the models.

>>> from loopml.monitoring.drift import compare  # doctest: +SKIP
>>> from loopml.monitoring.references import open_table  # doctest: +SKIP
>>> compare(open_table("train.csv"), open_table("today.csv")).drifted  # doctest: +SKIP
False
"""
