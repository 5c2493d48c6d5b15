"""Pipeline executor overhead: loopml beside Metaflow and ZenML, on this machine, in one run.

    .venv/bin/python benchmarks/run_pipelines.py                  # all three, 3 repetitions
    .venv/bin/python benchmarks/run_pipelines.py --tools loopml --repeat 5
    .venv/bin/python benchmarks/run_pipelines.py --steps 50 --tools loopml,zenml

Metaflow and ZenML are installed into virtualenvs of their own (``benchmarks/.venvs/<tool>``,
created on first use). Prints a table of every tool's numbers, their ratio to loopml's and
loopml's goals from issue 4, and writes every raw timing to
``benchmarks/results/pipelines-<date>.json``.

The pipeline is a chain of ``--steps`` steps (20), each adding one to an int, so what is
measured is each tool's own work per step. Method:

- Commands, as a user types them, each timed whole (interpreter start and imports included)
  in a fresh project folder per repetition: ``startup`` imports the tool and defines the
  pipeline without running it (Metaflow: ``python flow.py show``); ``cold`` is the first run;
  ``rerun`` runs it again with everything reused: loopml and ZenML rerun the script and every
  step is a cache hit; Metaflow has no step cache, so it is ``python flow.py resume``, which
  for a run that succeeded clones every task of it into a new run and executes none. Per step:
  (cold - startup) ÷ steps.
- In process (loopml and ZenML; Metaflow runs every task in a process of its own): imports
  done and store open (a 1-step pipeline with another seed ran first), the cold run and the
  cached rerun on the clock: loopml's goals (issue 4) are stated on these.
- Repetitions alternate the order of the tools; every command's CPU pressure (PSI) is kept in
  the JSON. Everything stays in the temporary folder: Metaflow's config, datastore and
  metadata (local), ZenML's config, SQLite store and artifact store; ZenML analytics is off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _data_report import fmt_ratio
from _tables import markdown_table
from _venvs import VENVS, ensure_installed, venv_python
from run_tracking import cpu_stall_us, machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
METAFLOW_SPEC = "metaflow==2.19.39"
ZENML_SPEC = "zenml[local]==0.98.0"  # [local]: what running with no server needs
TOOLS = ("loopml", "metaflow", "zenml")
LABELS = {"loopml": "loopml", "metaflow": "Metaflow", "zenml": "ZenML"}
LOOPML = Path(sys.executable).parent / "loopml"
RESULT_PREFIX = "BENCH_RESULT "
COMMAND_TIMEOUT_S = 900
GOAL_STEP_MS = 20.0
GOAL_CACHED_S = 0.5


# --- the pipelines --------------------------------------------------------------------------
def metaflow_flow(steps: int) -> str:
    """The chain as a Metaflow flow file: ``start``, ``step_02`` ... and ``end``, each adding
    one to ``self.value``; ``end`` prints the value."""
    names = ["start", *(f"step_{i:02d}" for i in range(2, steps)), "end"]
    lines = ["from metaflow import FlowSpec, step", "", "", "class ChainFlow(FlowSpec):"]
    for index, name in enumerate(names):
        lines += ["    @step", f"    def {name}(self):"]
        lines.append(f"        self.value = {'0' if index == 0 else 'self.value'} + 1")
        if name == "end":
            lines.append('        print(f"value {self.value}")')
        else:
            lines.append(f"        self.next(self.{names[index + 1]})")
        lines.append("")
    lines += ["", 'if __name__ == "__main__":', "    ChainFlow()", ""]
    return "\n".join(lines)


# --- the tools ------------------------------------------------------------------------------
class CommandError(RuntimeError):
    pass


@dataclass(frozen=True)
class Timed:
    seconds: float
    output: str  # stdout and stderr
    cpu_pressure_pct: float | None


@dataclass
class Tool:
    """How to set up a project, and the commands of one repetition, for one tool."""

    name: str
    python: Path
    env: Callable[[Path], dict[str, str]]  # the environment, given the project folder
    version: str = ""
    repetitions: list[dict[str, Any]] = field(default_factory=list)

    def run(self, cmd: list[str], folder: Path) -> Timed:
        """Run ``cmd`` in ``folder`` on the clock; CommandError if it fails."""
        stall = cpu_stall_us()
        start = time.perf_counter()
        done = subprocess.run(
            cmd,
            cwd=folder,
            env=self.env(folder),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
        seconds = time.perf_counter() - start
        after = cpu_stall_us()
        pressure = None
        if stall is not None and after is not None:
            pressure = round(100 * (after - stall) / 1e6 / seconds, 1)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr)[-2000:]
            raise CommandError(f"{' '.join(cmd[1:4])} … exit code {done.returncode}:\n{tail}")
        return Timed(seconds, done.stdout + done.stderr, pressure)

    def side(self, cmd: list[str], folder: Path) -> tuple[Timed, dict[str, Any]]:
        """Run a pipeline side script; its timing and its BENCH_RESULT."""
        timed = self.run(cmd, folder)
        found = [line for line in timed.output.splitlines() if line.startswith(RESULT_PREFIX)]
        if not found:
            raise CommandError(f"{' '.join(cmd[1:3])} printed no result:\n{timed.output[-2000:]}")
        result: dict[str, Any] = json.loads(found[-1][len(RESULT_PREFIX) :])
        return timed, result


def base_env() -> dict[str, str]:
    prefixes = ("LOOPML_", "METAFLOW_", "ZENML_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, "PYTHONPATH": str(HERE)}


def metaflow_env(folder: Path) -> dict[str, str]:
    return {
        **base_env(),
        "METAFLOW_HOME": str(folder / ".metaflowconfig"),  # no ~/.metaflowconfig
        "METAFLOW_DATASTORE_SYSROOT_LOCAL": str(folder),  # the datastore: folder/.metaflow
        "METAFLOW_DEFAULT_DATASTORE": "local",
        "METAFLOW_DEFAULT_METADATA": "local",
        "METAFLOW_CLIENT_CACHE_PATH": str(folder / ".metaflow-client-cache"),
        "METAFLOW_USER": "loopml-bench",
        "DISABLE_TRACING": "1",  # Metaflow's: no OpenTelemetry export (none is set up anyway)
    }


def zenml_env(folder: Path) -> dict[str, str]:
    return {
        **base_env(),
        # the global config, the SQLite store and the local artifact store live here
        "ZENML_CONFIG_PATH": str(folder / ".zenml-config"),
        "ZENML_ANALYTICS_OPT_IN": "false",
    }


def loopml_env(folder: Path) -> dict[str, str]:
    return base_env()


# --- one repetition -------------------------------------------------------------------------
def init(tool: Tool, folder: Path, steps: int) -> None:
    """A fresh project in ``folder`` with the tool's pipeline file in it (ZenML only runs
    pipelines whose source is inside its repository)."""
    folder.mkdir(parents=True)
    if tool.name == "metaflow":
        (folder / "flow.py").write_text(metaflow_flow(steps), encoding="utf-8")
        return
    shutil.copyfile(HERE / f"_{tool.name}_pipeline_side.py", folder / "chain.py")
    if tool.name == "zenml":
        tool.run([str(tool.python.parent / "zenml"), "init"], folder)
    else:
        tool.run([str(LOOPML), "init", str(folder)], folder)


def commands(tool: Tool, folder: Path, steps: int) -> dict[str, Any]:
    """startup, cold, rerun: whole commands; and the checks that they did what they say."""
    init(tool, folder, steps)
    python = str(tool.python)
    out: dict[str, Any] = {"steps": steps}
    if tool.name == "metaflow":
        flow = [python, "flow.py", "--no-pylint"]
        startup, cold, rerun = (tool.run([*flow, cmd], folder) for cmd in ("show", "run", "resume"))
        executed = cold.output.count("Task finished successfully")
        cloned = rerun.output.count("Cloning previously run task")
        out["checks"] = {
            "cold_tasks_finished": executed,
            "cold_value_printed": f"value {steps}" in cold.output,
            "rerun_tasks_cloned": cloned,
            "rerun_tasks_started": rerun.output.count("Task is starting"),
        }
        if executed != steps or cloned != steps or f"value {steps}" not in cold.output:
            raise CommandError(f"metaflow did not do what was expected: {out['checks']}")
    else:
        startup, _ = tool.side([python, "chain.py", "define", "--steps", str(steps)], folder)
        cold, cold_result = tool.side([python, "chain.py", "run", "--steps", str(steps)], folder)
        rerun, rerun_result = tool.side([python, "chain.py", "run", "--steps", str(steps)], folder)
        out["checks"] = {"cold": cold_result, "rerun": rerun_result}
        expected_cold = {"value": steps, "steps": steps, "cached": 0}
        expected_rerun = {"value": steps, "steps": steps, "cached": steps}
        if any(cold_result[k] != v for k, v in expected_cold.items()) or any(
            rerun_result[k] != v for k, v in expected_rerun.items()
        ):
            raise CommandError(f"{tool.name} did not do what was expected: {out['checks']}")
    for name, timed in (("startup", startup), ("cold", cold), ("rerun", rerun)):
        out[name] = timed.seconds
        out[f"{name}_cpu_pressure_pct"] = timed.cpu_pressure_pct
    return out


def in_process(tool: Tool, folder: Path, steps: int) -> dict[str, Any]:
    init(tool, folder, steps)
    timed, result = tool.side(
        [str(tool.python), "chain.py", "inprocess", "--steps", str(steps)], folder
    )
    if result["cold"]["cached"] != 0 or result["cached"]["cached"] != steps:
        raise CommandError(f"{tool.name} in process: unexpected cache hits: {result}")
    return {
        "inprocess_cold": result["cold_seconds"],
        "inprocess_cached": result["cached_seconds"],
        "inprocess_cpu_pressure_pct": timed.cpu_pressure_pct,
    }


def repetition(tool: Tool, root: Path, rep: int, steps: int, keep: bool) -> dict[str, Any]:
    folders = [root / f"{tool.name}-{rep}-commands", root / f"{tool.name}-{rep}-inprocess"]
    try:
        out = commands(tool, folders[0], steps)
        if tool.name != "metaflow":
            out.update(in_process(tool, folders[1], steps))
        return out
    finally:
        if not keep:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)


# --- the table ------------------------------------------------------------------------------
def seconds(tool: Tool, key: str) -> list[float]:
    return [r[key] for r in tool.repetitions if r.get(key) is not None]


def per_step_ms(tool: Tool) -> list[float]:
    return [(r["cold"] - r["startup"]) / r["steps"] * 1000 for r in tool.repetitions]


def past_startup(tool: Tool) -> list[float]:
    return [r["rerun"] - r["startup"] for r in tool.repetitions]


def inprocess_step_ms(tool: Tool) -> list[float]:
    return [
        r["inprocess_cold"] / r["steps"] * 1000 for r in tool.repetitions if "inprocess_cold" in r
    ]


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str
    values: Callable[[Tool], list[float]]
    goal: float | None = None  # loopml's, on its median


MEASURES = (
    Measure("command: import and define, no run", "s", lambda t: seconds(t, "startup")),
    Measure("cold run, whole command", "s", lambda t: seconds(t, "cold")),
    Measure("cold run, per step: (command − startup) ÷ steps", "ms", per_step_ms),
    Measure("rerun, everything reused, whole command", "s", lambda t: seconds(t, "rerun")),
    Measure("rerun, everything reused, command − startup", "s", past_startup),
    Measure("in process: cold run, per step", "ms", inprocess_step_ms, GOAL_STEP_MS),
    Measure(
        "in process: cached rerun", "s", lambda t: seconds(t, "inprocess_cached"), GOAL_CACHED_S
    ),
)


def median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def cell(values: list[float], unit: str) -> str:
    if not values:
        return "n/a"
    digits = 1 if unit == "ms" else 3 if min(values) < 10 else 1
    text = f"{median(values):,.{digits}f}"
    return text + (f" ({min(values):,.{digits}f})" if len(values) > 1 else "")


def verdict(measure: Measure, loopml: float | None) -> tuple[str, str]:
    """loopml's goal for ``measure`` and PASS/FAIL on its median ("—", "" if none)."""
    if measure.goal is None:
        return "—", ""
    goal = f"≤ {measure.goal:g} {measure.unit}"
    if loopml is None:
        return goal, "error"
    return goal, "PASS" if loopml <= measure.goal else "FAIL"


