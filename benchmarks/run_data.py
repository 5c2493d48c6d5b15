"""Data versioning benchmarks: loopml beside DVC, on this machine, in one run.

    .venv/bin/python benchmarks/run_data.py            # the real run: 1 GiB, 10,000 files
    .venv/bin/python benchmarks/run_data.py --quick    # a smoke run: 64 MiB, 1,000 files
    .venv/bin/python benchmarks/run_data.py --only small,profile --repeat 5

DVC is installed into its own virtualenv (``benchmarks/.venvs/dvc``, created on first use).
Prints a table of both numbers, the ratio and the goals from issue 3, and writes every raw
timing to ``benchmarks/results/data-<date>.json`` (``data-<date>-quick.json`` for --quick).

Method:

- Both tools are driven through their command lines, as a user types them (``dvc add big.bin``
  vs ``loopml data add big big.bin``, ``dvc status`` vs ``loopml data status``); the time is
  the wall time of the whole command, interpreter start included, on ``perf_counter``.
- The data is generated once per run (random bytes: nothing compresses or deduplicates) and
  every repetition of every tool gets a fresh project (``dvc init --no-scm`` / ``loopml
  init``) with a fresh copy of it, in a temporary folder (``--workdir``) on one filesystem.
  The copy is synced to disk before the clock starts, and stays in the page cache: both tools
  read warm data alike. The same command runs again for "re-add unchanged"; then one file of
  the folder gets new bytes of the same size.
- Repetitions alternate between the tools (DVC, loopml, then loopml, DVC, ...) so that load
  from elsewhere on the machine falls on both alike; medians and the best repetition are
  reported, with the CPU pressure (``/proc/pressure/cpu``) during each command in the JSON.
- After every timed command the script calls ``os.sync()`` (timed apart, as ``*_sync``), so
  that what one tool left for the kernel to write back is not written during the other's
  turn. loopml fsyncs the blobs it stores before it records a version; DVC does not, so its
  add time excludes the writeback; the "then sync to disk" row adds it back.
- DVC runs with analytics off and its site cache (state db: hashes by inode, size and mtime)
  and config folders inside the temporary folder, so nothing outside it is read or written.
- ``loopml.data.status`` in process (``_loopml_data_side.py``): ``import loopml.data`` before
  the clock, then the first call in that fresh process, then a few more.
- Profiling (loopml only): ``profile_table.make_table`` written once as Parquet and CSV; each
  file profiled ``--repeat`` times in a process of its own; peak memory is the rise of the
  process's peak RSS over its value after imports, divided by the table's Arrow size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from _data_report import build_rows, describe_machine, print_machine, render_table
from _venvs import ensure_installed
from run_tracking import cpu_stall_us

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
DVC_VENV = HERE / ".venvs" / "dvc"
DVC_SPEC = "dvc==3.67.*"
LOOPML = Path(sys.executable).parent / "loopml"
RESULT_PREFIX = "BENCH_RESULT "
COMMAND_TIMEOUT_S = 3600
TOOLS = ("dvc", "loopml")
GROUPS = ("big", "small", "profile")
MIB = 2**20


@dataclass(frozen=True)
class Sizes:
    big_bytes: int
    small_files: int
    small_folders: int
    small_min_bytes: int
    small_max_bytes: int
    rows: int
    api_calls: int  # warm loopml.data.status calls after the first, per repetition


FULL = Sizes(1024 * MIB, 10_000, 20, 200, 1200, 1_000_000, 5)
QUICK = Sizes(64 * MIB, 1_000, 20, 200, 1200, 100_000, 5)


# --- setting up DVC -------------------------------------------------------------------------
def ensure_dvc(spec: str) -> str:
    """Create ``benchmarks/.venvs/dvc`` and install ``spec`` there unless it already has a
    matching DVC (``3.67.*`` matches 3.67.1); return the installed version."""
    return ensure_installed(DVC_VENV, spec, "dvc", option="--dvc-spec 'dvc==3.X.*'")


# --- the data -------------------------------------------------------------------------------
def write_big(path: Path, size: int) -> None:
    """``size`` random bytes (incompressible, no repeated blocks)."""
    chunk = 16 * MIB
    with path.open("wb") as out:
        for offset in range(0, size, chunk):
            out.write(os.urandom(min(chunk, size - offset)))


def small_files(sizes: Sizes) -> Iterator[tuple[str, int]]:
    """``(relative path, size)`` of every small file, spread over ``small_folders`` folders."""
    rng = random.Random(42)
    for i in range(sizes.small_files):
        size = rng.randint(sizes.small_min_bytes, sizes.small_max_bytes)
        yield f"part-{i % sizes.small_folders:02d}/file-{i:05d}.bin", size


def write_small(folder: Path, sizes: Sizes) -> str:
    """Write the small files; return the one that scenario 5 modifies (in the middle)."""
    rng = random.Random(7)
    relatives = []
    for relative, size in small_files(sizes):
        file = folder / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(rng.randbytes(size))
        relatives.append(relative)
    return relatives[len(relatives) // 2]


def modify(file: Path) -> None:
    """New content of the same size: only the bytes (and the mtime) tell it changed."""
    file.write_bytes(random.Random(99).randbytes(file.stat().st_size))


# --- running commands -----------------------------------------------------------------------
class CommandError(RuntimeError):
    pass


@dataclass
class Timed:
    seconds: float
    sync_seconds: float  # the os.sync() right after, outside ``seconds``
    stdout: str
    cpu_pressure_pct: float | None


class Bench:
    """The run's folders, environment and tools; times one command at a time."""

    def __init__(self, root: Path, sizes: Sizes, repeat: int, keep: bool) -> None:
        self.root, self.sizes, self.repeat, self.keep = root, sizes, repeat, keep
        self.data = root / "data"
        self.dvc = DVC_VENV / "bin" / "dvc"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "DVC_"))}
        self.env = {
            **env,
            "PYTHONPATH": str(HERE),
            "DVC_NO_ANALYTICS": "1",
            # DVC's state db (hashes by inode/mtime/size) and link db go here, not /var/tmp
            "DVC_SITE_CACHE_DIR": str(root / "dvc-site-cache"),
            "DVC_GLOBAL_CONFIG_DIR": str(root / "dvc-config" / "global"),
            "DVC_SYSTEM_CONFIG_DIR": str(root / "dvc-config" / "system"),
        }
        self.errors: list[str] = []

    # commands as a user types them
    def init(self, tool: str, folder: Path) -> None:
        folder.mkdir(parents=True)
        if tool == "dvc":
            self.run([str(self.dvc), "init", "--no-scm", "--quiet"], folder)
        else:
            self.run([str(LOOPML), "init", str(folder)], folder)

    def add_cmd(self, tool: str, target: str) -> list[str]:
        """``dvc add big.bin`` / ``loopml data add big big.bin`` (the dataset is the stem)."""
        if tool == "dvc":
            return [str(self.dvc), "add", target]
        return [str(LOOPML), "data", "add", Path(target).stem, target]

    def status_cmd(self, tool: str, *, as_json: bool = False) -> list[str]:
        if tool == "dvc":
            return [str(self.dvc), "status", *(["--json"] if as_json else [])]
        return [str(LOOPML), "data", "status", *(["--json"] if as_json else [])]

    def run(self, cmd: list[str], cwd: Path) -> str:
        """Run ``cmd`` untimed; its stdout. Raises CommandError if it fails."""
        done = subprocess.run(
            cmd, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S
        )
        if done.returncode != 0:
            tail = (done.stdout + done.stderr)[-2000:]
            raise CommandError(
                f"{' '.join(Path(c).name for c in cmd[:3])} … exit code {done.returncode}:\n{tail}"
            )
        return done.stdout

    def timed(self, cmd: list[str], cwd: Path) -> Timed:
        """Wall time of ``cmd``, then ``os.sync()`` (timed apart) so that data one tool left
        for the kernel to write back is not written during the other tool's turn."""
        stall = cpu_stall_us()
        start = time.perf_counter()
        stdout = self.run(cmd, cwd)
        seconds = time.perf_counter() - start
        after = cpu_stall_us()
        pressure = None
        if stall is not None and after is not None:
            pressure = round(100 * (after - stall) / 1e6 / seconds, 1)
        start = time.perf_counter()
        os.sync()
        return Timed(seconds, time.perf_counter() - start, stdout, pressure)

    def side(self, bench: str, workdir: Path, spec: dict[str, Any]) -> dict[str, Any]:
        """One in-process measurement by ``_loopml_data_side.py`` in a fresh process."""
        cmd = [sys.executable, str(HERE / "_loopml_data_side.py"), bench]
        cmd += ["--workdir", str(workdir), "--spec", json.dumps(spec)]
        stdout = self.run(cmd, workdir)
        lines = [line for line in stdout.splitlines() if line.startswith(RESULT_PREFIX)]
        if not lines:
            raise CommandError(f"_loopml_data_side.py {bench} printed no result")
        result: dict[str, Any] = json.loads(lines[-1][len(RESULT_PREFIX) :])
        return result

    def fresh(self, name: str) -> Path:
        folder = self.root / "runs" / name
        shutil.rmtree(folder, ignore_errors=True)
        return folder

    def done_with(self, folder: Path) -> None:
        if not self.keep:
            shutil.rmtree(folder, ignore_errors=True)

    def orders(self) -> Iterator[tuple[int, tuple[str, ...]]]:
        """Repetitions take turns: DVC, loopml, then loopml, DVC, ..."""
        for rep in range(self.repeat):
            yield rep, TOOLS if rep % 2 == 0 else TOOLS[::-1]


