"""The prediction log: every prediction and label, written to Parquet in the artifact store
without slowing requests and without losing any.

A request only appends its entry to a list (:meth:`PredictionLog.add`). A *spill* thread wakes
every ``flush_seconds`` (or as soon as ``max_memory_rows`` are waiting) and writes what waits
to a Parquet chunk in the process's own spool folder on local disk; an *upload* thread rolls
chunks into parts (when the oldest is ``roll_seconds`` old or ``roll_rows`` are waiting) and
stores them as artifacts of the server's run: ``predictions/date=2026-11-27/<chunk>.parquet``
and ``feedback/...``. While the store is slow or down, chunks pile up on disk and are stored
once it is back; the spool folder is locked while its process lives, so chunks a killed
process left behind are stored by the next server that starts on the same spool.

``close`` (the server's graceful shutdown) spills and stores everything. What is not yet
stored shows in ``/metrics`` (``loopml_serving_log_queue_rows``: in memory;
``loopml_serving_log_spooled_rows``: on disk; ``loopml_serving_log_oldest_unsent_seconds``)
and in ``/health`` (:meth:`PredictionLog.health`: "stuck" once parts could not be stored for
``stuck_seconds``). Neither thread ever stops on an error (a full file table, a bug): it is
logged, counted (``loopml_serving_log_thread_errors``) and retried with backoff. A process
killed outright loses at most what was in memory: the last ``flush_seconds``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from loopml.core.ids import now_ms
from loopml.monitoring.log_records import KINDS, PREDICTIONS, LogEntry, to_table
from loopml.monitoring.sensitive_columns import InputRedaction

__all__ = ["LogHealth", "LogMeters", "LogSink", "PredictionLog", "SpoolChunk", "part_folder"]

log = logging.getLogger("loopml.serving")
LOCK_FILE = "lock"
CHUNK_SUFFIX = ".parquet"
UPLOAD_POLL_SECONDS = 0.5
CLOSE_RETRY_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 30.0
STUCK_SECONDS = 300.0
_RETRIED_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOMEM}


@dataclass(frozen=True)
class LogHealth:
    """What ``/health`` says of the log: ``stuck`` once rows due for storage have waited
    ``stuck_seconds`` more than they should (the store refuses them, or a thread fails)."""

    stuck: bool
    unsent_rows: int
    oldest_unsent_seconds: float
    problem: str | None

    def as_json(self) -> dict[str, object]:
        return {
            "status": "stuck" if self.stuck else "ok",
            "unsent_rows": self.unsent_rows,
            "oldest_unsent_seconds": round(self.oldest_unsent_seconds, 3),
            "problem": self.problem,
        }


class Counting(Protocol):
    """A counter, optionally by labels (``prometheus_client.Counter`` is one)."""

    def labels(self, *values: str) -> Counting: ...

    def inc(self, amount: float = 1) -> None: ...


class Gauging(Protocol):
    """A gauge (``prometheus_client.Gauge`` is one)."""

    def set(self, value: float) -> None: ...


class LogMeters(Protocol):
    """What the log counts as it goes; the model server's are Prometheus metrics
    (``serving.metrics.LogMetrics``), a log without them counts nowhere."""

    @property
    def logged_rows(self) -> Counting: ...

    @property
    def persisted_rows(self) -> Counting: ...

    @property
    def dropped_rows(self) -> Counting: ...

    @property
    def failures(self) -> Counting: ...

    @property
    def thread_errors(self) -> Counting: ...

    @property
    def oldest_unsent_seconds(self) -> Gauging: ...

    @property
    def queue_rows(self) -> Gauging: ...

    @property
    def spooled_rows(self) -> Gauging: ...


class _Unmetered:
    """Counts nowhere: the meters of a log that has none."""

    def labels(self, *values: str) -> _Unmetered:
        return self

    def inc(self, amount: float = 1) -> None:
        return None

    def set(self, value: float) -> None:
        return None


class _NoMeters:
    def __init__(self) -> None:
        meter = _Unmetered()
        self.logged_rows = self.persisted_rows = self.dropped_rows = meter
        self.failures = self.thread_errors = meter
        self.oldest_unsent_seconds = self.queue_rows = self.spooled_rows = meter


class LogSink(Protocol):
    """Where rolled parts are stored: the artifacts of a run."""

    @property
    def run_id(self) -> str: ...

    def put(self, file: Path, folder: str) -> None:
        """Store ``file`` (keeping its name) under artifact folder ``folder``."""
        ...

    def for_run(self, run_id: str) -> LogSink:
        """The same store, for another run (chunks a killed server left behind)."""
        ...


@dataclass(frozen=True, order=True)
class SpoolChunk:
    """A chunk file: ``KIND.GROUP.TIME_MS.SEQ.ROWS.parquet``; its name says all that the
    upload thread needs (no file is read to decide what to roll)."""

    time_ms: int
    seq: int
    kind: str
    group: str
    rows: int
    path: Path

    @classmethod
    def parse(cls, path: Path) -> SpoolChunk | None:
        parts = path.name.removesuffix(CHUNK_SUFFIX).split(".")
        if len(parts) != 5 or parts[0] not in KINDS or not path.name.endswith(CHUNK_SUFFIX):
            return None
        kind, group, stamp, seq, rows = parts
        if not (stamp.isdigit() and seq.isdigit() and rows.isdigit()):
            return None
        return cls(int(stamp), int(seq), kind, group, int(rows), path)

    @property
    def stem(self) -> str:
        return self.path.name.removesuffix(CHUNK_SUFFIX)

    @property
    def folder(self) -> str:
        """The artifact folder of the part that starts with this chunk."""
        return part_folder(self.kind, self.time_ms)


def part_folder(kind: str, time_ms: int) -> str:
    """``predictions/date=2026-11-27``: parts are foldered by UTC day, so a reader of a time
    window opens only its days."""
    return f"{kind}/date={time.strftime('%Y-%m-%d', time.gmtime(time_ms / 1000))}"


class PredictionLog:
    """Logs entries of one server process to ``sink``, spooling in ``spool_root``."""

    def __init__(
        self,
        sink: LogSink,
        spool_root: Path,
        *,
        flush_seconds: float = 1.0,
        roll_seconds: float = 60.0,
        roll_rows: int = 100_000,
        max_memory_rows: int = 20_000,
        stuck_seconds: float = STUCK_SECONDS,
        metrics: LogMeters | None = None,
        redaction: InputRedaction | None = None,
    ) -> None:
        self.sink = sink
        self.redaction = redaction  # sensitive input columns, dropped or hashed before spooling
        self.spool_root = Path(spool_root)
        self.folder = self.spool_root / f"{sink.run_id}.{os.getpid()}"
        self.flush_seconds = flush_seconds
        self.roll_seconds = roll_seconds
        self.roll_rows = roll_rows
        self.max_memory_rows = max_memory_rows
        self.stuck_seconds = stuck_seconds
        self.metrics: LogMeters = metrics if metrics is not None else _NoMeters()
        self._pending: list[LogEntry] = []
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._spill_done = threading.Event()
        self._stop_spill = threading.Event()
        self._stop_upload = threading.Event()
        self._seq = 0
        self._lock_file: IO[bytes] | None = None
        self._threads: list[threading.Thread] = []
        self._reported: str | None = None
        self._oldest_pending_ms: int | None = None
        self._oldest_spooled_ms: int | None = None
        self._spooled_rows = 0
        self.persisted_rows = 0

    # the request path ------------------------------------------------------------------------
    def add(self, entry: LogEntry) -> None:
        """Queue ``entry``; never blocks on disk or the store."""
        with self._lock:
            self._pending.append(entry)
            self._pending_rows += entry.count
            waiting = self._pending_rows
            if self._oldest_pending_ms is None:
                self._oldest_pending_ms = now_ms()
        if waiting >= self.max_memory_rows:
            self._wake.set()

    # lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Take the spool folder and start the spill and upload threads."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_file = _lock(self.folder)
        if self._lock_file is None:  # another live process has this pid's folder: impossible
            raise RuntimeError(f"The spool folder {self.folder} is locked by another process.")
        for name, target in (("spill", self._spill_loop), ("upload", self._upload_loop)):
            thread = threading.Thread(target=target, name=f"loopml-log-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def close(self) -> None:
        """Spill and store everything logged so far, then stop. Chunks that cannot be stored
        within ``CLOSE_RETRY_SECONDS`` stay in the spool for the next server to store."""
        if not self._threads:
            return
        self._stop_spill.set()
        self._wake.set()
        self._threads[0].join()
        self._stop_upload.set()
        self._threads[1].join()
        self._threads.clear()
        left = list(_chunks(self.folder))
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        if not left:
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            log.warning(
                "prediction log: %d rows could not be stored yet; they stay in %s and are "
                "stored by the next 'loopml serve' that uses this spool.",
                sum(chunk.rows for chunk in left),
                self.folder,
            )

    def unpersisted_rows(self) -> int:
        """Rows logged but not yet in the store (in memory or on disk)."""
        with self._lock:
            waiting = self._pending_rows
        return waiting + sum(chunk.rows for chunk in _chunks(self.folder))

    def health(self) -> LogHealth:
        """Whether rows wait longer than they should (from what the threads last saw; no
        disk access, so it answers even when the process is out of file descriptors)."""
        with self._lock:
            pending_rows, oldest_pending = self._pending_rows, self._oldest_pending_ms
        stamps = [ms for ms in (oldest_pending, self._oldest_spooled_ms) if ms is not None]
        age = max(0.0, (now_ms() - min(stamps)) / 1000) if stamps else 0.0
        due = self.roll_seconds + self.flush_seconds + self.stuck_seconds
        return LogHealth(
            stuck=age > due,
            unsent_rows=pending_rows + self._spooled_rows,
            oldest_unsent_seconds=age,
            problem=self._reported,
        )

    # spill: memory -> local Parquet chunks ------------------------------------------------------
    def _spill_loop(self) -> None:
        backoff = self.flush_seconds
        while True:
            self._wake.wait(backoff)
            self._wake.clear()
            stopping = self._stop_spill.is_set()
            try:
                self._spill()
            except Exception as exc:  # never die: the entries stay in memory for the next try
                self._thread_failed("spill", exc)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            else:
                backoff = self.flush_seconds
            if stopping:
                return

    def _thread_failed(self, thread: str, exc: Exception) -> None:
        self.metrics.thread_errors.labels(thread).inc()
        message = f"{type(exc).__name__}: {exc}"
        if message != self._reported:
            self._reported = message
            log.error("prediction log: the %s thread failed (%s); retrying", thread, message)

    def _spill(self) -> None:
        with self._lock:
            entries, self._pending = self._pending, []
            self._pending_rows = 0
            oldest, self._oldest_pending_ms = self._oldest_pending_ms, None
        if not entries:
            return
        groups: dict[tuple[str, ...], list[LogEntry]] = defaultdict(list)
        for entry in entries:
            groups[entry.group].append(entry)
        waiting = list(groups.items())
        while waiting:
            key, group = waiting[0]
            rows = sum(entry.count for entry in group)
            try:
                self._write_chunk(key, group, rows)
            except OSError as exc:
                if _out_of_descriptors(exc):  # keep the entries and retry
                    self._put_back([e for _key, each in waiting for e in each], oldest)
                    raise
                self._lost(key[0], rows, exc)
            except Exception as exc:
                self._lost(key[0], rows, exc)
            else:
                self.metrics.logged_rows.labels(key[0]).inc(rows)
            waiting.pop(0)

    def _lost(self, kind: str, rows: int, exc: Exception) -> None:
        """A full disk, or a bug: say so loudly, keep serving."""
        self.metrics.dropped_rows.labels(kind).inc(rows)
        log.error("prediction log: %d %s rows lost: %s", rows, kind, exc, exc_info=exc)

    def _put_back(self, entries: list[LogEntry], oldest: int | None) -> None:
        with self._lock:
            self._pending[:0] = entries
            self._pending_rows += sum(entry.count for entry in entries)
            self._oldest_pending_ms = oldest or self._oldest_pending_ms

    def _write_chunk(self, key: tuple[str, ...], entries: Sequence[LogEntry], rows: int) -> None:
        import pyarrow.parquet as pq

        table = to_table(entries)
        if self.redaction is not None and key[0] == PREDICTIONS:
            table = self.redaction.apply(table)
        group = hashlib.blake2b(
            "\0".join((*key, str(table.schema))).encode(), digest_size=6
        ).hexdigest()
        self._seq += 1
        name = f"{key[0]}.{group}.{now_ms():013d}.{self._seq:06d}.{rows}{CHUNK_SUFFIX}"
        temporary = self.folder / f".{name}.tmp"
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, self.folder / name)

    # upload: chunks -> parts in the store ---------------------------------------------------------
    def _upload_loop(self) -> None:
        recovered = False
        backoff = 0.0
        while not self._stop_upload.wait(backoff):
            try:
                if not recovered:
                    self._recover_orphans()
                    recovered = True
                stored = self._roll(self.folder, self.sink)
            except Exception as exc:  # never die (EMFILE, a bug): log, count, retry
                self._thread_failed("upload", exc)
                stored = False
            backoff = UPLOAD_POLL_SECONDS if stored else min(backoff * 2, MAX_BACKOFF_SECONDS)
            backoff = max(backoff, UPLOAD_POLL_SECONDS)
            self._set_spooled()
        deadline = time.monotonic() + CLOSE_RETRY_SECONDS
        while time.monotonic() <= deadline:
            try:
                if self._roll(self.folder, self.sink, final=True):
                    break
            except Exception as exc:
                self._thread_failed("upload", exc)
            time.sleep(0.5)
        self._set_spooled()

    def _set_spooled(self) -> None:
        """The gauges, sampled every poll (not set on the request path, which only appends);
        the spooled ones keep their last value while the folder cannot be listed."""
        with self._lock:
            pending_rows, oldest_pending = self._pending_rows, self._oldest_pending_ms
        self.metrics.queue_rows.set(pending_rows)
        try:
            chunks = list(_chunks(self.folder))
        except OSError as exc:
            self._thread_failed("upload", exc)
        else:
            self._spooled_rows = sum(chunk.rows for chunk in chunks)
            self._oldest_spooled_ms = min((chunk.time_ms for chunk in chunks), default=None)
            self.metrics.spooled_rows.set(self._spooled_rows)
        stamps = [ms for ms in (oldest_pending, self._oldest_spooled_ms) if ms is not None]
        age = (now_ms() - min(stamps)) / 1000 if stamps else 0.0
        self.metrics.oldest_unsent_seconds.set(max(0.0, age))

    def _roll(self, folder: Path, sink: LogSink, *, final: bool = False) -> bool:
        """Store the groups of chunks that are due (all of them when ``final``); False when
        the store refused (the chunks stay for the next try)."""
        groups: dict[tuple[str, str], list[SpoolChunk]] = defaultdict(list)
        for chunk in _chunks(folder):
            groups[(chunk.kind, chunk.group)].append(chunk)
        oldest_due = now_ms() - int(self.roll_seconds * 1000)
        for chunks in groups.values():
            chunks.sort()
            while chunks:
                part = _take(chunks, self.roll_rows)
                full = sum(chunk.rows for chunk in part) >= self.roll_rows
                if not (final or full or part[0].time_ms <= oldest_due):
                    break
                try:
                    self._store(part, folder, sink)
                except Exception as exc:
                    self.metrics.failures.inc()
                    self._report(exc, sink)
                    return False
        self._reported = None
        return True

    def _store(self, part: Sequence[SpoolChunk], folder: Path, sink: LogSink) -> None:
        """One part from ``part``'s chunks, named after the first (so a part stored again
        after a crash replaces itself), then the chunks are deleted."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        staging = folder / "staging"
        staging.mkdir(exist_ok=True)
        file = staging / f"{part[0].stem}{CHUNK_SUFFIX}"
        tables = [pq.read_table(chunk.path) for chunk in part]
        pq.write_table(pa.concat_tables(tables), file, compression="zstd")
        try:
            sink.put(file, part[0].folder)
        finally:
            file.unlink(missing_ok=True)
        for chunk in part:
            chunk.path.unlink(missing_ok=True)
        rows = sum(chunk.rows for chunk in part)
        self.metrics.persisted_rows.labels(part[0].kind).inc(rows)
        if folder == self.folder:
            self.persisted_rows += rows

    def _report(self, exc: Exception, sink: LogSink) -> None:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        if message != self._reported:  # once per problem, not once per retry
            self._reported = message
            log.warning(
                "prediction log: cannot store parts in run %s yet (%s); they wait on disk "
                "and are retried.",
                sink.run_id,
                message,
            )

    def _recover_orphans(self) -> None:
        """Store what killed servers left in this spool (their folders' locks are free)."""
        if not self.spool_root.is_dir():
            return
        for folder in sorted(self.spool_root.iterdir()):
            if folder == self.folder or not folder.is_dir():
                continue
            with _locked(folder) as held:
                if not held:
                    continue  # a live server's
                run_id = folder.name.split(".")[0]
                rows = sum(chunk.rows for chunk in _chunks(folder))
                if self._roll(folder, self.sink.for_run(run_id), final=True):
                    log.warning(
                        "prediction log: stored %d rows that a stopped server left in %s",
                        rows,
                        folder,
                    )
                    shutil.rmtree(folder, ignore_errors=True)


def _out_of_descriptors(exc: OSError) -> bool:
    return exc.errno in _RETRIED_ERRNOS or "Too many open files" in str(exc)


def _take(chunks: list[SpoolChunk], rows: int) -> list[SpoolChunk]:
    """Pop the oldest chunks that make up at most ``rows`` rows (at least one chunk)."""
    taken = [chunks.pop(0)]
    total = taken[0].rows
    while chunks and total + chunks[0].rows <= rows:
        total += chunks[0].rows
        taken.append(chunks.pop(0))
    return taken


def _chunks(folder: Path) -> Iterator[SpoolChunk]:
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        chunk = SpoolChunk.parse(path)
        if chunk is not None:
            yield chunk


def _lock(folder: Path) -> IO[bytes] | None:
    """The folder's lock, held until the returned file is closed; None if someone holds it."""
    handle = (folder / LOCK_FILE).open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[bool]:
    try:
        handle = _lock(folder)
    except OSError:
        yield False
        return
    try:
        yield handle is not None
    finally:
        if handle is not None:
            handle.close()
