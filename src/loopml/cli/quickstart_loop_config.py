"""What ``loopml quickstart --loop`` adds to the quickstart project's ``loopml.yaml``: the
``retraining`` pipeline (the training that registers its winner), a ``retraining:`` policy
for ``breast-cancer@champion`` and two alert rules, all with windows of one minute so the
demo runs in a few minutes (a real deployment watches hours). Entries already in the file,
the user's own included, are kept; the policy is read back through ``load_loop_policy`` and
the rules through ``read_alert_rules``, so a mistake here is an error naming file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "DRIFT_SHARE",
    "LOOP_PIPELINE",
    "MIN_ACCURACY",
    "WINDOW",
    "WINDOW_MS",
    "loop_sections",
    "write_loop_config",
]

LOOP_PIPELINE = "retraining"
LOOP_PIPELINE_REF = "quickstart_pipeline:retraining"
WINDOW = "1m"
WINDOW_MS = 60_000
DRIFT_SHARE = 0.25  # of the 30 features; the new scanner moves 9 of them (0.3)
MIN_ACCURACY = 0.85  # the champion makes about 0.8 under the new protocol


def loop_sections(model: str, alias: str, dataset: str) -> dict[str, Any]:
    """The sections written (``pipelines`` entry, ``retraining``, ``alerts``), as YAML data."""
    ref = f"{model}@{alias}"
    return {
        "pipelines": {
            LOOP_PIPELINE: {
                "ref": LOOP_PIPELINE_REF,
                "params": {"data": f"{dataset}@latest", "n_trials": 5, "model": model},
            }
        },
        "retraining": [
            {
                "model": ref,
                "pipeline": LOOP_PIPELINE,
                "dataset": dataset,
                "data_param": "data",
                "triggers": {
                    "drift": {"drift_share": DRIFT_SHARE, "window": WINDOW, "min_samples": 100},
                    "decay": {
                        "metric": "accuracy",
                        "below": MIN_ACCURACY,
                        "window": WINDOW,
                        "min_labels": 100,
                    },
                },
                "gate": "gates.yaml",
                "promotion": "auto",
                "rollback_guard": {
                    "metric": "accuracy",
                    "margin": 0.05,
                    "watch": "30m",
                    "min_samples": 50,
                },
                "cooldown": WINDOW,
            }
        ],
        "alerts": {
            f"{model}-drift": {
                "model": ref,
                "signal": "drift_share",
                "condition": f">= {DRIFT_SHARE}",
                "window": WINDOW,
                "severity": "warning",
                "actions": ["log"],
            },
            f"{model}-accuracy": {
                "model": ref,
                "signal": "accuracy",
                "condition": f"< {MIN_ACCURACY}",
                "window": WINDOW,
                "severity": "critical",
                "actions": ["log"],
            },
        },
    }


def write_loop_config(folder: Path, *, model: str, alias: str, dataset: str) -> Path:
    """Merge the loop's sections into ``folder/loopml.yaml`` (what is there stays: a named
    pipeline, a policy entry for the same model or an alert of the same name is not
    replaced), then read the policy and the rules back to check them. Returns the file."""
    import yaml  # here: every loopml command imports the cli package

    from loopml.loop.alert_rules import read_alert_rules
    from loopml.loop.policy import load_loop_policy

    path = folder / "loopml.yaml"
    document: dict[str, Any] = {}
    if path.is_file():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        document = loaded if isinstance(loaded, dict) else {}
    sections = loop_sections(model, alias, dataset)
    for key in ("pipelines", "alerts"):
        present = document.get(key)
        merged = present if isinstance(present, dict) else {}
        for name, entry in sections[key].items():
            merged.setdefault(name, entry)
        document[key] = merged
    policies = document.get("retraining")
    policies = policies if isinstance(policies, list) else []
    ref = f"{model}@{alias}"
    if not any(isinstance(p, dict) and p.get("model") == ref for p in policies):
        policies.extend(sections["retraining"])
    document["retraining"] = policies
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    load_loop_policy(folder)  # both raise InvalidInputError at file:line:column
    read_alert_rules(folder)
    return path