def loopml_status_available(bench: Bench) -> bool:
    done = subprocess.run(
        [str(LOOPML), "data", "status", "--help"], env=bench.env, capture_output=True, check=False
    )
    return done.returncode == 0


def change_counts(document: Any) -> dict[str, int]:
    """Counts under the keys ``added``/``modified``/``deleted``/... anywhere in a status JSON
    (a list counts its items, a number is taken as is; ``dvc status`` says "modified")."""
    counts: dict[str, int] = {}
    keys = {"added", "new", "modified", "changed", "deleted", "removed", "missing", "unchanged"}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in keys and isinstance(value, list | int) and not isinstance(value, bool):
                    counts[key] = counts.get(key, 0) + (
                        len(value) if isinstance(value, list) else value
                    )
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
        elif node in keys:  # dvc: {"small.dvc": [{"changed outs": {"small": "modified"}}]}
            counts[str(node)] = counts.get(str(node), 0) + 1

    walk(document)
    return counts


def status_problem(tool: str, found: Any, counts: dict[str, int], *, modified: bool) -> str:
    """What is wrong with a status answer ("" if nothing): unchanged must be clean, and after
    the change exactly one file (loopml) or the folder (DVC) must be modified."""
    changed = sum(counts.get(key, 0) for key in counts if key != "unchanged")
    if tool == "loopml" and not found:
        return "'loopml data status' reported no dataset (is the added-from source recorded?)"
    if not modified and changed:
        return f"the unchanged workspace was reported as changed: {counts}"
    if modified and (counts.get("modified") != 1 or changed != 1):
        return f"expected exactly 1 modified, got {counts}"
    return ""


