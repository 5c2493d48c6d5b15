"""What differs between two registered versions: metrics side by side, the runs' params,
the data they were trained on, signature, flavor and requirements.

>>> diff("churn@champion", "churn@challenger")["metrics"]["auc"]  # doctest: +SKIP
{'a': 0.91, 'b': 0.93, 'delta': 0.02}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loopml.core.entities import ModelVersion
from loopml.models.registry import resolve
from loopml.tracking.client import Client, client_scope

__all__ = ["diff"]


def diff(a: str, b: str, *, client: Client | None = None) -> dict[str, Any]:
    """The differences between versions ``a`` and ``b`` (any references), as plain data:
    ``metrics`` and ``params`` (every key of either, with both values and, for metrics, the
    delta b − a), ``datasets``/``requirements`` (added and removed), ``signature`` (changed
    or not, and the column/shape differences), ``flavor``."""
    with client_scope(client, create=False) as active:
        first, second = resolve(a, active), resolve(b, active)
        params = [_params(active, version) for version in (first, second)]
    return {
        "a": f"{first.model}@{first.version}",
        "b": f"{second.model}@{second.version}",
        "flavor": {"a": first.flavor, "b": second.flavor},
        "metrics": _side_by_side(first.metrics, second.metrics, delta=True),
        "params": _side_by_side(params[0], params[1], delta=False),
        "datasets": _added_removed(first.datasets, second.datasets),
        "requirements": _added_removed(first.requirements, second.requirements),
        "signature": signature_changes(first.signature, second.signature),
    }


def _params(client: Client, version: ModelVersion) -> dict[str, str]:
    if version.run_id is None:
        return {}
    return dict(client.get_run(version.run_id).params)


def _side_by_side(
    a: Mapping[str, Any], b: Mapping[str, Any], *, delta: bool
) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for key in sorted(set(a) | set(b)):
        row: dict[str, Any] = {"a": a.get(key), "b": b.get(key)}
        if delta and isinstance(row["a"], int | float) and isinstance(row["b"], int | float):
            row["delta"] = row["b"] - row["a"]
        rows[key] = row
    return rows


def _added_removed(a: tuple[str, ...], b: tuple[str, ...]) -> dict[str, list[str]]:
    return {"added": sorted(set(b) - set(a)), "removed": sorted(set(a) - set(b))}


def signature_changes(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> dict[str, Any]:
    """What changed from signature ``a`` to ``b``: ``{"changed": bool, "changes": [text]}``.
    Of the ``missing`` flags, only a loss counts: ``b`` refusing gaps ``a`` took breaks
    clients that send them; taking more than before breaks no one."""
    changes: list[str] = []
    for side in ("inputs", "outputs"):
        left = (a or {}).get(side)
        right = (b or {}).get(side)
        if left == right:
            continue
        if left and right and left.get("kind") == right.get("kind") == "columns":
            old = {c["name"]: c["type"] for c in left["columns"]}
            new = {c["name"]: c["type"] for c in right["columns"]}
            changes += [f"{side}: column {n!r} added ({new[n]})" for n in new if n not in old]
            changes += [f"{side}: column {n!r} removed" for n in old if n not in new]
            changes += [
                f"{side}: column {n!r} {old[n]} → {new[n]}"
                for n in old
                if n in new and old[n] != new[n]
            ]
            took = {c["name"] for c in left["columns"] if c.get("missing")}
            refuses = {c["name"] for c in right["columns"] if c.get("missing") is False}
            changes += [
                f"{side}: column {n!r} no longer takes missing values"
                for n in sorted(took & refuses)
            ]
        elif _without_missing(left) != _without_missing(right):
            changes.append(f"{side}: {_describe(left)} → {_describe(right)}")
        elif (left or {}).get("missing") and (right or {}).get("missing") is False:
            changes.append(f"{side}: missing values no longer taken")
    return {"changed": bool(changes), "changes": changes}


def _without_missing(spec: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if spec is None else {k: v for k, v in spec.items() if k != "missing"}


def _describe(spec: Mapping[str, Any] | None) -> str:
    if not spec:
        return "none"
    if spec.get("kind") == "tensor":
        return f"tensor {spec.get('dtype')} {spec.get('shape')}"
    return f"{len(spec.get('columns', []))} columns"
