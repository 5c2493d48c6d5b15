"""What every slice of the remote metadata store stands on: the API client and the paths
of its requests (see :class:`~loopml.stores.remote.metadata.HttpMetadataStore`).
"""

from __future__ import annotations

from urllib.parse import quote

from loopml.core.errors import InvalidInputError
from loopml.core.validation import validate_name
from loopml.stores.remote.http import ApiClient, Params

RETURN_MINIMAL = {"Prefer": "return=minimal"}


class HttpSlice:
    """One capability of the remote metadata store, on the store's API client."""

    _api: ApiClient


def segment(value: str) -> str:
    """One path segment, with ``/`` and every other reserved character escaped."""
    return quote(str(value), safe="")


def page_params(max_results: int, page_token: str | None) -> Params:
    params: dict[str, str | int] = {"max_results": max_results}
    if page_token is not None:
        params["page_token"] = page_token
    return params


def name_segment(kind: str, name: object) -> str:
    """A dataset or model name as a path segment; what no segment can carry is refused here
    with the store's message (the server checks the rest)."""
    text = validate_name(kind, name)
    if "/" in text:
        raise InvalidInputError(
            f"The {kind} name {text!r} contains characters that are not allowed; use only "
            "letters, digits and _ - . (no '@', '/' or whitespace)."
        )
    return dotless_segment(text)


def dotless_segment(text: str) -> str:
    # "." and ".." would be dot segments, which URL normalisation removes
    return segment(text).replace(".", "%2E")
