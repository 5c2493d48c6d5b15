"""A lineage graph: what a model version or data version came from and what it reached.

Nodes are typed (``model``, ``run``, ``pipeline``, ``step``, ``dataset``, ``commit``,
``alias``, ``deployment``, ``batch``) and named by a stable id (``model:churn@3``,
``run:<id>``, ``dataset:iris@2``, …); edges point the way data flows (a dataset into the run
that read it, a run into the model registered from it, a model into the deployment serving
it). The graph is plain data: JSON, Graphviz DOT and the CLI's tree are views of it.

>>> graph = LineageGraph("model:churn@3")
>>> graph.add("model:churn@3", "model", "churn@3")
>>> graph.add("dataset:iris@2", "dataset", "iris@2")
>>> graph.link("dataset:iris@2", "model:churn@3", "trained")
>>> [node.id for node in graph.upstream_of("model:churn@3")]
['dataset:iris@2']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["LineageEdge", "LineageGraph", "LineageNode", "describe_node", "to_dot"]

NODE_KINDS = (
    "model",
    "run",
    "pipeline",
    "step",
    "dataset",
    "commit",
    "alias",
    "deployment",
    "batch",
)
_SHAPES = {
    "model": "box3d",
    "dataset": "cylinder",
    "commit": "note",
    "alias": "tag",
    "deployment": "component",
    "batch": "folder",
}


@dataclass(frozen=True)
class LineageNode:
    """One thing in the graph: ``details`` are plain text facts (status, address, rows)."""

    id: str
    kind: str
    label: str
    details: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class LineageEdge:
    """``source`` flowed into ``target`` (``relation`` says how: read, trained, served…)."""

    source: str
    target: str
    relation: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "target": self.target, "relation": self.relation}


class LineageGraph:
    """Nodes in the order they were found, edges without repeats, around one ``subject``."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self._nodes: dict[str, LineageNode] = {}
        self._edges: dict[tuple[str, str, str], LineageEdge] = {}

    @property
    def nodes(self) -> list[LineageNode]:
        return list(self._nodes.values())

    @property
    def edges(self) -> list[LineageEdge]:
        return list(self._edges.values())

    def node(self, node_id: str) -> LineageNode:
        return self._nodes[node_id]

    def has(self, node_id: str) -> bool:
        return node_id in self._nodes

    def add(
        self, node_id: str, kind: str, label: str, details: Mapping[str, str] | None = None
    ) -> None:
        """Add a node (a node added again keeps its first label, its details merged)."""
        if kind not in NODE_KINDS:
            raise ValueError(f"unknown lineage node kind {kind!r}")
        known = self._nodes.get(node_id)
        merged = {**(known.details if known else {}), **(details or {})}
        self._nodes[node_id] = LineageNode(
            node_id, known.kind if known else kind, known.label if known else label, merged
        )

    def link(self, source: str, target: str, relation: str) -> None:
        if source == target:
            return
        self._edges.setdefault((source, target, relation), LineageEdge(source, target, relation))

    def of_kind(self, *kinds: str) -> list[LineageNode]:
        return [node for node in self._nodes.values() if node.kind in kinds]

    def upstream_of(self, node_id: str) -> list[LineageNode]:
        """The nodes with an edge into ``node_id``, in the order the edges were added."""
        return [self._nodes[e.source] for e in self._edges.values() if e.target == node_id]

    def downstream_of(self, node_id: str) -> list[LineageNode]:
        return [self._nodes[e.target] for e in self._edges.values() if e.source == node_id]

    def reachable(self, node_id: str, *, downstream: bool) -> list[LineageNode]:
        """Every node reached from ``node_id`` one way (breadth first, each once)."""
        seen = {node_id}
        queue = [node_id]
        found: list[LineageNode] = []
        while queue:
            step = self.downstream_of if downstream else self.upstream_of
            for node in step(queue.pop(0)):
                if node.id not in seen:
                    seen.add(node.id)
                    found.append(node)
                    queue.append(node.id)
        return found

    def walk(self, *, downstream: bool) -> list[tuple[int, str, LineageNode]]:
        """The subject's tree one way, depth first: ``(depth, relation, node)`` from depth 1,
        each node once (where it is first reached), what the CLI's tree and the cards show."""
        seen = {self.subject}
        found: list[tuple[int, str, LineageNode]] = []

        def visit(node_id: str, depth: int) -> None:
            for edge in self._edges.values():
                near, far = (edge.source, edge.target) if downstream else (edge.target, edge.source)
                if near != node_id or far in seen:
                    continue
                seen.add(far)
                found.append((depth, edge.relation, self._nodes[far]))
                visit(far, depth + 1)

        visit(self.subject, 1)
        return found

    def to_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "nodes": [node.to_dict() for node in self._nodes.values()],
            "edges": [edge.to_dict() for edge in self._edges.values()],
        }


def to_dot(graph: LineageGraph, *, name: str = "lineage") -> str:
    """Graphviz source (``dot -Tsvg``): left to right, one shape per kind, the subject bold."""
    lines = [
        f"digraph {_quote(name)} {{",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=10, shape=box, style=rounded];',
        '  edge [fontname="Helvetica", fontsize=9, color="#666666"];',
    ]
    for node in graph.nodes:
        attributes = [f"label={_quote(_dot_label(node))}"]
        if node.kind in _SHAPES:
            attributes.append(f"shape={_SHAPES[node.kind]}")
        if node.id == graph.subject:
            attributes.append('style="rounded,bold"')
        lines.append(f"  {_quote(node.id)} [{', '.join(attributes)}];")
    for edge in graph.edges:
        lines.append(
            f"  {_quote(edge.source)} -> {_quote(edge.target)} [label={_quote(edge.relation)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def describe_node(node: LineageNode) -> str:
    """One line for people: ``pipeline training (3f2a9c1e) · FINISHED · cached``."""
    facts = [
        _fact(key, node.details[key]) for key in _SHOWN.get(node.kind, ()) if key in node.details
    ]
    return " · ".join([f"{node.kind} {node.label}", *[fact for fact in facts if fact]])


_SHOWN: dict[str, Sequence[str]] = {
    "run": ("status",),
    "pipeline": ("status",),
    "step": ("status", "cached"),
    "model": ("flavor",),
    "alias": ("now",),
    "deployment": ("state", "served"),
    "batch": ("rows", "status"),
    "dataset": ("message",),
}


def _fact(key: str, value: str) -> str:
    if not value:
        return ""
    if key == "cached":
        return "cached" if value == "true" else ""
    if key == "alias":
        return f"@{value}"
    if key == "rows":
        return f"{value} rows"
    if key == "now":
        return f"now {value}"
    return value


def _dot_label(node: LineageNode) -> str:
    facts = describe_node(node).split(" · ")[1:]
    return "\n".join([f"{node.kind}: {node.label}", *facts])


def _quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as ``\\n``."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
