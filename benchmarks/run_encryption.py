"""What encryption at rest costs ``loopml data add``: the same adds with it off and on.

    .venv/bin/python benchmarks/run_encryption.py              # 256 MiB file, 2,000 files
    .venv/bin/python benchmarks/run_encryption.py --big-mib 1024 --files 10000 --repeat 5

Method: the command line as a user types it (``loopml data add``), wall time of the whole
command, interpreter start included. Every repetition gets a fresh project in a temporary
folder (``--workdir``) with the same data (random bytes, generated once, synced to disk and
warm in the page cache); off and on alternate (off, on, then on, off, ...) so that load from
elsewhere falls on both alike; ``os.sync()`` after each command, outside the clock. "On" sets
``LOOPML_ENCRYPTION_KEY_FILE`` to a fresh key; "off" sets nothing, so it runs the code every
user without a key runs. Medians and best repetitions are printed; raw timings go to
``benchmarks/results/encryption-<date>.json``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOOPML = Path(sys.executable).with_name("loopml")


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    os.sync()
    return elapsed


def _measure(
    store: Any,
    kind: str,
    big: bytes,
    small: list[bytes],
    timings: dict[str, list[tuple[float, float]]],
) -> None:
    """One repetition: a big blob and many small ones, put then read back."""

    def timed(name: str, action: Callable[[], object]) -> object:
        wall, cpu = time.perf_counter(), time.process_time()
        result = action()
        timings.setdefault(name, []).append((time.perf_counter() - wall, time.process_time() - cpu))
        return result

    mib, files = len(big) >> 20, f"{len(small):,}"
    digest = timed(f"{kind}: put {mib} MiB", lambda: store.put(io.BytesIO(big)))
    timed(f"{kind}: read {mib} MiB", lambda: store.open(digest).read())

    def put_small() -> list[Any]:
        with store.batched_writes():
            return [store.put(io.BytesIO(data)) for data in small]

    digests = timed(f"{kind}: put {files} small", put_small)
    timed(f"{kind}: read {files} small", lambda: [store.open(d).read() for d in digests])


def _in_process(options: argparse.Namespace, root: Path) -> None:
    """The store calls alone, in this process: wall and CPU time (CPU time is what the
    encryption adds; it suffers less from a busy machine than wall time)."""
    from loopml.stores.artifacts.local import LocalArtifactStore

    kinds = ["off"]
    try:
        from loopml.stores.artifacts.encrypted import EncryptedArtifactStore
        from loopml.stores.artifacts.encryption_keys import KeyRing, parse_key

        key = parse_key(base64.b64encode(os.urandom(32)).decode(), "benchmark key")
        kinds.append("on")
    except ImportError:  # a loopml without encryption: measure "off" only
        pass
    big = os.urandom(options.big_mib << 20)
    small = [os.urandom(1024 + index % 4096) for index in range(options.files)]
    timings: dict[str, list[tuple[float, float]]] = {}
    for repetition in range(options.repeat):
        for kind in kinds if repetition % 2 == 0 else kinds[::-1]:
            folder = root / f"store-{repetition}-{kind}"
            store: Any = LocalArtifactStore(str(folder))
            if kind == "on":
                store = EncryptedArtifactStore(store, KeyRing(key))
            _measure(store, kind, big, small, timings)
            shutil.rmtree(folder)
    print(f"{'in process':<28} {'wall s':>16} {'cpu s':>16}")
    for name, entries in timings.items():
        walls, cpus = [w for w, _ in entries], [c for _, c in entries]
        print(
            f"{name:<28} {statistics.median(walls):>8.3f} ({min(walls):.3f})"
            f" {statistics.median(cpus):>8.3f} ({min(cpus):.3f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--big-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--in-process", action="store_true", help="time the store calls, not the command"
    )
    options = parser.parse_args()
    if options.in_process:
        root = Path(tempfile.mkdtemp(prefix="loopml-bench-encryption-", dir=options.workdir))
        try:
            _in_process(options, root.resolve())
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    root = Path(tempfile.mkdtemp(prefix="loopml-bench-encryption-", dir=options.workdir)).resolve()
    try:
        data = root / "data"
        (data / "folder").mkdir(parents=True)
        with (data / "big.bin").open("wb") as out:
            for _ in range(options.big_mib):
                out.write(os.urandom(1 << 20))
        for index in range(options.files):
            (data / "folder" / f"f{index:05d}.bin").write_bytes(os.urandom(1024 + index % 4096))
        key_file = root / "key"
        key_file.write_text(base64.b64encode(os.urandom(32)).decode())
        os.sync()
        base_env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
        modes = {"off": base_env, "on": {**base_env, "LOOPML_ENCRYPTION_KEY_FILE": str(key_file)}}
        cases = {
            f"add a {options.big_mib} MiB file": ["big", str(data / "big.bin")],
            f"add a folder of {options.files:,} files": ["folder", str(data / "folder")],
        }
        timings: dict[str, dict[str, list[float]]] = {c: {"off": [], "on": []} for c in cases}
        for repetition in range(options.repeat):
            order = ["off", "on"] if repetition % 2 == 0 else ["on", "off"]
            for case, (name, source) in cases.items():
                for mode in order:
                    project = root / f"p-{repetition}-{mode}-{name}"
                    project.mkdir()
                    subprocess.run([str(LOOPML), "init"], cwd=project, check=True,
                                   stdout=subprocess.DEVNULL, env=modes[mode])  # fmt: skip
                    timings[case][mode].append(
                        _run([str(LOOPML), "data", "add", name, source], project, modes[mode])
                    )
                    shutil.rmtree(project)
        print(f"{'case':<32} {'off, s':>14} {'on, s':>14} {'on/off':>7}")
        for case, by_mode in timings.items():
            off, on = statistics.median(by_mode["off"]), statistics.median(by_mode["on"])
            print(
                f"{case:<32} {off:>7.3f} ({min(by_mode['off']):.3f}) "
                f"{on:>7.3f} ({min(by_mode['on']):.3f}) {on / off:>6.2f}×"
            )
        results = HERE / "results"
        results.mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M")
        (results / f"encryption-{stamp}.json").write_text(json.dumps(timings, indent=2))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
