"""A model card as Markdown, or as one self-contained offline HTML file: inline CSS, bars
drawn with inline styles, no script, no font, no image and no link to fetch — and no
``scheme://`` anywhere in the file, so it opens the same on an air-gapped machine (an
address such as a deployment's is shown without its scheme).

>>> html = card_html(build_card(client, "churn@3"))  # doctest: +SKIP
"""

from __future__ import annotations

import html as html_lib
import re

from loopml.core.ids import format_ms
from loopml.core.version import __version__
from loopml.governance.card_sections import (
    Bars,
    Block,
    Facts,
    Table,
    Tree,
    card_sections,
    number,
)
from loopml.governance.model_card import ModelCard

__all__ = ["card_html", "card_markdown"]

_SCHEME = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;
 margin:0;background:#f5f6f8}
main{max-width:1040px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;
 border-bottom:2px solid #e3e6eb}
.sub{color:#5b6372;margin:0 0 16px}
table{border-collapse:collapse;width:100%;margin:6px 0 14px;font-size:13px}
th,td{border:1px solid #e3e6eb;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5}caption{text-align:left;color:#5b6372;padding:2px 0 4px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;margin:6px 0 14px}
dt{color:#5b6372}dd{margin:0;word-break:break-word}
.note{color:#5b6372;font-style:italic}
.pass{color:#17803d;font-weight:600}.fail{color:#b42318;font-weight:600}
.bar{display:flex;align-items:center;gap:8px;margin:2px 0}
.bar span{width:220px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.bar i{display:block;height:12px;background:#3d6fd9;border-radius:2px}
.bar b{font-weight:400;color:#5b6372}
ul.tree{list-style:none;padding-left:0;margin:4px 0 12px}ul.tree ul{list-style:none;
 padding-left:18px;border-left:1px dashed #c9ced6;margin-left:6px}
footer{margin-top:32px;color:#8a91a0;font-size:12px}
"""


def card_markdown(card: ModelCard) -> str:
    lines = [f"# Model card: {card.ref}", "", _subtitle(card), ""]
    for section in card_sections(card):
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            lines += [*_markdown_block(block), ""]
    lines.append(_footer(card))
    return "\n".join(lines) + "\n"


def _markdown_block(block: Block) -> list[str]:
    if isinstance(block, Facts):
        return [f"- **{key}**: {_md(value)}" for key, value in block.items]
    if isinstance(block, Table):
        head = [f"*{_md(block.caption)}*", ""] if block.caption else []
        rows = [
            "| " + " | ".join(_md(h) for h in block.headers) + " |",
            "|" + "---|" * len(block.headers),
        ]
        rows += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in block.rows]
        return head + rows
    if isinstance(block, Bars):
        return [f"- {_md(label)}: {number(value)}" for label, value in block.items]
    if isinstance(block, Tree):
        return [f"**{block.title}**", ""] + [
            "  " * (depth - 1) + f"- {_md(text)}" for depth, text in block.items
        ]
    return [f"*{_md(block.text)}*"]


def _md(text: str) -> str:
    """Text safe in a Markdown table cell or list item: pipes and angle brackets escaped (no
    HTML gets through), newlines as spaces."""
    for special in ("\\", "|", "<", ">"):
        text = text.replace(special, "\\" + special)
    return text.replace("\n", " ")


def card_html(card: ModelCard) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Model card: {_h(card.ref)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        f"<h1>Model card: {_h(card.ref)}</h1>",
        f'<p class="sub">{_h(_subtitle(card))}</p>',
    ]
    for section in card_sections(card):
        parts.append(f"<section><h2>{_h(section.title)}</h2>")
        parts += [_html_block(block) for block in section.blocks]
        parts.append("</section>")
    parts += [f"<footer>{_h(_footer(card))}</footer>", "</main></body></html>"]
    return "\n".join(parts) + "\n"


def _html_block(block: Block) -> str:
    if isinstance(block, Facts):
        items = "".join(f"<dt>{_h(k)}</dt><dd>{_h(v)}</dd>" for k, v in block.items)
        return f"<dl>{items}</dl>"
    if isinstance(block, Table):
        caption = f"<caption>{_h(block.caption)}</caption>" if block.caption else ""
        head = "".join(f"<th>{_h(h)}</th>" for h in block.headers)
        body = "".join(
            "<tr>" + "".join(_html_cell(cell) for cell in row) + "</tr>" for row in block.rows
        )
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Bars):
        top = max((value for _, value in block.items), default=0.0) or 1.0
        return "".join(
            f'<div class="bar"><span title="{_h(label)}">{_h(label)}</span>'
            f'<i style="width:{max(1, round(360 * value / top))}px"></i>'
            f"<b>{_h(number(value))}</b></div>"
            for label, value in block.items
        )
    if isinstance(block, Tree):
        return f"<h3>{_h(block.title)}</h3>" + _html_tree(block.items)
    return f'<p class="note">{_h(block.text)}</p>'


def _html_cell(cell: str) -> str:
    css = {"pass": "pass", "FAIL": "fail"}.get(cell)
    return f'<td class="{css}">{_h(cell)}</td>' if css else f"<td>{_h(cell)}</td>"


def _html_tree(items: list[tuple[int, str]]) -> str:
    """Nested lists from ``(depth, text)`` in depth-first order."""
    out = ['<ul class="tree">']
    depth = 1
    for level, text in items:
        while depth < level:
            out.append("<ul>")
            depth += 1
        while depth > level:
            out.append("</ul>")
            depth -= 1
        out.append(f"<li>{_h(text)}</li>")
    out.append("</ul>" * depth)
    return "".join(out)


def _h(text: str) -> str:
    """Escaped HTML text, with every ``scheme://`` left out (an address shows as
    ``host:port``): the file names nothing a browser could fetch."""
    return html_lib.escape(_SCHEME.sub("", text))


def _subtitle(card: ModelCard) -> str:
    described = card.description
    owner = described.owner or "no owner set"
    return f"{card.version.flavor} model, registered {format_ms(card.version.created_at)}; {owner}"


def _footer(card: ModelCard) -> str:
    return (
        f"Generated by loopml {__version__} on {format_ms(card.generated_at)} from what the "
        "store records."
    )