def json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text.strip()[-500:]


# --- the scenarios --------------------------------------------------------------------------
def dvc_cache_facts(folder: Path, target: str) -> dict[str, Any]:
    """What ``dvc add`` did with ``target``: its hash algorithm and how the workspace file
    relates to the cache copy (same inode = hardlink; a symlink; else a copy or reflink)."""
    text = (folder / f"{target}.dvc").read_text()
    fields = dict(line.strip(" -").split(": ", 1) for line in text.splitlines() if ": " in line)
    digest = fields.get("md5", "")
    facts: dict[str, Any] = {"dvc_file": text, "hash": fields.get("hash", "md5 (2.x format)")}
    cache = folder / ".dvc" / "cache" / "files" / "md5" / digest[:2] / digest[2:]
    work = folder / target
    if work.is_symlink():
        facts["workspace_link"] = "symlink"
    elif cache.exists():
        same = work.stat().st_ino == cache.stat().st_ino
        facts["workspace_link"] = "hardlink" if same else "copy (or reflink)"
    return facts


def big_rep(bench: Bench, tool: str, rep: int) -> dict[str, Any]:
    """Scenario 1 (add a big file) and 3 (add it again, unchanged)."""
    folder = bench.fresh(f"big-{tool}-{rep}")
    try:
        bench.init(tool, folder)
        shutil.copyfile(bench.data / "big.bin", folder / "big.bin")
        os.sync()  # the copy is on disk and in the page cache, for both tools alike
        add = bench.timed(bench.add_cmd(tool, "big.bin"), folder)
        readd = bench.timed(bench.add_cmd(tool, "big.bin"), folder)
        out: dict[str, Any] = {
            "add": add.seconds,
            "add_sync": add.sync_seconds,
            "readd": readd.seconds,
            "cpu_pressure_pct": [add.cpu_pressure_pct, readd.cpu_pressure_pct],
            "readd_output": readd.stdout.strip()[-300:],
        }
        if tool == "dvc" and rep == 0:
            out["dvc_facts"] = dvc_cache_facts(folder, "big.bin")
        if tool == "loopml":
            out["readd_no_change"] = "No change" in readd.stdout
        return out
    finally:
        bench.done_with(folder)


