"""The report of ``run_data.py``: the table (medians, best repetition, ratio, goal, PASS/FAIL)
and the machine description. Standard library only."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _tables import markdown_table
from run_tracking import machine_info

if TYPE_CHECKING:
    from run_data import Sizes

MIB = 2**20


# --- the table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """One line of the table: each tool's list of seconds (or one value), the goal and a check
    on (DVC median ÷ loopml median, loopml median)."""

    name: str
    unit: str
    dvc: list[float] | None
    loopml: list[float] | None
    goal: str = "—"
    check: Callable[[float | None, float], bool] | None = None
    higher_is_better: bool = False
    missing: str = "error"  # what an absent loopml value means: "error" or "not available"

    @staticmethod
    def med(values: list[float] | None) -> float | None:
        return float(statistics.median(values)) if values else None

    @staticmethod
    def best(values: list[float] | None, higher: bool) -> float | None:
        if not values:
            return None
        return max(values) if higher else min(values)

    @property
    def ratio(self) -> float | None:
        dvc, loopml = self.med(self.dvc), self.med(self.loopml)
        if not dvc or not loopml:
            return None
        return loopml / dvc if self.higher_is_better else dvc / loopml

    @property
    def verdict(self) -> str:
        if self.check is None:
            return ""
        loopml = self.med(self.loopml)
        if loopml is None:
            return "n/a" if self.missing == "not available" else "error"
        return "PASS" if self.check(self.ratio, loopml) else "FAIL"


def build_rows(results: dict[str, Any], sizes: Sizes) -> list[Row]:
    def secs(group: str, tool: str, key: str) -> list[float] | None:
        found = results.get(group, {}).get(tool, {}).get("seconds", {}).get(key)
        return list(found) if found else None

    def at_least(factor: float) -> Callable[[float | None, float], bool]:
        return lambda ratio, _: ratio is not None and ratio >= factor

    def at_most(limit: float) -> Callable[[float | None, float], bool]:
        return lambda _, value: value <= limit

    big = (
        f"{sizes.big_bytes / 2**30:g} GiB"
        if sizes.big_bytes >= 2**30
        else (f"{sizes.big_bytes // MIB} MiB")
    )
    files = f"{sizes.small_files:,} files"
    status_missing = "error" if results.get("loopml_status_available") else "not available"
    repetitions = results.get("small", {}).get("loopml", {}).get("repetitions", [])
    api_absent = any(not r.get("api", {}).get("available", True) for r in repetitions)
    api_missing = "not available" if api_absent else "error"
    rows: list[Row] = []
    if "big" in results:

        def throughput(tool: str) -> list[float] | None:
            found = secs("big", tool, "add")
            return [sizes.big_bytes / 1e6 / s for s in found] if found else None

        def with_sync(tool: str) -> list[float] | None:
            add, sync = secs("big", tool, "add"), secs("big", tool, "add_sync")
            return [a + s for a, s in zip(add, sync, strict=True)] if add and sync else None

        rows += [
            Row(
                f"1. add a {big} file",
                "s",
                secs("big", "dvc", "add"),
                secs("big", "loopml", "add"),
                "≥ 5×",
                at_least(5),
            ),
            Row(
                f"1. add a {big} file, throughput",
                "MB/s",
                throughput("dvc"),
                throughput("loopml"),
                higher_is_better=True,
            ),
            Row(
                f"1. add a {big} file, then sync to disk",
                "s",
                with_sync("dvc"),
                with_sync("loopml"),
            ),
            Row(
                f"3. re-add the {big} file, unchanged",
                "s",
                secs("big", "dvc", "readd"),
                secs("big", "loopml", "readd"),
            ),
        ]
    if "small" in results:

        def api(key: str) -> list[float] | None:
            return secs("small", "loopml", key)

        rows += [
            Row(
                f"2. add a folder of {files}",
                "s",
                secs("small", "dvc", "add"),
                secs("small", "loopml", "add"),
                "≥ 5×",
                at_least(5),
            ),
            Row(
                f"3. re-add the {files}, unchanged",
                "s",
                secs("small", "dvc", "readd"),
                secs("small", "loopml", "readd"),
            ),
            Row(
                f"4. status, {files} unchanged (CLI)",
                "s",
                secs("small", "dvc", "status"),
                secs("small", "loopml", "status"),
                "≤ 0.2 s",
                at_most(0.2),
                missing=status_missing,
            ),
            Row(
                "4. status unchanged, API: first call (opens the store)",
                "s",
                None,
                api("api_first"),
                missing=api_missing,
            ),
            Row(
                "4. status unchanged, API: the check itself (store open)",
                "s",
                None,
                api("api_warm"),
                "≤ 0.2 s",
                at_most(0.2),
                missing=api_missing,
            ),
            Row(
                f"5. status, 1 of {files} modified (CLI)",
                "s",
                secs("small", "dvc", "status_modified"),
                secs("small", "loopml", "status_modified"),
                missing=status_missing,
            ),
            Row(
                f"5. re-add after modifying 1 of {files}",
                "s",
                secs("small", "dvc", "readd_modified"),
                secs("small", "loopml", "readd_modified"),
            ),
        ]
    profile = results.get("profile", {})
    for fmt, label in (("csv", "CSV"), ("parquet", "Parquet")):
        measured = profile.get(fmt)
        if measured is None:
            continue
        rows_label = f"{sizes.rows:,} rows × 25 columns"
        ratio = [measured["peak_over_data"]] if "peak_over_data" in measured else None
        rows += [
            Row(
                f"6. profile {label}, {rows_label}",
                "s",
                None,
                measured.get("seconds"),
                "≤ 3 s",
                at_most(3),
            ),
            Row(f"6. profile {label}, peak RSS ÷ Arrow size", "×", None, ratio, "≤ 2×", at_most(2)),
        ]
    return rows


def fmt(number: float | None, unit: str) -> str:
    if number is None:
        return "—"
    if unit == "s":
        return f"{number:,.3f}" if number < 10 else f"{number:,.1f}"
    if unit == "×":
        return f"{number:.2f}×"
    return f"{number:,.0f}" if number >= 100 else f"{number:,.1f}"


def fmt_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:,.0f}×" if ratio >= 10 else f"{ratio:,.2f}×"


def render_table(rows: list[Row]) -> str:
    """A GitHub-flavoured Markdown table: medians, and the best repetition in brackets."""
    header = ["scenario", "unit", "DVC", "loopml", "loopml faster by", "goal", "result"]
    lines = [header]
    for row in rows:
        cells = []
        for values, is_loopml in ((row.dvc, False), (row.loopml, True)):
            if not values:
                missing = row.missing if is_loopml else "—"
                cells.append("n/a" if missing == "not available" else missing)
                continue
            text = fmt(row.med(values), row.unit)
            if len(values) > 1:
                text += f" ({fmt(row.best(values, row.higher_is_better), row.unit)})"
            cells.append(text)
        lines.append([row.name, row.unit, *cells, fmt_ratio(row.ratio), row.goal, row.verdict])
    return markdown_table(lines, right={2, 3, 4})


# --- the machine ----------------------------------------------------------------------------
def disk_info(path: Path) -> dict[str, Any]:
    """The filesystem under ``path`` (where both tools read and write) and its device."""
    resolved, best = str(path.resolve()), ("", "", "")
    with open("/proc/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            device, mount, fstype = line.split()[:3]
            inside = resolved == mount or resolved.startswith(mount.rstrip("/") + "/")
            if inside and len(mount) > len(best[1]):
                best = (device, mount, fstype)
    stat = os.statvfs(path)
    info: dict[str, Any] = {
        "path": str(path),
        "device": best[0],
        "mount": best[1],
        "fstype": best[2],
        "size_gib": round(stat.f_blocks * stat.f_frsize / 2**30, 1),
        "free_gib": round(stat.f_bavail * stat.f_frsize / 2**30, 1),
    }
    block = Path("/sys/block") / Path(best[0]).name.rstrip("0123456789")
    rotational = block / "queue" / "rotational"
    if rotational.exists():
        info["rotational"] = rotational.read_text().strip() == "1"
        info["virtio"] = Path(best[0]).name.startswith("vd")
    return info


def describe_machine(dvc_version: str, workdir: Path) -> dict[str, Any]:
    info = machine_info(None)
    info.pop("mlflow", None)
    info.pop("sqlite", None)
    return {**info, "dvc": dvc_version, "disk": disk_info(workdir)}


def print_machine(info: dict[str, Any]) -> None:
    disk = info["disk"]
    print(
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gib']} GiB RAM, "
        f"{info['os']}; Python {info['python']}; DVC {info['dvc']}, loopml {info['loopml']} "
        f"(commit {info['loopml_commit'] or 'none yet'}"
        f"{', src/ modified' if info['loopml_src_modified'] else ''}); disk {disk['device']} "
        f"{disk['fstype']} ({disk['size_gib']} GiB, {disk['free_gib']} free"
        "); "
        f"load average at start {info['load_average_at_start']}"
    )
