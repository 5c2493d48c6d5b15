"""The query parameters of a paged listing route, bounded before the store sees them.

A listing route given none of them answers its whole list, as before paging existed; given
``max_results`` or ``page_token`` (or ``newest_first``), one page with its
``next_page_token``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from loopml.core.query_limits import MAX_RESULTS_LIMIT
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS

MAX_TOKEN_LENGTH = 4000

MaxResults = Annotated[
    int | None,
    Query(ge=1, le=MAX_RESULTS_LIMIT, description="Items in a page (asks for one page)."),
]
PageToken = Annotated[
    str | None,
    Query(max_length=MAX_TOKEN_LENGTH, description="The previous page's next_page_token."),
]
NewestFirst = Annotated[bool, Query(description="Newest first (a page).")]


def is_paged(max_results: int | None, page_token: str | None, newest_first: bool = False) -> bool:
    """Whether the caller asked for a page (else the route answers the whole list)."""
    return max_results is not None or page_token is not None or newest_first


def page_size(max_results: int | None) -> int:
    return DEFAULT_MAX_RESULTS if max_results is None else max_results
