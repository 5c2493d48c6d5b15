"""Executors: where a pipeline's steps (and a search's trials) run.

A job is ``fn(client, *args)`` with ``fn`` a module-level function; the executor supplies a
client on the same stores (the caller's in this process, one opened from
:class:`~loopml.tracking.client.ClientSpec` in a worker). Jobs exchange data through the
stores only, so what crosses a process boundary is small: the step (by module and name, or
by value on Ray), its params and plain inputs, digests.

- ``local``: in this process, one job at a time. A job with a timeout runs in a child
  process instead, so that it can be stopped.
- ``process``: a pool of worker processes (spawned, one per CPU by default) running
  independent branches side by side; a job past its timeout has its worker killed.
- ``ray``: each job a Ray task with the step's ``resources`` (``num_cpus``, ``num_gpus``,
  ``memory``, custom ones), on a local Ray runtime or the cluster at ``ray_address``
  (``auto``, ``ray://host:10001``, ``host:6379``).

>>> with open_executor("process", client, workers=2) as executor:  # doctest: +SKIP
...     run(training, client=client, executor=executor)
"""

from __future__ import annotations

import contextlib
import io
import itertools
import multiprocessing
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from loopml.core.errors import BackendUnavailableError, InvalidInputError
from loopml.pipelines.definitions import Pipeline, Step
from loopml.tracking.client import Client, ClientSpec

__all__ = [
    "EXECUTORS",
    "Executor",
    "Finished",
    "LocalExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "executor_scope",
    "open_executor",
]

EXECUTORS = ("local", "process", "ray")
_TICKETS = itertools.count(1)
_RAY_OPTIONS = ("num_cpus", "num_gpus", "memory")

Job = Callable[..., Any]  # fn(client, *args) -> a picklable value


@dataclass(frozen=True)
class Finished:
    """A job that ended: its value, or why it has none (it raised, timed out, or its worker
    died)."""

    ticket: int
    value: Any = None
    error: str | None = None


