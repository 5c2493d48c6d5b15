"""A loop decision's evidence in a few words, as ``loopml loop log`` and the dashboard show it
(pure: no I/O)."""

from __future__ import annotations

from loopml.core.loop_records import Decision

__all__ = ["summarise_evidence"]


def summarise_evidence(decision: Decision) -> str:
    """The numbers that mattered, short: ``drift_share 0.42 >= 0.3 (1000 samples)``."""
    evidence = decision.evidence
    name = evidence.get("signal") or evidence.get("metric")
    value = evidence.get("value")
    if isinstance(name, str) and isinstance(value, int | float):
        text = f"{name} {value:g}"
        for key, sign in (("threshold", ">="), ("below", "<"), ("above", ">"), ("drop", "dropped")):
            bound = evidence.get(key)
            if isinstance(bound, int | float):
                text += f" {sign} {bound:g}"
        if isinstance(evidence.get("previous_value"), int | float):
            text += f" vs {evidence['previous_value']:g} before"
        if isinstance(evidence.get("samples"), int):
            text += f" ({evidence['samples']} samples)"
        return text
    if "newest_version" in evidence:
        return f"{evidence.get('dataset')}@{evidence['newest_version']} is new"
    numbers = [f"{k}={v:g}" for k, v in evidence.items() if isinstance(v, int | float)]
    return ", ".join(numbers[:3])
