"""What ``loopml models`` prints: registered models, versions and alias changes as JSON
documents and as lines for people."""

from __future__ import annotations

import json
from typing import Any

from loopml.cli import output
from loopml.core.entities import AliasChange, ModelVersion, RegisteredModel
from loopml.core.ids import format_ms


def model_dict(model: RegisteredModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "latest_version": model.latest_version,
        "aliases": dict(model.aliases),
        "description": model.description,
        "created_at": format_ms(model.created_at),
        "updated_at": format_ms(model.updated_at),
    }


def version_dict(version: ModelVersion) -> dict[str, Any]:
    return {
        "model": version.model,
        "version": version.version,
        "flavor": version.flavor,
        "tree_digest": version.tree_digest,
        "run_id": version.run_id,
        "datasets": list(version.datasets),
        "metrics": dict(version.metrics),
        "signature": version.signature,
        "requirements": list(version.requirements),
        "description": version.description,
        "tags": dict(version.tags),
        "created_at": format_ms(version.created_at),
    }


def version_lines(version: ModelVersion) -> list[tuple[str, str]]:
    """``models show`` for people: one plain line per field, no Python reprs."""
    metrics = ", ".join(f"{k} {output.format_number(v)}" for k, v in version.metrics.items())
    signature = version.signature or {}
    lines = [
        ("created", format_ms(version.created_at)),
        ("files", version.tree_digest),
        ("run", version.run_id or "none"),
        ("trained on", ", ".join(version.datasets) or "unknown"),
        ("metrics", metrics or "none"),
        ("inputs", spec_text(signature.get("inputs"))),
        ("outputs", spec_text(signature.get("outputs"))),
    ]
    if version.description:
        lines.append(("description", version.description))
    lines += [(f"tag {k}", v) for k, v in version.tags.items()]
    lines.append(("requirements", " ".join(version.requirements) or "none"))
    return lines


def spec_text(spec: object) -> str:
    """A signature half as one line: ``age: long, city: string`` or ``float64 [-1, 4]``."""
    if not isinstance(spec, dict):
        return "not recorded"
    if spec.get("kind") == "columns":
        columns = spec.get("columns") or []
        return ", ".join(f"{c.get('name')}: {c.get('type')}" for c in columns) or "no columns"
    return f"{spec.get('dtype', '?')} {json.dumps(spec.get('shape', []))}"


def change_dict(change: AliasChange) -> dict[str, Any]:
    return {
        "model": change.model,
        "alias": change.alias,
        "from_version": change.from_version,
        "to_version": change.to_version,
        "at": format_ms(change.at),
        "actor": change.actor,
        "reason": change.reason,
    }


def cell_text(value: object) -> str:
    if value is None:
        return "—"
    return output.format_number(value) if isinstance(value, float) else str(value)


def version_text(version: int | None) -> str:
    return "—" if version is None else str(version)


def print_change(change: AliasChange, *, as_json: bool) -> None:
    if as_json:
        output.print_json(change_dict(change))
        return
    where = f"{change.model}@{change.alias}"
    if change.from_version == change.to_version:
        text = f"{where} already names version {version_text(change.to_version)}."
    else:
        text = f"{where}: {version_text(change.from_version)} → {version_text(change.to_version)}."
    output.console().print(text, markup=False)