def table(tools: list[Tool]) -> tuple[str, list[dict[str, Any]]]:
    """The Markdown table (medians, the best repetition in brackets, each tool's median over
    loopml's) and the same as JSON rows."""
    loopml = next((t for t in tools if t.name == "loopml"), None)
    others = [t for t in tools if t.name != "loopml"]
    header = ["measure", "unit", *(["loopml"] if loopml else [])]
    for other in others:
        header += [LABELS[other.name], *([f"{LABELS[other.name]} ÷ loopml"] if loopml else [])]
    header += ["loopml goal", "result"] if loopml else []
    lines, rows = [header], []
    for measure in MEASURES:
        line = [measure.name, measure.unit]
        row: dict[str, Any] = {"measure": measure.name, "unit": measure.unit}
        base = None
        if loopml:
            base = row["loopml_median"] = median(measure.values(loopml))
            line.append(cell(measure.values(loopml), measure.unit))
        for other in others:
            values = measure.values(other)
            found = row[f"{other.name}_median"] = median(values)
            ratio = row[f"{other.name}_over_loopml"] = found / base if found and base else None
            line += [cell(values, measure.unit), *([fmt_ratio(ratio)] if loopml else [])]
        if loopml:
            goal, result = verdict(measure, base)
            row.update(goal=goal, result=result)
            line += [goal, result]
        lines.append(line)
        rows.append(row)
    return markdown_table(lines, right=set(range(2, len(header) - (2 if loopml else 0)))), rows


