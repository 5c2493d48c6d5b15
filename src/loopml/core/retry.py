"""One policy for riding out short outages: a time budget, exponential backoff with jitter.

The HTTP transport, the S3 artifact store and the pipeline driver all retry transient
failures (a server restarting, a database failing over, an S3 endpoint briefly away) with
the same policy, so "how long does loopml wait for the platform to come back" has one answer:
``LOOPML_RETRY_BUDGET_S`` seconds (30 by default; 0 turns retrying off). Whether a failure is
transient, and whether repeating an operation is safe, is for the caller to say.

>>> policy = RetryPolicy(budget_s=5.0)
>>> policy.call(lambda: 42, is_transient=lambda exc: False)
42
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from loopml.core.env_numbers import env_number

__all__ = ["DEFAULT_RETRY_BUDGET_S", "ENV_RETRY_BUDGET_S", "RetryPolicy", "RetryWindow"]

ENV_RETRY_BUDGET_S = "LOOPML_RETRY_BUDGET_S"
DEFAULT_RETRY_BUDGET_S = 30.0
_log = logging.getLogger("loopml.retry")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Retry for up to ``budget_s`` seconds after the first failure, sleeping ``first_s``,
    then twice as long each time up to ``max_sleep_s``, each sleep jittered down by up to
    ``jitter`` of itself (so clients that failed together do not come back together)."""

    budget_s: float = DEFAULT_RETRY_BUDGET_S
    first_s: float = 0.1
    max_sleep_s: float = 2.0
    jitter: float = 0.5
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        """The policy ``LOOPML_RETRY_BUDGET_S`` asks for (seconds, ``0`` for no retries)."""
        budget = env_number(
            ENV_RETRY_BUDGET_S, DEFAULT_RETRY_BUDGET_S, high=86_400, unit="seconds", environ=environ
        )
        return cls(budget_s=budget)

    def window(self) -> RetryWindow:
        """A fresh budget for one operation; start it when the operation is first tried."""
        return RetryWindow(self)

    def call(
        self,
        operation: Callable[[], T],
        *,
        is_transient: Callable[[BaseException], bool],
        what: str = "operation",
    ) -> T:
        """``operation()``, repeated while it raises an error ``is_transient`` accepts and
        the budget lasts; the last error is raised as it was."""
        window = self.window()
        while True:
            try:
                return operation()
            except Exception as exc:
                if not is_transient(exc) or not window.wait(what, exc):
                    raise


class RetryWindow:
    """One operation's retries: :meth:`wait` sleeps before the next try, or says the budget
    is spent."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._deadline: float | None = None
        self._attempt = 0

    @property
    def attempts(self) -> int:
        """How many retries were waited for so far."""
        return self._attempt

    def wait(self, what: str, error: BaseException | str) -> bool:
        """Sleep before the next try and return True; False (without sleeping) once the
        budget is spent. The first wait of a window is logged, so a stall has a reason."""
        policy = self._policy
        now = policy.clock()
        if self._deadline is None:
            self._deadline = now + policy.budget_s
        left = self._deadline - now
        if left <= 0:
            return False
        delay = min(policy.first_s * 2**self._attempt, policy.max_sleep_s)
        delay *= 1.0 - policy.jitter * random.random()
        if self._attempt == 0:
            _log.warning(
                "%s failed (%s); retrying for up to %.0f s (%s)",
                what,
                error,
                policy.budget_s,
                ENV_RETRY_BUDGET_S,
            )
        self._attempt += 1
        policy.sleep(min(delay, left))
        return True
