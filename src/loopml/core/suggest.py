"""'Did you mean …?' hints for a mistyped name (pure; difflib)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# candidates considered at most: a store with more names gets no hint rather than a slow one
MAX_CANDIDATES = 10_000


def did_you_mean(name: str, candidates: Iterable[str], *, limit: int = 3) -> str:
    """`` Did you mean 'a' or 'b'?`` for the names closest to ``name``, or ``""`` if none is.

    >>> did_you_mean("iris-clff", ["iris-clf", "wine"])
    " Did you mean 'iris-clf'?"
    """
    pool = []
    for count, candidate in enumerate(candidates):
        if count >= MAX_CANDIDATES:
            break
        pool.append(candidate)
    folded = {candidate.casefold(): candidate for candidate in pool}
    close = difflib.get_close_matches(name.casefold(), folded, n=limit, cutoff=0.6)
    if not close:
        return ""
    quoted = [repr(folded[match]) for match in close]
    shown = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + f" or {quoted[-1]}"
    return f" Did you mean {shown}?"
