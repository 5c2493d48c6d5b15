"""A drift report as one self-contained HTML file: a summary, a table, and per column a bar
chart of both distributions on the same bins (inline SVG; no script, no CDN, works offline).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from loopml.monitoring.drift import ColumnResult, DriftReport
from loopml.monitoring.samples import Bins

__all__ = ["render"]

_WIDTH, _HEIGHT, _PAD = 640, 200, 30
_REFERENCE, _CURRENT = "#4c72b0", "#dd8452"
_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #ddd; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.drift { color: #b00020; font-weight: 600; }
section { margin: 2em 0; }
.legend span { display: inline-block; width: 12px; height: 12px; margin: 0 4px 0 12px; }
svg text { font: 10px system-ui, sans-serif; fill: #555; }
"""


def render(report: DriftReport) -> str:
    """The whole HTML document for ``report``."""
    columns = [*report.features, *([report.prediction] if report.prediction else [])]
    verdict = "Drift" if report.drifted else "No drift"
    drifted = report.drifted_features
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(verdict)}: {_e(report.current)} vs {_e(report.reference)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_e(verdict)}</h1>",
        f"<p>Reference: <b>{_e(report.reference)}</b><br>Current: <b>{_e(report.current)}</b></p>",
        f"<p>{len(drifted)} of {report.tested} tested columns drifted ({report.share:.0%}; "
        f"the dataset drifts from {report.drift_share:.0%}). Multiple-testing correction: "
        f"{_e(report.correction)}.</p>",
    ]
    if report.prediction is not None:
        said = "drifted" if report.prediction.drifted else "did not drift"
        parts.append(f"<p>The prediction ({_e(report.prediction.column)}) {said}.</p>")
    parts.append(_table(columns, report.prediction))
    parts.append(
        f"<p class='legend'><span style='background:{_REFERENCE}'></span>reference"
        f"<span style='background:{_CURRENT}'></span>current (share of present values)</p>"
    )
    for column in columns:
        parts.append(_section(column))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _table(columns: Sequence[ColumnResult], prediction: ColumnResult | None) -> str:
    head = (
        "<table><tr><th>column</th><th>kind</th><th>test</th><th>statistic</th>"
        "<th>p-value</th><th>threshold</th><th>drift</th><th>missing (ref / cur)</th></tr>"
    )
    rows = [head]
    for column in columns:
        name = _e(column.column) + (" (prediction)" if column is prediction else "")
        link = f"<a href='#{_anchor(column.column)}'>{name}</a>"
        missing = f"{column.reference_missing:,} / {column.current_missing:,}"
        if column.method is None:
            rows.append(
                f"<tr><td>{link}</td><td>{column.kind.value}</td><td colspan='5'>"
                f"{_e(column.note)}</td><td class='num'>{missing}</td></tr>"
            )
            continue
        p_value = "" if column.adjusted_p_value is None else f"{column.adjusted_p_value:.3g}"
        mark = "<span class='drift'>DRIFT</span>" if column.drifted else "no"
        rows.append(
            f"<tr><td>{link}</td><td>{column.kind.value}</td><td>{column.method}</td>"
            f"<td class='num'>{column.statistic:.4g}</td><td class='num'>{p_value}</td>"
            f"<td class='num'>{column.threshold:g}</td><td>{mark}</td>"
            f"<td class='num'>{missing}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _section(column: ColumnResult) -> str:
    title = f"<h2 id='{_anchor(column.column)}'>{_e(column.column)}</h2>"
    if column.bins is None:
        return f"<section>{title}<p>{_e(column.note or 'No plot.')}</p></section>"
    said = f"{column.method} = {column.statistic:.4g}" if column.statistic is not None else ""
    return f"<section>{title}<p>{_e(said)}</p>{_bars(column.bins)}</section>"


def _bars(bins: Bins) -> str:
    """Side-by-side bars of both sides' shares per bin."""
    ref_total, cur_total = sum(bins.reference) or 1.0, sum(bins.current) or 1.0
    shares = [
        (r / ref_total, c / cur_total) for r, c in zip(bins.reference, bins.current, strict=True)
    ]
    top = max((max(pair) for pair in shares), default=1.0) or 1.0
    slot = (_WIDTH - 2 * _PAD) / max(1, len(shares))
    bar = max(1.0, slot * 0.4)
    plot_height = _HEIGHT - 2 * _PAD
    items = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_WIDTH}' height='{_HEIGHT + 40}' "
        f"role='img' aria-label='distribution'>",
        f"<line x1='{_PAD}' y1='{_HEIGHT - _PAD}' x2='{_WIDTH - _PAD}' y2='{_HEIGHT - _PAD}' "
        "stroke='#999'/>",
        f"<text x='2' y='{_PAD}'>{top:.0%}</text>",
    ]
    for index, ((ref, cur), label) in enumerate(zip(shares, bins.labels, strict=True)):
        x = _PAD + index * slot + slot * 0.1
        for offset, share, colour, side in ((0.0, ref, _REFERENCE, "reference"),
                                            (bar, cur, _CURRENT, "current")):  # fmt: skip
            height = plot_height * share / top
            y = _HEIGHT - _PAD - height
            items.append(
                f"<rect x='{x + offset:.1f}' y='{y:.1f}' width='{bar:.1f}' "
                f"height='{height:.1f}' fill='{colour}'><title>{_e(label)} — {side}: "
                f"{share:.2%}</title></rect>"
            )
        if len(shares) <= 25:
            tx, ty = x + bar, _HEIGHT - _PAD + 10
            items.append(
                f"<text x='{tx:.1f}' y='{ty}' transform='rotate(35 {tx:.1f} {ty})'>"
                f"{_e(_short(label))}</text>"
            )
    items.append("</svg>")
    return "".join(items)


def _short(label: str) -> str:
    return label if len(label) <= 18 else label[:17] + "…"


def _anchor(name: str) -> str:
    return "col-" + "".join(c if c.isalnum() else "-" for c in name)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