def small_rep(bench: Bench, tool: str, rep: int, changed: str, api: bool) -> dict[str, Any]:
    """Scenarios 2-5 on one fresh project: add the folder, add it again, status, (loopml:
    status in process), modify one file, status, add again. A failing status is recorded and
    the rest goes on."""
    folder = bench.fresh(f"small-{tool}-{rep}")
    steps: dict[str, Timed] = {}
    out: dict[str, Any] = {}

    def status(key: str) -> None:
        if tool == "loopml" and not api:
            return
        try:
            steps[key] = bench.timed(bench.status_cmd(tool), folder)
            found = json_or_text(bench.run(bench.status_cmd(tool, as_json=True), folder))
        except CommandError as exc:
            bench.errors.append(f"small/{tool} rep {rep} {key}: {exc}")
            out[f"{key}_error"] = str(exc)
            return
        out[f"{key}_json"] = found
        out[f"{key}_counts"] = counts = change_counts(found)
        problem = status_problem(tool, found, counts, modified=key == "status_modified")
        if problem:  # a status that saw nothing, or the wrong thing, timed nothing useful
            bench.errors.append(f"small/{tool} rep {rep} {key}: {problem}")
            out[f"{key}_error"] = problem

    try:
        bench.init(tool, folder)
        shutil.copytree(bench.data / "small", folder / "small")
        os.sync()
        steps["add"] = bench.timed(bench.add_cmd(tool, "small"), folder)
        steps["readd"] = bench.timed(bench.add_cmd(tool, "small"), folder)
        out["readd_output"] = steps["readd"].stdout.strip()[-300:]
        status("status")
        if tool == "loopml":  # the side says whether loopml.data.status exists
            spec = {"name": "small", "calls": bench.sizes.api_calls}
            out["api"] = bench.side("status_api", folder, spec)
            if "error" in out["api"]:
                bench.errors.append(f"small/loopml rep {rep} API: {out['api']['error']}")
        modify(folder / "small" / changed)
        os.sync()
        status("status_modified")
        steps["readd_modified"] = bench.timed(bench.add_cmd(tool, "small"), folder)
        out["readd_modified_output"] = steps["readd_modified"].stdout.strip()[-300:]
        if tool == "loopml":
            out["readd_no_change"] = "No change" in steps["readd"].stdout
        if tool == "dvc" and rep == 0:
            out["dvc_facts"] = dvc_cache_facts(folder, "small")
        out.update({name: step.seconds for name, step in steps.items()})
        out["cpu_pressure_pct"] = {name: step.cpu_pressure_pct for name, step in steps.items()}
        return out
    finally:
        bench.done_with(folder)


def run_alternating(
    bench: Bench, group: str, rep_fn: Callable[[str, int], dict[str, Any]]
) -> dict[str, Any]:
    """Every repetition of ``group`` for both tools, taking turns; per tool the repetitions'
    results and each measure's list of seconds."""
    reps: dict[str, list[dict[str, Any]]] = {tool: [] for tool in TOOLS}
    for rep, order in bench.orders():
        for tool in order:
            print(f"  {group} rep {rep + 1}/{bench.repeat}: {tool}", flush=True)
            try:
                result = rep_fn(tool, rep)
            except (CommandError, subprocess.TimeoutExpired) as exc:
                bench.errors.append(f"{group}/{tool} rep {rep}: {exc}")
                print(f"    ERROR {exc}", flush=True)
                continue
            reps[tool].append(result)
            timings = {k: round(v, 3) for k, v in result.items() if isinstance(v, float)}
            print(f"    {timings}", flush=True)
    pooled: dict[str, Any] = {}
    for tool, results in reps.items():
        measures = {k for r in results for k, v in r.items() if isinstance(v, float)}
        pooled[tool] = {
            "seconds": {k: [r[k] for r in results if k in r] for k in sorted(measures)},
            "repetitions": results,
        }
        api = [r["api"] for r in results if "first_seconds" in r.get("api", {})]
        if api:
            pooled[tool]["seconds"]["api_first"] = [a["first_seconds"] for a in api]
            pooled[tool]["seconds"]["api_warm"] = [s for a in api for s in a["warm_seconds"]]
    return pooled


