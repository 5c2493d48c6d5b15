"""What the models page shows, computed from registry records (pure functions, no I/O): gate
results side by side, a model card's blocks for the template, and the lineage graph laid out
in columns for a server-drawn SVG."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loopml.core.entities import GATE_VARIANT_CHECK, AliasChange, GateResult
from loopml.dashboard.formatting import timestamp
from loopml.governance.card_sections import Bars, Facts, Note, Section, Table, Tree, number
from loopml.governance.lineage_graph import LineageGraph, describe_node
from loopml.models.promotion_rules import previous_versions

__all__ = [
    "GateCell",
    "GateColumn",
    "GateMatrix",
    "LineageLayout",
    "card_blocks",
    "gate_matrix",
    "lineage_layout",
    "rollback_targets",
]


@dataclass(frozen=True)
class GateCell:
    observed: str
    limit: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateColumn:
    """The newest gate result of one version (None: never gated)."""

    version: int
    passed: bool | None
    evaluated: str = ""
    dataset: str = ""
    against: str = ""
    policy: str = ""


@dataclass(frozen=True)
class GateMatrix:
    columns: list[GateColumn]
    rows: list[tuple[str, list[GateCell | None]]]  # check -> one cell per column


def gate_matrix(versions: Sequence[int], results: Sequence[GateResult]) -> GateMatrix:
    """Each of ``versions``' newest gate result side by side: a row per check (by name, in
    the order first met), a cell per version with what was observed, the limit and the
    verdict (None: that version's gate had no such check)."""
    newest: dict[int, GateResult] = {}
    for each in results:  # oldest first: the last one per version wins
        newest[each.version] = each
    columns: list[GateColumn] = []
    cells: dict[str, dict[int, GateCell]] = {}
    for version in versions:
        result = newest.get(version)
        if result is None:
            columns.append(GateColumn(version, None))
            continue
        columns.append(
            GateColumn(
                version,
                result.passed,
                timestamp(result.evaluated_at),
                result.dataset or "",
                f"version {result.against}" if result.against else "",
                result.policy_digest[:19],
            )
        )
        for check in result.checks:
            if check.get("check") == GATE_VARIANT_CHECK:
                continue
            name = f"{check.get('check', '')}: {check.get('name', '')}"
            cells.setdefault(name, {})[version] = GateCell(
                _value(check.get("observed")),
                _value(check.get("limit")),
                bool(check.get("passed")),
                str(check.get("detail") or ""),
            )
    rows = [(name, [found.get(v) for v in versions]) for name, found in cells.items()]
    return GateMatrix(columns, rows)


def _value(value: object) -> str:
    if value is None or isinstance(value, int | float | str):
        return number(value)
    return str(value)


def rollback_targets(history: Sequence[AliasChange]) -> dict[str, tuple[int, int]]:
    """Alias -> (the version it names now, the one a rollback moves it back to), for each
    alias that has an earlier version (:func:`previous_versions`, as ``loopml models
    rollback`` computes it)."""
    by_alias: dict[str, list[AliasChange]] = {}
    for change in history:
        by_alias.setdefault(change.alias, []).append(change)
    targets: dict[str, tuple[int, int]] = {}
    for alias, changes in by_alias.items():
        stack = previous_versions(changes)
        if len(stack) >= 2:
            targets[alias] = (stack[-1], stack[-2])
    return targets


# -- the model card --------------------------------------------------------------------------


@dataclass(frozen=True)
class CardBlock:
    kind: str  # facts, table, bars, tree, note
    block: Any
    top: float = 1.0  # bars: the largest value


def card_blocks(
    sections: Sequence[Section], *, leave_out: str = "Lineage"
) -> list[tuple[str, list[CardBlock]]]:
    """The card's sections as (title, blocks) for the template, but ``leave_out`` (the page
    draws the lineage itself)."""
    shown = []
    for section in sections:
        if section.title == leave_out:
            continue
        blocks = []
        for block in section.blocks:
            if isinstance(block, Bars):
                top = max((value for _, value in block.items), default=0.0) or 1.0
                blocks.append(CardBlock("bars", block, top))
            else:
                kinds = {Facts: "facts", Table: "table", Tree: "tree", Note: "note"}
                blocks.append(CardBlock(kinds.get(type(block), "note"), block))
        shown.append((section.title, blocks))
    return shown


# -- the lineage graph -----------------------------------------------------------------------

# data -> code -> pipeline -> step/run -> version -> alias -> deployment/batch
_COLUMN = {
    "dataset": 0,
    "commit": 0,
    "pipeline": 1,
    "step": 2,
    "run": 2,
    "model": 3,
    "alias": 4,
    "deployment": 5,
    "batch": 5,
}
NODE_WIDTH, NODE_HEIGHT, COLUMN_GAP, ROW_GAP, MARGIN = 200, 44, 48, 14, 8
MAX_NODES = 120
LABEL_CHARS = 28


@dataclass(frozen=True)
class PlacedNode:
    id: str
    kind: str
    label: str
    detail: str
    x: int
    y: int
    subject: bool


@dataclass(frozen=True)
class PlacedEdge:
    path: str  # SVG path data
    relation: str


@dataclass(frozen=True)
class LineageLayout:
    width: int
    height: int
    nodes: list[PlacedNode]
    edges: list[PlacedEdge]
    left_out: int  # nodes beyond MAX_NODES, not drawn
    tree: Mapping[str, list[tuple[int, str, str]]]  # upstream/downstream: (depth, how, what)


def lineage_layout(graph: LineageGraph) -> LineageLayout:
    """The graph in columns by kind, data on the left and deployments on the right, each node
    a box and each edge a curve; plus the subject's tree both ways (the text alternative)."""
    nodes = graph.nodes[:MAX_NODES]
    used = sorted({_COLUMN.get(node.kind, 3) for node in nodes})
    column_of = {kind_column: index for index, kind_column in enumerate(used)}
    rows: dict[int, int] = {}
    placed: dict[str, PlacedNode] = {}
    for node in nodes:
        column = column_of[_COLUMN.get(node.kind, 3)]
        row = rows.get(column, 0)
        rows[column] = row + 1
        facts = describe_node(node).split(" · ")[1:]
        placed[node.id] = PlacedNode(
            node.id,
            node.kind,
            _short(f"{node.kind} {node.label}"),
            _short(" · ".join(facts)),
            MARGIN + column * (NODE_WIDTH + COLUMN_GAP),
            MARGIN + row * (NODE_HEIGHT + ROW_GAP),
            node.id == graph.subject,
        )
    edges = []
    for edge in graph.edges:
        source, target = placed.get(edge.source), placed.get(edge.target)
        if source is None or target is None:
            continue
        edges.append(PlacedEdge(_curve(source, target), edge.relation))
    columns = max(len(used), 1)
    height_rows = max(rows.values(), default=1)
    tree = {
        title: [
            (depth, how, describe_node(node)) for depth, how, node in graph.walk(downstream=way)
        ]
        for title, way in (("Upstream", False), ("Downstream", True))
    }
    return LineageLayout(
        width=2 * MARGIN + columns * NODE_WIDTH + (columns - 1) * COLUMN_GAP,
        height=2 * MARGIN + height_rows * NODE_HEIGHT + (height_rows - 1) * ROW_GAP,
        nodes=list(placed.values()),
        edges=edges,
        left_out=max(len(graph.nodes) - MAX_NODES, 0),
        tree=tree,
    )


def _curve(source: PlacedNode, target: PlacedNode) -> str:
    """A curve from the right side of ``source`` to the left side of ``target`` (or below it,
    for two nodes in the same column)."""
    if source.x == target.x:
        x = source.x + NODE_WIDTH // 2
        top, bottom = (source, target) if source.y < target.y else (target, source)
        y1, y2 = top.y + NODE_HEIGHT, bottom.y
        return f"M{x},{y1} L{x},{y2}" if top is source else f"M{x},{y2} L{x},{y1}"
    x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT // 2
    x2, y2 = target.x, target.y + NODE_HEIGHT // 2
    if x2 < x1:  # flowing right to left (rare): leave from the left side instead
        x1 = source.x
        x2 = target.x + NODE_WIDTH
    middle = (x1 + x2) // 2
    return f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2},{y2}"


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
