"""How much one search may ask for, checked in one place so every backend and entry point
(embedded client, CLI, platform server, remote client through the server) refuses the same
requests with the same message.

The bounds keep one request from exhausting the database: SQLite crashes the process on a
query ordered by 31 keys and refuses an expression tree deeper than 1000, and a page of more
than 50,000 runs is a bulk export, not a page.
"""

from __future__ import annotations

from loopml.core.errors import InvalidInputError

MAX_RESULTS_LIMIT = 50_000
MAX_ORDER_BY_KEYS = 10
MAX_FILTER_CLAUSES = 100


def check_max_results(max_results: object) -> int:
    """``max_results`` as an int from 1 to :data:`MAX_RESULTS_LIMIT`."""
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise InvalidInputError(
            f"max_results must be an integer from 1 to {MAX_RESULTS_LIMIT}, got {max_results!r}."
        )
    if not 1 <= max_results <= MAX_RESULTS_LIMIT:
        raise InvalidInputError(
            f"max_results must be from 1 to {MAX_RESULTS_LIMIT}, got {max_results}; "
            "page through larger results with page_token."
        )
    return max_results


def check_order_by_count(count: int) -> None:
    if count > MAX_ORDER_BY_KEYS:
        raise InvalidInputError(
            f"order_by has {count} keys; at most {MAX_ORDER_BY_KEYS} are allowed. "
            "Order by fewer fields."
        )


def check_clause_count(count: int) -> None:
    """Called as the filter is parsed, so a huge filter stops at its first clause too many."""
    if count > MAX_FILTER_CLAUSES:
        raise InvalidInputError(
            f"filter has more than {MAX_FILTER_CLAUSES} clauses; at most "
            f"{MAX_FILTER_CLAUSES} are allowed. Narrow the search with fewer conditions "
            "(e.g. by experiment or a tag)."
        )
