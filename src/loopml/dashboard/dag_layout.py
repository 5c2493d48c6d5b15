"""A layered drawing of a small DAG (a pipeline run's steps), computed here so the page can be
served as plain SVG (pure computation, no I/O).

Each node goes in the layer one past its deepest predecessor (sources in layer 0), layers
left to right; inside a layer nodes are ordered by the mean position of their predecessors
(one barycentre pass), which keeps a chain straight and most fan-outs uncrossed.

>>> layout = layered_layout(["load", "train", "score"], [("load", "train"), ("train", "score")])
>>> [node.layer for node in layout.nodes]
[0, 1, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["NODE_HEIGHT", "NODE_WIDTH", "DagLayout", "EdgePath", "NodeBox", "layered_layout"]

NODE_WIDTH = 190
NODE_HEIGHT = 58
LAYER_GAP = 70  # horizontal space between layers, for the edges
ROW_GAP = 22
MARGIN = 12


@dataclass(frozen=True)
class NodeBox:
    """A node's box: ``x``, ``y`` its top-left corner."""

    id: str
    layer: int
    row: int
    x: int
    y: int


@dataclass(frozen=True)
class EdgePath:
    """An edge as an SVG path (``d``) from the right side of ``source`` to the left of
    ``target``."""

    source: str
    target: str
    d: str


@dataclass(frozen=True)
class DagLayout:
    nodes: tuple[NodeBox, ...]  # in the order the nodes were given
    edges: tuple[EdgePath, ...]
    width: int
    height: int


def layered_layout(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> DagLayout:
    """Boxes and edge paths for ``nodes`` (ids, in a stable order) and ``edges`` (source,
    target). Edges naming an unknown node or closing a cycle are left out, so a partial or
    odd record still draws."""
    known = dict.fromkeys(nodes)
    parents: dict[str, list[str]] = {node: [] for node in known}
    for source, target in dict.fromkeys(edges):
        if source in known and target in known and source != target:
            parents[target].append(source)
    layer = _layers(list(known), parents)
    kept = [(s, t) for t, sources in parents.items() for s in sources if layer[s] < layer[t]]
    rows = _rows(list(known), layer, parents)
    tallest = max((sum(1 for n in known if layer[n] == each) for each in set(layer.values())),
                  default=0)  # fmt: skip
    boxes = {}
    for node in known:
        count = sum(1 for other in known if layer[other] == layer[node])
        offset = (tallest - count) * (NODE_HEIGHT + ROW_GAP) / 2  # centre short layers
        boxes[node] = NodeBox(
            id=node,
            layer=layer[node],
            row=rows[node],
            x=MARGIN + layer[node] * (NODE_WIDTH + LAYER_GAP),
            y=round(MARGIN + offset + rows[node] * (NODE_HEIGHT + ROW_GAP)),
        )
    layers = max(layer.values(), default=-1) + 1
    return DagLayout(
        nodes=tuple(boxes[node] for node in known),
        edges=tuple(_path(boxes[s], boxes[t]) for s, t in kept),
        width=2 * MARGIN + max(layers, 1) * NODE_WIDTH + max(layers - 1, 0) * LAYER_GAP,
        height=2 * MARGIN + max(tallest, 1) * NODE_HEIGHT + max(tallest - 1, 0) * ROW_GAP,
    )


def _layers(nodes: list[str], parents: dict[str, list[str]]) -> dict[str, int]:
    """Longest path from a source, in the given order's topological sense; a node on a cycle
    is placed after the predecessors already placed."""
    layer: dict[str, int] = {}
    visiting: set[str] = set()

    def place(node: str) -> int:
        if node in layer:
            return layer[node]
        visiting.add(node)
        depth = 0
        for parent in parents[node]:
            if parent not in visiting:
                depth = max(depth, place(parent) + 1)
        visiting.discard(node)
        layer[node] = depth
        return depth

    for node in nodes:
        place(node)
    return layer


def _rows(nodes: list[str], layer: dict[str, int], parents: dict[str, list[str]]) -> dict[str, int]:
    """Each node's position in its layer: by the mean row of its placed predecessors (its
    given order among nodes without any)."""
    row: dict[str, int] = {}
    order = {node: index for index, node in enumerate(nodes)}
    for depth in sorted(set(layer.values())):
        members = [node for node in nodes if layer[node] == depth]
        keys = {}
        for position, node in enumerate(members):
            placed = [row[p] for p in parents[node] if p in row]
            keys[node] = (sum(placed) / len(placed) if placed else float(position), order[node])
        for position, node in enumerate(sorted(members, key=keys.__getitem__)):
            row[node] = position
    return row


def _path(source: NodeBox, target: NodeBox) -> EdgePath:
    x1, y1 = source.x + NODE_WIDTH, source.y + NODE_HEIGHT // 2
    x2, y2 = target.x, target.y + NODE_HEIGHT // 2
    bend = (x2 - x1) / 2
    d = f"M{x1},{y1} C{x1 + bend:g},{y1} {x2 - bend:g},{y2} {x2},{y2}"
    return EdgePath(source.id, target.id, d)