def run_profile(bench: Bench) -> dict[str, Any]:
    """Scenario 6, loopml only: the table written once, each format profiled in a process of
    its own (``repeat`` profiles; peak RSS over all of them)."""
    folder = bench.data / "table"
    folder.mkdir(parents=True, exist_ok=True)
    made = bench.side("make_tables", folder, {"rows": bench.sizes.rows})
    out: dict[str, Any] = {"table": made}
    for fmt in ("parquet", "csv"):
        print(f"  profile {fmt}", flush=True)
        spec = {
            "path": made["files"][fmt],
            "format": fmt,
            "arrow_bytes": made["arrow_bytes"],
            "repeats": bench.repeat,
        }
        try:
            out[fmt] = bench.side("profile", folder, spec)
        except CommandError as exc:
            bench.errors.append(f"profile/{fmt}: {exc}")
            out[fmt] = {"error": str(exc)}
    return out


# --- main -----------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark loopml data versioning beside DVC on this machine."
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per command")
    parser.add_argument(
        "--only",
        default=",".join(GROUPS),
        help="comma-separated groups: big (scenarios 1, 3), small (2-5), profile (6)",
    )
    parser.add_argument(
        "--workdir", type=Path, help="where the temporary folders go (default: system temp)"
    )
    parser.add_argument("--dvc-spec", default=DVC_SPEC, help="pip requirement for DVC")
    parser.add_argument("--output", type=Path, help="where to write the JSON results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {GROUPS}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def run_all(bench: Bench, only: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    sizes = bench.sizes
    if {"big", "small"} & set(only):
        print("\n== generating the data (once, for both tools)", flush=True)
    if "big" in only:
        bench.data.mkdir(parents=True, exist_ok=True)
        write_big(bench.data / "big.bin", sizes.big_bytes)
        print(f"\n== big: add a {sizes.big_bytes // MIB} MiB file, then again", flush=True)
        results["big"] = run_alternating(bench, "big", lambda tool, rep: big_rep(bench, tool, rep))
    if "small" in only:
        changed = write_small(bench.data / "small", sizes)
        api = loopml_status_available(bench)
        results["loopml_status_available"] = api
        if not api:
            print("  'loopml data status' is not available: its scenarios are skipped")
        print(f"\n== small: {sizes.small_files:,} files; add, re-add, status, modify", flush=True)
        results["small"] = run_alternating(
            bench, "small", lambda tool, rep: small_rep(bench, tool, rep, changed, api)
        )
        results["small"]["modified_file"] = changed
    if "profile" in only:
        print(f"\n== profile: {sizes.rows:,} rows × 25 columns (loopml only)", flush=True)
        results["profile"] = run_profile(bench)
    return results


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = QUICK if args.quick else FULL
    if not LOOPML.exists():
        raise SystemExit(f"No loopml console script at {LOOPML}; run from the project's .venv.")
    dvc_version = ensure_dvc(args.dvc_spec)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="loopml-bench-data-", dir=args.workdir))
    info = describe_machine(dvc_version, root)
    print_machine(info)
    print(f"Working in {root}")
    started = dt.datetime.now(dt.UTC)
    bench = Bench(root, sizes, args.repeat, args.keep)
    try:
        results = run_all(bench, args.only)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    rows = build_rows(results, sizes)
    print()
    print_machine(info)
    print(
        f"Date: {started:%Y-%m-%d %H:%M} UTC{' (--quick sizes)' if args.quick else ''}; "
        f"medians of {args.repeat} repetitions, the best one in brackets\n"
    )
    print(render_table(rows))
    for error in bench.errors:
        print(f"ERROR {error}")
    output = args.output or RESULTS / (
        f"data-{started:%Y-%m-%d}{'-quick' if args.quick else ''}.json"
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "date": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "repeat": args.repeat,
        "machine": info,
        "dvc_spec": args.dvc_spec,
        "sizes": asdict(sizes),
        "results": results,
        "errors": bench.errors,
        "table": [
            {
                "scenario": row.name,
                "unit": row.unit,
                "dvc_median": row.med(row.dvc),
                "loopml_median": row.med(row.loopml),
                "dvc_best": row.best(row.dvc, row.higher_is_better),
                "loopml_best": row.best(row.loopml, row.higher_is_better),
                "loopml_faster_by": row.ratio,
                "goal": row.goal,
                "result": row.verdict,
            }
            for row in rows
        ],
    }
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nResults written to {output}")
    return 1 if bench.errors else 0


if __name__ == "__main__":
    sys.exit(main())
