"""The quickstart's serving part: ``loopml serve MODEL@champion`` as a real process on a free
loopback port, answering held-out rows from a client thread while the champion alias moves;
the server swaps versions live, and what it answered is read back from its prediction log.

>>> with LiveServer(folder, "breast-cancer@champion", rows) as live:   # doctest: +SKIP
...     promote(...)
...     live.wait_for_version(2)
>>> live.story()                                                        # doctest: +SKIP
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from loopml.core.errors import LoopMLError
from loopml.core.ids import format_ms, now_ms

__all__ = ["LiveServer", "ServingStory"]

START_TIMEOUT = 300.0  # a cold start imports scikit-learn and skops: slow on a busy machine
SWAP_TIMEOUT = 30.0
POLL_SECONDS = "0.2"
HTTP_TIMEOUT = 30.0  # a request slower than this counts as failed
MAX_FAILURES_SHOWN = 5


@dataclass
class ServingStory:
    """What the clients saw and what the log holds."""

    url: str
    answered: int = 0
    failed: int = 0
    versions: list[tuple[str, int]] = field(default_factory=list)  # in order: (label, answers)
    logged: int = 0
    newest: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the first few: status and message


class LiveServer:
    """``loopml serve REF`` in ``folder`` with a client sending ``rows`` one per request
    (none when ``rows`` is empty: ``loopml quickstart --loop`` replays its own)."""

    def __init__(self, folder: Path, ref: str, rows: list[list[float]]) -> None:
        self.folder = folder
        self.ref = ref
        self.model = ref.split("@")[0]
        self.rows = rows
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.started_ms = now_ms()
        self.story = ServingStory(self.url)
        self.log_path = folder / ".loopml" / "quickstart-serve.log"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._client: threading.Thread | None = None

    def __enter__(self) -> LiveServer:
        command = [sys.executable, "-m", "loopml", "serve", self.ref, "--port", str(self.port)]
        command += ["--poll-seconds", POLL_SECONDS, "--log-roll-seconds", "1", "--quiet"]
        from loopml.serving.token_auth import ENV_TOKEN, ENV_TOKEN_FILE

        # its own server on loopback, answering its own client: no token of the user's
        env = {k: v for k, v in os.environ.items() if k not in (ENV_TOKEN, ENV_TOKEN_FILE)}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if self.rows:  # no rows: the caller sends its own traffic
            self._client = threading.Thread(
                target=self._send, name="quickstart-client", daemon=True
            )
            self._client.start()
        return self

    def wait_for_version(self, version: int, timeout: float = SWAP_TIMEOUT) -> None:
        """Until the server answers with ``version`` (the alias moved, the swap is done)."""
        label = f"{self.model}@{version}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.story.versions and self.story.versions[-1][0] == label:
                    return
            if self._process is not None and self._process.poll() is not None:
                break
            time.sleep(0.05)
        raise LoopMLError(f"The quickstart's server never answered with {label}.{self._stderr()}")

    def _send(self) -> None:
        import httpx

        index = 0
        with httpx.Client(base_url=self.url, timeout=HTTP_TIMEOUT) as http:
            while not self._stop.is_set():
                row = self.rows[index % len(self.rows)]
                index += 1
                try:
                    response = http.post("/invocations", json={"inputs": [row]})
                except httpx.TransportError as exc:
                    if self.story.answered:  # once it answered, every request counts
                        self._fail(f"{type(exc).__name__}: {exc}")
                    time.sleep(0.05)  # else: not listening yet
                    continue
                if response.status_code == 503 and not self.story.answered:
                    time.sleep(0.05)  # listening, model not loaded yet
                    continue
                self._note(response)
                time.sleep(0.005)  # a steady trickle, not a load test

    def _fail(self, why: str) -> None:
        with self._lock:
            self.story.failed += 1
            if len(self.story.failures) < MAX_FAILURES_SHOWN:
                self.story.failures.append(why)

    def _note(self, response: Any) -> None:
        if response.status_code != 200:
            self._fail(f"HTTP {response.status_code}: {response.text[:300]}")
            return
        with self._lock:
            label = response.json()["model_version"]
            self.story.answered += 1
            versions = self.story.versions
            if versions and versions[-1][0] == label:
                versions[-1] = (label, versions[-1][1] + 1)
            else:
                versions.append((label, 1))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.join()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()  # graceful: answers what is in flight, stores the log
            try:
                self._process.wait(60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def read_log(self, client: Any) -> None:
        """What the server logged since it started (after it stopped: everything)."""
        from loopml.monitoring.log_reader import read_predictions

        table = read_predictions(self.model, client, since_ms=self.started_ms)
        self.story.logged = table.num_rows
        newest = table.slice(max(0, table.num_rows - 5)).drop_columns(["inputs"])
        rows = list(reversed(newest.to_pylist()))
        for row in rows:
            row["time"] = format_ms(int(row["time"].timestamp() * 1000))
            row.pop("label_time", None)
        self.story.newest = rows

    def _stderr(self) -> str:
        if self._process is None or self._process.poll() is None:
            return ""
        return f" It exited with code {self._process.returncode}; its log: {self.log_path}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
