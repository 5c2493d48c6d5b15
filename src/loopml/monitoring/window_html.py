"""A live-monitoring report as one self-contained HTML file: per version, a line plot over
time of each signal (traffic, latency, error rate, drift share, performance), performance
estimated before labels (CBPE) beside the realised one, with the windows where the error
stream's detector saw decay marked, and the table of windows (inline SVG; no script, no CDN,
works offline)."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from loopml.monitoring.windows import Window, WindowsReport

__all__ = ["render"]

_WIDTH, _HEIGHT, _PAD = 640, 150, 36
_LINE = "#4c72b0"
_ESTIMATED = "#dd8452"
_DECAY = "#b00020"
_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 3px 8px; border-bottom: 1px solid #ddd; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.drift { color: #b00020; font-weight: 600; }
svg text { font: 10px system-ui, sans-serif; fill: #555; }
"""
Signal = tuple[str, Callable[[Window], float | None]]
Points = Sequence[tuple[int, float | None]]


def _performance(key: str) -> Callable[[Window], float | None]:
    def read(window: Window) -> float | None:
        found = window.checks.performance or {}
        value = found.get(key)
        return float(value) if isinstance(value, int | float) else None

    return read


def _estimated(key: str) -> Callable[[Window], float | None]:
    def read(window: Window) -> float | None:
        metrics = (window.checks.estimated_performance or {}).get("metrics") or {}
        value = (metrics.get(key) or {}).get("value")
        return float(value) if isinstance(value, int | float) else None

    return read


COMPARED = (("accuracy", "accuracy"), ("ROC AUC", "roc_auc"))  # estimated vs realised
SIGNALS: tuple[Signal, ...] = (
    ("requests", lambda w: float(w.requests)),
    ("latency p95 (ms)", lambda w: w.latency.quantile(0.95)),
    ("error rate", lambda w: w.error_rate),
    ("drifted feature share", lambda w: (w.checks.drift or {}).get("share")),
    ("accuracy", _performance("accuracy")),
    ("F1", _performance("f1")),
    ("RMSE", _performance("rmse")),
)


def render(report: WindowsReport) -> str:
    """The whole HTML document for ``report``."""
    data = report.to_dict()
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{_e(report.selection.ref)}: live monitoring</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_e(report.selection.ref)}</h1>",
        f"<p>Windows of {report.window_ms / 60_000:g} min from {_e(data['since'])} to "
        f"{_e(data['until'])}; {report.parts} log parts.</p>",
    ]
    parts.extend(f"<p>{_e(note)}</p>" for note in report.notes)
    versions = sorted({w.model_version for w in report.windows})
    if not versions:
        parts.append("<p>No logged predictions in this range.</p>")
    for version in versions:
        mine = [w for w in report.windows if w.model_version == version]
        parts.append(f"<h2>{_e(version)}</h2>")
        for name, read in SIGNALS:
            points = [(w.start_ms, read(w)) for w in mine]
            if any(value is not None for _, value in points):
                parts.append(_plot(name, [("", _LINE, points)], report.since_ms, report.until_ms))
        parts.extend(_compared(mine, report.since_ms, report.until_ms))
        parts.append(_table(mine))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _compared(windows: Sequence[Window], since_ms: int, until_ms: int) -> list[str]:
    """Estimated (CBPE) beside realised performance over time; decay marked."""
    decayed = [w.start_ms for w in windows if (w.checks.concept_drift or {}).get("decayed")]
    plots = []
    for name, key in COMPARED:
        estimated = [(w.start_ms, _estimated(key)(w)) for w in windows]
        if all(value is None for _, value in estimated):
            continue
        realised = [(w.start_ms, _performance(key)(w)) for w in windows]
        series = [("estimated (CBPE)", _ESTIMATED, estimated), ("realised", _LINE, realised)]
        plots.append(_plot(f"{name}: estimated and realised", series, since_ms, until_ms, decayed))
    return plots


