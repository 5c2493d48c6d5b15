"""Markdown tables for the benchmark reports. Standard library only."""

from __future__ import annotations

from collections.abc import Collection, Sequence


def markdown_table(lines: Sequence[Sequence[str]], right: Collection[int] = ()) -> str:
    """A GitHub-flavoured Markdown table, padded to line up in a terminal: ``lines[0]`` is the
    header; the columns numbered in ``right`` are right-aligned (numbers)."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = []
    for index, line in enumerate(lines):
        padded = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(line)
        ]
        out.append("| " + " | ".join(padded) + " |")
        if index == 0:
            rules = ["-" * (w - 1) + ":" if i in right else "-" * w for i, w in enumerate(widths)]
            out.append("| " + " | ".join(rules) + " |")
    return "\n".join(out)
