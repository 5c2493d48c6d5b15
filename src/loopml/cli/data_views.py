"""Rich renderings for ``loopml data``: version lists, profiles, status and diffs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from loopml.cli import output
from loopml.core.entities import DatasetVersion
from loopml.core.refs import format_dataset_ref

if TYPE_CHECKING:
    from rich.table import Table

    from loopml.data.profiles import TableProfile
    from loopml.data.version_diff import ColumnStats, DatasetDiff, TableDiff
    from loopml.data.versions import DatasetStatus

_NUMERIC = ("numeric", "integer")
_LISTED_CHANGES = 20  # changed paths printed per kind; --json has them all


def print_diff(result: DatasetDiff) -> None:
    """The diff for people: files, then per table its schema changes and column statistics."""
    out = output.console()
    out.print(f"[bold]{output.escape(result.a)}[/] → [bold]{output.escape(result.b)}[/]")
    files = result.files
    out.print(
        f"Files: {len(files.added)} added, {len(files.removed)} removed, "
        f"{len(files.changed)} changed, {files.unchanged} unchanged",
        markup=False,
    )
    if files.added or files.removed or files.changed:
        out.print(_diff_files_table(result))
    if not result.tables:
        out.print("No table is in both versions.", markup=False)
    for changes in result.tables:
        rows = f"{changes.rows_a:,} → {changes.rows_b:,} rows"
        out.print(f"\n[bold]{output.escape(changes.path)}[/]: {rows}")
        for change in changes.schema_changes:
            out.print("  " + _DIFF_SCHEMA_MARKS[change.kind].format(c=change), markup=False)
        out.print(_diff_columns_table(changes))
        numbers = _diff_numbers_table(changes, _diff_labels(result.a, result.b))
        if numbers is not None:
            out.print(numbers)


_DIFF_FILE_ROWS = 50
_DIFF_VERDICT_STYLES = {"stable": "green", "moderate": "yellow", "major": "red"}
_DIFF_SCHEMA_MARKS = {
    "added": "+ column {c.column} added ({c.after})",
    "removed": "- column {c.column} removed (was {c.before})",
    "type_changed": "~ column {c.column}: type {c.before} → {c.after}",
    "nullability_changed": "~ column {c.column}: {c.before} → {c.after}",
}


def _diff_files_table(result: DatasetDiff) -> Table:
    from rich.table import Table

    files = result.files
    listing = Table(header_style="bold", box=None)
    for header in ("", "file", result.a, result.b):
        listing.add_column(output.escape(header), justify="right" if "@" in header else "left")
    marked = [("+", f) for f in files.added] + [("-", f) for f in files.removed]
    marked += [("~", f) for f in files.changed]
    for mark, f in sorted(marked, key=lambda m: m[1].path)[:_DIFF_FILE_ROWS]:
        before = "" if f.size_a is None else format_size(f.size_a)
        after = "" if f.size_b is None else format_size(f.size_b)
        listing.add_row(mark, output.escape(f.path), before, after)
    if len(marked) > _DIFF_FILE_ROWS:
        listing.add_row("", f"… {len(marked) - _DIFF_FILE_ROWS} more (see --json)", "", "")
    return listing


def _diff_labels(ref_a: str, ref_b: str) -> tuple[str, str]:
    """Short row labels: "@1"/"@2" for two versions of one dataset, else the whole refs."""
    name_a, _, number_a = ref_a.rpartition("@")
    name_b, _, number_b = ref_b.rpartition("@")
    return (f"@{number_a}", f"@{number_b}") if name_a == name_b else (ref_a, ref_b)


def _diff_columns_table(changes: TableDiff) -> Table:
    """One row per column: type, missing share, distinct count, top category (A → B where
    they differ) and the drift of B against A."""
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    table = Table(header_style="bold", box=SIMPLE_HEAD)
    for header in ("column", "type", "missing", "distinct", "top category", "PSI", "JS", "drift"):
        right = header in ("missing", "distinct", "PSI", "JS")
        table.add_column(header, justify="right" if right else "left")
    for column in changes.columns:
        a, b = column.a, column.b
        scores = ["", "", "[dim]not scored[/]" if a is not None and b is not None else ""]
        if column.drift is not None:
            style = _DIFF_VERDICT_STYLES[column.drift.verdict.value]
            psi, js = column.drift.psi, column.drift.js_distance
            scores = [f"{psi:.3f}", f"{js:.3f}", f"[{style}]{column.drift.verdict.value}[/]"]
        table.add_row(
            output.escape(column.name),
            *(_diff_pair(a, b, cell) for cell in _DIFF_CELLS),
            *scores,
        )
    return table


def _diff_numbers_table(changes: TableDiff, labels: tuple[str, str]) -> Table | None:
    """Two rows (A, then B) per number column: mean, std, min, quartiles, max."""
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    numeric = [c for c in changes.columns if _diff_is_number(c.a) or _diff_is_number(c.b)]
    if not numeric:
        return None
    table = Table(header_style="bold", box=SIMPLE_HEAD)
    for header in ("column", "", "mean", "std", "min", "p25", "median", "p75", "max"):
        table.add_column(header, justify="left" if header in ("column", "") else "right")
    for column in numeric:
        for side, stats in enumerate((column.a, column.b)):
            name = output.escape(column.name) if side == 0 else ""
            label = output.escape(labels[side])
            if not _diff_is_number(stats) or stats is None:
                table.add_row(name, label, "[dim]—[/]", *[""] * 6, end_section=side == 1)
                continue
            quartiles = [stats.quantiles.get(q) for q in ("0.25", "0.5", "0.75")]
            cells = [stats.mean, stats.std, stats.min, *quartiles, stats.max]
            table.add_row(name, label, *(_cell(v) for v in cells), end_section=side == 1)
    return table


def _diff_is_number(stats: ColumnStats | None) -> bool:
    return stats is not None and stats.logical_type in _NUMERIC


def _diff_pair(
    a: ColumnStats | None, b: ColumnStats | None, cell: Callable[[ColumnStats], str]
) -> str:
    before = "—" if a is None else cell(a)
    after = "—" if b is None else cell(b)
    if {before, after} <= {"", "—"}:  # nothing to show on either side
        return ""
    return before if before == after else f"{before} → {after}"


def _diff_top(stats: ColumnStats) -> str:
    if not stats.top_categories:
        return ""
    value, count = stats.top_categories[0]
    present = stats.count * (1 - stats.missing_fraction)
    share = f" {count / present:.0%}" if present else ""
    return output.escape(value if len(value) <= 16 else value[:15] + "…") + share


_DIFF_CELLS: tuple[Callable[[ColumnStats], str], ...] = (
    lambda s: s.logical_type,
    lambda s: f"{s.missing_fraction:.1%}" if s.missing_fraction else "0%",
    lambda s: f"{s.distinct:,}" if s.distinct_is_exact else f"~{s.distinct:,}",
    _diff_top,
)


def print_status(results: list[DatasetStatus]) -> None:
    out = output.console()
    if not results:
        out.print("No dataset records where it was added from; nothing to check.", markup=False)
    for result in results:
        found = result.found
        ref = format_dataset_ref(result.version.dataset, result.version.version)
        where = output.escape(found.source)
        if result.clean:
            out.print(f"[green]{output.escape(ref)}: up to date[/green] with {where}")
            continue
        counts = f"{len(found.modified)} modified, {len(found.added)} new, "
        counts += f"{len(found.removed)} deleted"
        out.print(f"[yellow]{output.escape(ref)}: {counts}[/yellow] in {where}")
        for label, paths, style in (
            ("modified", found.modified, "yellow"),
            ("new", found.added, "green"),
            ("deleted", found.removed, "red"),
        ):
            for changed in paths[:_LISTED_CHANGES]:
                out.print(f"  [{style}]{label + ':':10}[/{style}] {output.escape(changed)}")
            if len(paths) > _LISTED_CHANGES:
                out.print(f"  … and {len(paths) - _LISTED_CHANGES} more {label} (see --json)")


def files_text(count: int) -> str:
    return f"{count} file{'' if count == 1 else 's'}"


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def versions_table(versions: list[DatasetVersion], *, title: str) -> Table:
    from rich.table import Table

    table = Table(title=title, header_style="bold")
    for header in ("version", "created", "files", "size", "message"):
        table.add_column(header, justify="right" if header in ("files", "size") else "left")
    for v in versions:
        table.add_row(
            output.escape(format_dataset_ref(v.dataset, v.version)),
            output.format_time(v.created_at),
            str(v.file_count),
            format_size(v.size),
            output.escape(v.message),
        )
    return table


def profile_table(path: str, profile: TableProfile, *, limit: int | None = None) -> Table:
    """A table with one row per column of ``profile`` (the first ``limit`` columns if set)."""
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    title = f"{output.escape(path)}: {profile.rows:,} rows × {len(profile.columns)} columns"
    table = Table(title=title, title_justify="left", header_style="bold", box=SIMPLE_HEAD)
    for header in ("column", "type", "missing", "distinct", "min", "max", "mean"):
        left = header in ("column", "type")
        table.add_column(header, justify="left" if left else "right", no_wrap=header == "type")
    for c in profile.columns[:limit]:
        distinct = f"{c.distinct:,}" if c.distinct_is_exact else f"~{c.distinct:,}"
        table.add_row(
            output.escape(c.name),
            str(c.logical_type),
            f"{c.missing:,}",
            distinct,
            _cell(c.min),
            _cell(c.max),
            _cell(c.mean) if c.logical_type in _NUMERIC else "",
        )
    if limit is not None and len(profile.columns) > limit:
        table.caption = f"… {len(profile.columns) - limit} more columns"
        table.caption_justify = "left"
    return table


def _cell(value: float | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return output.format_number(value)
    return output.escape(value if len(value) <= 24 else value[:23] + "…")