class Executor(Protocol):
    name: str
    capacity: int  # how many jobs it runs at once
    in_process: bool  # jobs share this process's objects (no pickling)

    def check(self, target: object) -> None:
        """Raise InvalidInputError when ``target`` (a step, or a trial's objective) cannot
        run here, before anything runs."""
        ...

    def submit(
        self,
        fn: Job,
        args: tuple[Any, ...],
        *,
        timeout: float | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> int:
        """Start ``fn(client, *args)``; returns a ticket that :meth:`wait` reports."""
        ...

    def wait(self, timeout: float | None = None) -> list[Finished]:
        """Jobs that ended since the last call. Blocks until one ends, ``timeout`` passes or
        there is news of a running job (so it may return nothing); returns at once when
        nothing is running."""
        ...

    def close(self) -> None: ...


@contextlib.contextmanager
def open_executor(
    name: str | None,
    client: Client,
    *,
    workers: int | None = None,
    ray_address: str | None = None,
) -> Iterator[Executor]:
    """The executor called ``name`` (default: the client's configured one — ``LOOPML_EXECUTOR``
    or ``executor`` in ``.loopml/config.toml`` — else ``local``), closed after the block."""
    chosen = name or client.executor or "local"
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise InvalidInputError(f"--workers must be an int >= 1. Got {workers!r} instead.")
    executor: Executor
    if chosen == "local":
        executor = LocalExecutor(client)
    elif chosen == "process":
        executor = ProcessExecutor(client.spec, workers=workers)
    elif chosen == "ray":
        executor = RayExecutor(client.spec, address=ray_address)
    else:
        raise InvalidInputError(
            f"Unknown executor {chosen!r}. Allowed: {', '.join(EXECUTORS)} "
            "(the --executor option, LOOPML_EXECUTOR or 'executor' in .loopml/config.toml)."
        )
    try:
        yield executor
    finally:
        executor.close()


@contextlib.contextmanager
def executor_scope(
    executor: str | Executor | None,
    client: Client,
    workers: int | None = None,
    ray_address: str | None = None,
) -> Iterator[Executor]:
    """``executor`` as is when it is one already (the caller closes it), else
    :func:`open_executor` with that name."""
    if executor is not None and not isinstance(executor, str):
        yield executor
        return
    with open_executor(executor, client, workers=workers, ray_address=ray_address) as opened:
        yield opened


def _wait_limit(timeout: float | None, deadlines: list[float | None]) -> float | None:
    """How long a wait may block: ``timeout``, or less when a job's deadline comes first."""
    pending = [deadline for deadline in deadlines if deadline is not None]
    if not pending:
        return timeout
    until_first = max(0.0, min(pending) - time.monotonic())
    return until_first if timeout is None else min(timeout, until_first)


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class LocalExecutor:
    """Jobs in this process, one at a time, in the order submitted."""

    name = "local"
    capacity = 1
    in_process = True

    def __init__(self, client: Client) -> None:
        self._client = client
        self._done: list[Finished] = []
        self._timed: ProcessExecutor | None = None  # a child process for jobs with a timeout

    def check(self, target: object) -> None:
        if isinstance(target, Step) and target.timeout is not None:
            _dumps(target)  # it runs in a child process

    def submit(
        self,
        fn: Job,
        args: tuple[Any, ...],
        *,
        timeout: float | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> int:
        if timeout is not None:
            if self._timed is None:
                self._timed = ProcessExecutor(self._client.spec, workers=1)
            return self._timed.submit(fn, args, timeout=timeout)
        ticket = next(_TICKETS)
        try:
            self._done.append(Finished(ticket, fn(self._client, *args)))
        except Exception as exc:
            self._done.append(Finished(ticket, error=_failure(exc)))
        return ticket

    def wait(self, timeout: float | None = None) -> list[Finished]:
        if self._done:
            done, self._done = self._done, []
            return done
        return self._timed.wait(timeout) if self._timed is not None else []

    def close(self) -> None:
        if self._timed is not None:
            self._timed.close()


# -- worker processes ------------------------------------------------------------------------


def _reduce_definition(
    definition: Step[Any, Any] | Pipeline[Any, Any],
) -> tuple[Any, tuple[str, str]]:
    """Steps and pipelines cross to a spawned process by module and name: the decorated
    function's name holds the definition, which the worker imports."""
    module, qualname = definition.fn.__module__, definition.fn.__qualname__
    try:
        found = _import_definition(module, qualname)
    except (ImportError, AttributeError):
        found = None
    if not _same_definition(found, definition):
        kind = "Step" if isinstance(definition, Step) else "Pipeline"
        raise InvalidInputError(
            f"{kind} {definition.name!r} ({module}.{qualname}) cannot be sent to a worker "
            "process: worker processes import it by module and name, so define it at the top "
            "level of an importable module (or use the local or ray executor)."
        )
    return _import_definition, (module, qualname)


def _same_definition(found: Any, definition: Step[Any, Any] | Pipeline[Any, Any]) -> bool:
    """``found`` (what the module holds under the definition's name) is the definition, or a
    copy of it: in a Ray worker, a trial's pipeline arrives by value, yet its steps' module is
    importable there too, so a step with a timeout can still go on to a child process."""
    if found is definition:
        return True
    return (
        type(found) is type(definition)
        and found.fn.__code__ == definition.fn.__code__
        and found.name == definition.name
    )


def _import_definition(module: str, qualname: str) -> Any:
    import importlib

    found: Any = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    return found


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Step | Pipeline):
            return _reduce_definition(obj)
        return NotImplemented


def _dumps(value: Any) -> bytes:
    """``value`` pickled for a worker process; InvalidInputError naming what cannot be."""
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise InvalidInputError(
            f"{value!r:.80} cannot be sent to a worker process: {exc}. Define functions at the "
            "top level of an importable module (or use the local or ray executor)."
        ) from exc
    return buffer.getvalue()


def _serve(conn: Connection, spec: ClientSpec) -> None:
    """A worker process: run jobs from ``conn`` until it closes, with one client. For each job
    it answers ``("started", ticket)`` once the job is loaded (its timeout counts from there,
    not from this process's start-up) and then ``("done", ticket, value, error)``."""
    client: Client | None = None
    try:
        while True:
            try:
                ticket, payload = pickle.loads(conn.recv_bytes())
            except EOFError:
                return
            reply: tuple[str, int, Any, str | None]
            try:
                fn, args = pickle.loads(payload)  # imports the step's module
                client = client or spec.open()
            except Exception as exc:
                reply = ("done", ticket, None, f"the worker could not load it: {_failure(exc)}")
                conn.send_bytes(_dumps(reply))
                continue
            conn.send_bytes(_dumps(("started", ticket)))
            try:
                reply = ("done", ticket, fn(client, *args), None)
            except Exception as exc:
                reply = ("done", ticket, None, _failure(exc))
            conn.send_bytes(_dumps(reply))
    finally:
        if client is not None:
            client.close()


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    ticket: int = 0
    deadline: float | None = None
    timeout: float | None = None

    def stop(self) -> None:
        self.conn.close()
        self.process.join(timeout=5)
        if self.process.is_alive():  # pragma: no cover - a job that ignores the closed pipe
            self.process.kill()
            self.process.join()


class ProcessExecutor:
    """Jobs in a pool of spawned worker processes (started as needed, reused)."""

    name = "process"
    in_process = False

    def __init__(self, spec: ClientSpec, *, workers: int | None = None) -> None:
        self.capacity = workers or os.cpu_count() or 1
        self._spec = spec
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._busy: dict[Connection, _Worker] = {}

    def check(self, target: object) -> None:
        _dumps(target)

    def submit(
        self,
        fn: Job,
        args: tuple[Any, ...],
        *,
        timeout: float | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> int:
        ticket = next(_TICKETS)
        payload = _dumps((fn, args))  # before a worker starts: what cannot travel fails here
        worker = self._idle.pop() if self._idle else self._start()
        worker.ticket, worker.timeout, worker.deadline = ticket, timeout, None
        worker.conn.send_bytes(_dumps((ticket, payload)))
        self._busy[worker.conn] = worker
        return ticket

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        # not daemonic: a job may start a process of its own (a trial whose pipeline has a
        # step with a timeout); a worker still ends with this process (its pipe closes)
        process = self._context.Process(
            target=_serve, args=(theirs, self._spec), name="loopml-worker", daemon=False
        )
        process.start()
        theirs.close()
        return _Worker(process, ours)

    def wait(self, timeout: float | None = None) -> list[Finished]:
        if not self._busy:
            return []
        limit = _wait_limit(timeout, [w.deadline for w in self._busy.values()])
        ready = wait(list(self._busy), limit)
        done = [finished for conn in ready if (finished := self._collect(conn)) is not None]
        now = time.monotonic()
        for worker in list(self._busy.values()):
            if worker.deadline is not None and worker.deadline <= now:
                del self._busy[worker.conn]
                worker.process.kill()
                worker.process.join()
                worker.conn.close()
                error = f"timed out after {worker.timeout:g} s (its worker process was stopped)"
                done.append(Finished(worker.ticket, error=error))
        return done

    def _collect(self, conn: Any) -> Finished | None:
        """The job's result, or None when the worker only said it started the job (its
        timeout runs from then)."""
        worker = self._busy[conn]
        try:
            message = pickle.loads(worker.conn.recv_bytes())
        except (EOFError, OSError):
            del self._busy[conn]
            worker.process.join()
            worker.conn.close()
            code = worker.process.exitcode
            return Finished(worker.ticket, error=f"its worker process died (exit code {code})")
        if message[0] == "started":
            if worker.timeout is not None:
                worker.deadline = time.monotonic() + worker.timeout
            return None
        _, ticket, value, error = message
        del self._busy[conn]
        self._idle.append(worker)
        return Finished(ticket, value, error)

    def close(self) -> None:
        for worker in self._idle:
            worker.stop()
        for worker in self._busy.values():
            worker.process.kill()
            worker.stop()
        self._idle.clear()
        self._busy.clear()


# -- Ray -------------------------------------------------------------------------------------

_RAY_CLIENTS: dict[ClientSpec, Client] = {}  # one client per store in each Ray worker


def _ray_job(spec: ClientSpec, fn: Job, args: tuple[Any, ...]) -> Any:
    client = _RAY_CLIENTS.get(spec)
    if client is None:
        client = _RAY_CLIENTS[spec] = spec.open()
    return fn(client, *args)


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BackendUnavailableError(
            "The ray executor needs Ray, which is not installed: pip install 'loopml[ray]'."
        ) from exc
    return ray


def ray_options(resources: Mapping[str, float] | None) -> dict[str, Any]:
    """A step's ``resources`` as Ray task options: ``num_cpus`` (default 1), ``num_gpus``,
    ``memory`` (bytes) as they are, any other name as a custom resource."""
    options: dict[str, Any] = {"num_cpus": 1}
    custom: dict[str, float] = {}
    for key, amount in (resources or {}).items():
        if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
            raise InvalidInputError(
                f"Resource {key!r} must be a number >= 0. Got {amount!r} instead."
            )
        if key in _RAY_OPTIONS:
            options[key] = amount
        else:
            custom[key] = float(amount)
    if custom:
        options["resources"] = custom
    return options


def _code_paths() -> list[str]:
    """The folders this process imports user code from (its working directory and what was
    added to ``sys.path``, not the interpreter's own), for Ray workers to import from too."""
    own = {os.path.realpath(prefix) for prefix in (sys.prefix, sys.base_prefix)}
    paths = []
    for entry in [os.getcwd(), *sys.path]:
        path = os.path.realpath(entry or os.getcwd())
        inside = any(path == root or path.startswith(root + os.sep) for root in own)
        if not inside and os.path.isdir(path) and path not in paths:
            paths.append(path)
    return paths


class RayExecutor:
    """Each job a Ray task. Starts a local Ray runtime unless Ray is already initialised or
    ``address`` (or ``RAY_ADDRESS``) names a cluster; shuts down only what it started."""

    name = "ray"
    in_process = False

    def __init__(self, spec: ClientSpec, *, address: str | None = None) -> None:
        ray = self._ray = _ray()
        self._spec = spec
        self._owns = not ray.is_initialized()
        if self._owns:
            target = address or os.environ.get("RAY_ADDRESS") or "local"
            try:
                ray.init(
                    address=target,
                    include_dashboard=False,
                    logging_level="warning",
                    job_config=ray.job_config.JobConfig(code_search_path=_code_paths()),
                )
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise BackendUnavailableError(
                    f"Could not start or join Ray at {target!r}: {exc}"
                ) from exc
        self.capacity = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(max_retries=0)(_ray_job)
        self._running: dict[Any, tuple[int, float | None, float | None]] = {}

    def check(self, target: object) -> None:
        """Refuse a step that asks for more of a resource than the whole cluster has (Ray
        would wait for it forever)."""
        if not isinstance(target, Step):
            return
        step = target
        available = self._ray.cluster_resources()
        options = ray_options(step.resources)
        wanted = {"CPU": options["num_cpus"], "GPU": options.get("num_gpus", 0)}
        wanted.update({"memory": options.get("memory", 0), **options.get("resources", {})})
        for key, amount in wanted.items():
            if amount and amount > available.get(key, 0):
                have = ", ".join(f"{k} {v:g}" for k, v in sorted(available.items()))
                raise InvalidInputError(
                    f"Step {step.name!r} asks for {key} {amount:g}, more than the Ray cluster "
                    f"has ({have or 'nothing'})."
                )

    def submit(
        self,
        fn: Job,
        args: tuple[Any, ...],
        *,
        timeout: float | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> int:
        ticket = next(_TICKETS)
        task = self._remote.options(**ray_options(resources)).remote(self._spec, fn, args)
        deadline = None if timeout is None else time.monotonic() + timeout
        self._running[task] = (ticket, deadline, timeout)
        return ticket

    def wait(self, timeout: float | None = None) -> list[Finished]:
        if not self._running:
            return []
        ray = self._ray
        limit = _wait_limit(timeout, [deadline for _, deadline, _ in self._running.values()])
        tasks = list(self._running)
        ready, _ = ray.wait(tasks, num_returns=1, timeout=limit)
        if ready:  # whatever else ended meanwhile, too
            ready, _ = ray.wait(tasks, num_returns=len(tasks), timeout=0)
        done = []
        for task in ready:
            ticket, _, _ = self._running.pop(task)
            try:
                done.append(Finished(ticket, ray.get(task)))
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(exc.cause, BaseException) else exc
                done.append(Finished(ticket, error=_failure(cause)))
            except ray.exceptions.RayError as exc:
                done.append(Finished(ticket, error=f"its Ray task failed: {_failure(exc)}"))
        now = time.monotonic()
        for task, (ticket, deadline, seconds) in list(self._running.items()):
            if deadline is not None and deadline <= now:
                del self._running[task]
                ray.cancel(task, force=True)
                error = f"timed out after {seconds:g} s (its Ray task was cancelled)"
                done.append(Finished(ticket, error=error))
        return done

    def close(self) -> None:
        for task in self._running:
            self._ray.cancel(task, force=True)
        self._running.clear()
        if self._owns:
            self._ray.shutdown()