def _plot(
    name: str,
    series: Sequence[tuple[str, str, Points]],
    since_ms: int,
    until_ms: int,
    marks: Sequence[int] = (),
) -> str:
    """A line per series (label, colour, points); ``marks``: times drawn as red rules
    (windows where decay was detected)."""
    every = [v for _, _, points in series for _, v in points if v is not None]
    top = max(every) or 1.0
    span = max(1, until_ms - since_ms)

    def x(t: int) -> float:
        return _PAD + (t - since_ms) / span * (_WIDTH - 2 * _PAD)

    def y(v: float) -> float:
        return _HEIGHT - _PAD / 2 - v / top * (_HEIGHT - _PAD)

    lines = []
    for index, (label, colour, points) in enumerate(series):
        known = [(t, v) for t, v in points if v is not None]
        line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in known)
        dots = "".join(f"<circle cx='{x(t):.1f}' cy='{y(v):.1f}' r='2.5'/>" for t, v in known)
        lines.append(
            f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{line}'/>"
            f"<g fill='{colour}'>{dots}</g>"
        )
        if label:
            lines.append(
                f"<text x='{_WIDTH - 140}' y='{12 + 12 * index}' fill='{colour}'>{_e(label)}</text>"
            )
    for t in marks:
        lines.append(
            f"<line x1='{x(t):.1f}' y1='{_PAD / 2}' x2='{x(t):.1f}' y2='{_HEIGHT - _PAD / 2}' "
            f"stroke='{_DECAY}' stroke-dasharray='3,2'><title>decay detected</title></line>"
        )
    if marks:
        lines.append(f"<text x='{_PAD}' y='12' fill='{_DECAY}'>decay detected (labels)</text>")
    return (
        f"<h3>{_e(name)}</h3>"
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_WIDTH}' height='{_HEIGHT}' "
        f"role='img' aria-label='{_e(name)} over time'>"
        f"<line x1='{_PAD}' y1='{_HEIGHT - _PAD / 2}' x2='{_WIDTH - _PAD}' "
        f"y2='{_HEIGHT - _PAD / 2}' stroke='#999'/>"
        f"<text x='2' y='{_PAD / 2 + 4}'>{top:.4g}</text>"
        f"<text x='2' y='{_HEIGHT - _PAD / 2}'>0</text>" + "".join(lines) + "</svg>"
    )


def _table(windows: Sequence[Window]) -> str:
    rows = [
        "<table><tr><th>window start</th><th>requests</th><th>rows</th><th>errors</th>"
        "<th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>drift</th><th>prediction</th>"
        "<th>performance</th><th>estimated (CBPE)</th><th>decay</th></tr>"
    ]
    for window in windows:
        data = window.to_dict()
        latency = data["latency_ms"]
        rows.append(
            f"<tr><td>{_e(data['start'])}</td><td class='num'>{window.requests:,}</td>"
            f"<td class='num'>{window.rows:,}</td><td class='num'>{window.errors:,}</td>"
            + "".join(f"<td class='num'>{_number(latency[k])}</td>" for k in ("p50", "p95", "p99"))
            + f"<td>{_e(drift_text(data['drift']))}</td>"
            f"<td>{_e(drift_text(data['prediction_drift']))}</td>"
            f"<td>{_e(performance_text(data['performance']))}</td>"
            f"<td>{_e(estimated_text(data['estimated_performance']))}</td>"
            f"<td>{_e(decay_text(data['concept_drift']))}</td></tr>"
        )
    rows.append("</table>")
    return "".join(rows)


def drift_text(found: dict[str, Any] | None) -> str:
    """``DRIFT (2/5: a, b)``, ``no drift`` or empty."""
    if found is None:
        return ""
    if "share" in found:
        names = found["drifted_features"]
        tested = len(found["features"])
        if found["drifted"] or names:
            label = "DRIFT" if found["drifted"] else "some drift"
            return f"{label} ({len(names)}/{tested}: {', '.join(names)})"
        return "no drift"
    return "DRIFT" if found.get("drifted") else "no drift"


def performance_text(found: dict[str, Any] | None) -> str:
    """``accuracy 0.953, F1 0.95 (40 labels)``, ``RMSE 1.2, MAE 0.9, R² 0.41`` or empty."""
    if not found:
        return ""
    shown = [
        f"{label} {found[key]:.3g}"
        for key, label in (
            ("accuracy", "accuracy"),
            ("f1", "F1"),
            ("roc_auc", "ROC AUC"),
            ("rmse", "RMSE"),
            ("mae", "MAE"),
            ("r2", "R²"),
        )
        if found.get(key) is not None
    ]
    return f"{', '.join(shown)} ({found['labelled']:,} labels)" if shown else ""


def estimated_text(found: dict[str, Any] | None) -> str:
    """``accuracy 0.95 ± 0.01, ROC AUC 0.98 (error +0.012)`` or empty."""
    if not found:
        return ""
    shown = []
    errors = found.get("errors") or {}
    for label, key in COMPARED:
        metric = (found.get("metrics") or {}).get(key)
        if metric is None or metric.get("value") is None:
            continue
        text = f"{label} {metric['value']:.3g} ± {1.96 * metric['standard_error']:.2g}"
        if key in errors:
            text += f" (error {errors[key]['error']:+.3f})"
        shown.append(text)
    return ", ".join(shown)


def decay_text(found: dict[str, Any] | None) -> str:
    """``DECAY (adwin)``, ``no decay (adwin)`` or empty."""
    if not found:
        return ""
    return f"{'DECAY' if found.get('decayed') else 'no decay'} ({found.get('detector')})"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