# --- main -----------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="steps in the chain (at least 2)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions per tool")
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma-separated: " + ",".join(TOOLS)
    )
    parser.add_argument("--metaflow-spec", default=METAFLOW_SPEC, help="pip requirement")
    parser.add_argument("--zenml-spec", default=ZENML_SPEC, help="pip requirement")
    parser.add_argument("--workdir", type=Path, help="where the temporary folders go")
    parser.add_argument("--output", type=Path, help="where to write the JSON results")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args()
    args.tools = [name.strip() for name in args.tools.split(",") if name.strip()]
    unknown = sorted(set(args.tools) - set(TOOLS))
    if unknown:
        parser.error(f"unknown tool(s) {', '.join(unknown)}; choose from {', '.join(TOOLS)}")
    if args.steps < 2:
        parser.error("--steps must be at least 2 (a Metaflow flow has a start and an end)")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def make_tools(args: argparse.Namespace) -> list[Tool]:
    tools = []
    for name in args.tools:
        if name == "loopml":
            tools.append(Tool(name, Path(sys.executable), loopml_env))
            continue
        venv = VENVS / name
        spec = args.metaflow_spec if name == "metaflow" else args.zenml_spec
        option = f"--{name}-spec '{spec.partition('==')[0]}==X.Y.Z'"
        version = ensure_installed(venv, spec, name, option=option)
        env = metaflow_env if name == "metaflow" else zenml_env
        tools.append(Tool(name, venv_python(venv), env, version))
    return tools


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tools = make_tools(args)
    info = machine_info(None)
    info.pop("mlflow", None)
    info.update({t.name: t.version for t in tools if t.version})
    print(f"Machine: {json.dumps(info)}", flush=True)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="loopml-bench-pipelines-", dir=args.workdir))
    started = dt.datetime.now(dt.UTC)
    errors: list[str] = []
    try:
        for rep in range(args.repeat):
            for tool in tools if rep % 2 == 0 else tools[::-1]:
                print(f"  rep {rep + 1}/{args.repeat}: {tool.name}", flush=True)
                try:
                    result = repetition(tool, root, rep, args.steps, args.keep)
                except (CommandError, subprocess.TimeoutExpired) as exc:
                    errors.append(f"{tool.name} rep {rep}: {exc}")
                    print(f"    ERROR {exc}", flush=True)
                    continue
                tool.repetitions.append(result)
                shown = {k: round(v, 3) for k, v in result.items() if isinstance(v, float)}
                print(f"    {shown}", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    text, rows = table(tools)
    print(
        f"\n{args.steps}-step chain, {started:%Y-%m-%d %H:%M} UTC; medians of {args.repeat} "
        f"repetitions, the best one in brackets; load average {info['load_average_at_start']}"
        f" at start, {info['load_average_at_end']} at the end\n"
    )
    print(text)
    for error in errors:
        print(f"ERROR {error}")
    output = args.output or RESULTS / f"pipelines-{started:%Y-%m-%d}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "date": started.isoformat(timespec="seconds"),
        "steps": args.steps,
        "repeat": args.repeat,
        "machine": info,
        "specs": {"metaflow": args.metaflow_spec, "zenml": args.zenml_spec},
        "results": {t.name: t.repetitions for t in tools},
        "errors": errors,
        "table": rows,
    }
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"\nResults written to {output}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
