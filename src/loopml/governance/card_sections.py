"""A model card as sections of plain blocks (facts, tables, bars, trees, notes): what the
Markdown and HTML renderers (:mod:`~loopml.governance.card_render`) lay out, so both say the
same thing. Pure: no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from loopml.core.entities import GATE_VARIANT_CHECK
from loopml.core.ids import format_ms
from loopml.governance.lineage import describe_change
from loopml.governance.lineage_graph import describe_node
from loopml.governance.model_card import ModelCard, TrainingData

__all__ = ["Bars", "Facts", "Note", "Section", "Table", "Tree", "card_sections"]

MAX_COLUMNS = 40


@dataclass(frozen=True)
class Facts:
    items: list[tuple[str, str]]


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass(frozen=True)
class Bars:
    """Labelled magnitudes (drawn as bars in HTML)."""

    items: list[tuple[str, float]]


@dataclass(frozen=True)
class Tree:
    title: str
    items: list[tuple[int, str]]  # (depth from 1, text)


@dataclass(frozen=True)
class Note:
    text: str


Block = Facts | Table | Bars | Tree | Note


@dataclass(frozen=True)
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


def card_sections(card: ModelCard) -> list[Section]:
    return [
        _details(card),
        _ownership(card),
        Section(
            "Training data",
            [b for data in card.training_data for b in _data_blocks(data)]
            or [Note("No dataset version is linked to this version.")],
        ),
        _params(card),
        _metrics(card),
        _gates(card),
        _fairness(card),
        _explanations(card),
        _lineage(card),
        _approvals(card),
        _alias_history(card),
    ]


def number(value: float | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) or (
        math.isfinite(value) and value == int(value) and abs(value) < 1e15
    ):
        return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
    return f"{value:.4g}"


def _details(card: ModelCard) -> Section:
    version = card.version
    signature = version.signature or {}
    inputs = signature.get("inputs") if isinstance(signature, dict) else None
    columns = inputs.get("columns") if isinstance(inputs, dict) else None
    facts = [
        ("Model", version.model),
        ("Version", str(version.version)),
        ("Flavor", version.flavor),
        (
            "Registered",
            format_ms(version.created_at)
            + (f" by {version.created_by}" if version.created_by else ""),
        ),
        ("Description", version.description or "none"),
        ("Aliases now", ", ".join(f"@{alias}" for alias in card.aliases) or "none"),
        ("Run", version.run_id or "none"),
        ("Files", version.tree_digest),
    ]
    if isinstance(columns, list):
        names = [str(c.get("name")) for c in columns if isinstance(c, dict)]
        facts.append(("Inputs", f"{len(names)} columns: " + ", ".join(names[:MAX_COLUMNS])))
    elif isinstance(inputs, dict) and "dtype" in inputs:
        facts.append(("Inputs", f"a {inputs['dtype']} tensor of shape {inputs.get('shape')}"))
    if version.requirements:
        facts.append(("Requirements", " ".join(version.requirements)))
    return Section("Model details", [Facts(facts)])


def _ownership(card: ModelCard) -> Section:
    described = card.description
    facts = [
        ("Owner", _inherited(described.owner, described.owner_from, card.version.version)),
        (
            "Intended use",
            _inherited(described.intended_use, described.intended_use_from, card.version.version),
        ),
    ]
    blocks: list[Block] = [Facts(facts)]
    if described.owner is None or described.intended_use is None:
        blocks.append(
            Note(
                f"Set them with: loopml models describe {card.version.model} "
                "--owner TEAM --intended-use TEXT"
            )
        )
    return Section("Owner and intended use", blocks)


def _inherited(value: str | None, source: int | None, version: int) -> str:
    if value is None:
        return "not set"
    return value if source in (None, version) else f"{value} (as set on version {source})"


def _data_blocks(data: TrainingData) -> list[Block]:
    if data.missing is not None:
        return [Facts([("Dataset", data.ref), ("Not readable", data.missing)])]
    facts = [
        ("Dataset", data.ref),
        ("Message", data.message or "none"),
        ("Files", str(data.files)),
        ("Size", f"{number(data.size)} bytes"),
    ]
    blocks: list[Block] = [Facts(facts)]
    for table in data.tables:
        rows = [
            [
                c.name,
                c.type,
                number(c.missing),
                number(c.distinct),
                number(c.minimum),
                number(c.maximum),
                number(c.mean),
            ]
            for c in table.columns[:MAX_COLUMNS]
        ]
        more = len(table.columns) - MAX_COLUMNS
        caption = f"{table.path}: {number(table.rows)} rows, {len(table.columns)} columns" + (
            f" (first {MAX_COLUMNS} shown, {more} more)" if more > 0 else ""
        )
        headers = ["column", "type", "missing", "distinct", "min", "max", "mean"]
        blocks.append(Table(headers, rows, caption))
    return blocks


def _params(card: ModelCard) -> Section:
    if not card.params:
        return Section("Parameters", [Note("No params recorded (no run linked).")])
    rows = [[source, key, value] for source, key, value in card.params]
    return Section("Parameters", [Table(["run or step", "param", "value"], rows)])


def _metrics(card: ModelCard) -> Section:
    if not card.version.metrics:
        return Section("Metrics", [Note("No metrics recorded with this version.")])
    rows = [[key, number(value)] for key, value in sorted(card.version.metrics.items())]
    return Section("Metrics", [Table(["metric", "value"], rows)])


def _check_rows(checks: list[dict[str, object]]) -> list[list[str]]:
    return [
        [
            str(c.get("check", "")),
            str(c.get("name", "")),
            "pass" if c.get("passed") else "FAIL",
            _cell(c.get("observed")),
            _cell(c.get("limit")),
            str(c.get("detail") or ""),
        ]
        for c in checks
    ]


def _cell(value: object) -> str:
    return number(value) if isinstance(value, int | float | str) or value is None else str(value)


def _gates(card: ModelCard) -> Section:
    if not card.gates:
        return Section("Quality gates", [Note(f"No gate result yet: loopml gate {card.ref}")])
    blocks: list[Block] = []
    for result in card.gates:
        facts = [
            (
                "Evaluated",
                format_ms(result.evaluated_at) + (f" by {result.actor}" if result.actor else ""),
            ),
            ("Result", "passed" if result.passed else "FAILED"),
            ("Against", f"version {result.against}" if result.against else "no champion"),
            ("Evaluation data", result.dataset or "not recorded"),
            ("Policy", result.policy_digest),
        ]
        if result.variant:
            facts.append(("Variant scored", result.variant))
        checks = [dict(c) for c in result.checks if c.get("check") != GATE_VARIANT_CHECK]
        headers = ["check", "name", "result", "observed", "limit", "detail"]
        blocks += [Facts(facts), Table(headers, _check_rows(checks))]
    return Section("Quality gates", blocks)


def _fairness(card: ModelCard) -> Section:
    found = card.fairness
    if not found:
        return Section(
            "Fairness",
            [
                Note(
                    "No fairness check recorded: add a 'fairness:' section to the gate "
                    "policy, or see 'loopml fairness'."
                )
            ],
        )
    rows = [
        [format_ms(result.evaluated_at), *_check_rows([dict(check)])[0][1:]]
        for result, check in found
    ]
    headers = ["evaluated", "name", "result", "observed", "limit", "detail"]
    return Section("Fairness", [Table(headers, rows)])


def _explanations(card: ModelCard) -> Section:
    explanation = card.explanation
    if explanation is None:
        return Section("Explanations", [Note("No global explanation stored with this version.")])
    facts = [
        ("Method", explanation.method),
        ("Rows explained", number(explanation.rows)),
        ("Expected value", explanation.expected_value),
    ]
    return Section("Explanations (mean |SHAP value|)", [Facts(facts), Bars(explanation.features)])


def _lineage(card: ModelCard) -> Section:
    blocks: list[Block] = []
    for title, downstream in (("Upstream", False), ("Downstream", True)):
        walked = card.lineage.walk(downstream=downstream)
        items = [(depth, f"{relation}: {describe_node(node)}") for depth, relation, node in walked]
        blocks.append(Tree(title, items or [(1, "nothing recorded")]))
    return Section("Lineage", blocks)


def _approvals(card: ModelCard) -> Section:
    if not card.approvals:
        return Section("Approvals", [Note("No approval recorded.")])
    rows = [[format_ms(a.at), a.actor or "", a.comment] for a in card.approvals]
    return Section("Approvals", [Table(["at", "by", "comment"], rows)])


def _alias_history(card: ModelCard) -> Section:
    if not card.alias_history:
        return Section("Alias history", [Note("No alias ever pointed at this version.")])
    rows = [[change.alias, describe_change(change)] for change in card.alias_history]
    return Section("Alias history", [Table(["alias", "move"], rows)])
