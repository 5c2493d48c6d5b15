"""The artifact store over HTTP: blobs stream up and down in chunks, never whole in memory.

``put`` sends the stream as a chunked request body; ``open`` returns a reader over the
streaming response, wrapped in a :class:`VerifyingReader` so the client checks the digest too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import httpx

from loopml.core.errors import IntegrityError, NotFoundError
from loopml.core.hashing import CHUNK_SIZE, Digest, iter_chunks
from loopml.core.redaction import redact_uri
from loopml.stores.artifacts.chunked_reader import ChunkedReader
from loopml.stores.artifacts.verify import VerifyingReader
from loopml.stores.remote.http import ApiClient
from loopml.stores.remote.wire import WireFormatError


def _missing(digest: Digest, uri: str) -> NotFoundError:
    return NotFoundError(
        f"Blob {digest} is not in the artifact store of the server at {redact_uri(uri)}. Check "
        "the digest, or that the artifact was logged to this server."
    )


class _ResponseReader(ChunkedReader):
    """Forward-only reader over a streaming response's body; closing it closes the response."""

    def __init__(self, response: httpx.Response, api: ApiClient, digest: Digest) -> None:
        super().__init__()
        self._response = response
        self._api = api
        self._digest = digest
        self._chunks = response.iter_raw(CHUNK_SIZE)

    def _release(self) -> None:
        self._response.close()

    def _next_chunk(self) -> bytes | None:
        try:
            return next(self._chunks, None)
        except httpx.RemoteProtocolError as exc:
            # the server stops short of Content-Length when the stored bytes fail verification
            raise IntegrityError(
                f"Blob {self._digest} failed verification: the server at {self._api.shown_url} "
                "cut the download short, which it does when the stored bytes do not match the "
                f"digest ({exc}). Do not use the partial data; the server log has the details."
            ) from exc
        except httpx.TransportError as exc:
            raise self._api.unavailable(exc) from exc


class HttpArtifactStore:
    """An :class:`ArtifactStore` that talks to ``loopml server`` at ``uri``."""

    def __init__(self, uri: str, *, token: str | None = None) -> None:
        self.uri = uri
        self._api = ApiClient(uri, token=token)

    def __repr__(self) -> str:
        return f"HttpArtifactStore({redact_uri(self.uri)!r})"

    def put(self, data: BinaryIO) -> Digest:
        start = _position(data)

        def body() -> Iterator[bytes]:
            if start is not None:
                data.seek(start)
            yield from iter_chunks(data, CHUNK_SIZE)

        response = self._api.request(
            "PUT",
            "/blobs",
            content=body,
            headers={"Content-Type": "application/octet-stream"},
            # a stream that cannot rewind can only be re-sent if none of it was read
            idempotent=start is not None,
            slow=True,
        )
        try:
            digest = response.json().get("digest")
        except (ValueError, AttributeError):
            digest = None
        if not isinstance(digest, str):
            raise WireFormatError(f"The server answered an upload without a digest: {digest!r}.")
        return Digest.parse(digest)

    def open(self, digest: Digest) -> BinaryIO:
        try:
            response = self._api.stream("GET", f"/blobs/{digest}")
        except NotFoundError as exc:
            raise _missing(digest, self.uri) from exc
        return VerifyingReader(_ResponseReader(response, self._api, digest), digest)

    def exists(self, digest: Digest) -> bool:
        return self._head(digest) is not None

    def size(self, digest: Digest) -> int:
        size = self._head(digest)
        if size is None:
            raise _missing(digest, self.uri)
        return size

    def close(self) -> None:
        self._api.close()

    def _head(self, digest: Digest) -> int | None:
        """The blob's size, or None if the server does not have it."""
        response = self._api.request("HEAD", f"/blobs/{digest}", accept=(404,))
        if response.status_code == 404:
            return None
        length = response.headers.get("Content-Length", "")
        if not length.isdigit():
            raise WireFormatError(f"The server gave blob {digest} no size: {length!r}.")
        return int(length)


def _position(data: BinaryIO) -> int | None:
    """Where a seekable stream is now (to rewind for a retry); None if it cannot seek."""
    try:
        return data.tell() if data.seekable() else None
    except (OSError, ValueError, AttributeError):
        return None
