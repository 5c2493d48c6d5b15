"""Content-addressed blobs, streamed both ways so a blob is never held whole in memory.

``PUT /blobs`` spools the request body to a temporary file chunk by chunk, then hands it to
the artifact store (which hashes and publishes it atomically). ``GET /blobs/{digest}``
streams the stored bytes with their Content-Length and holds back the last chunk until the
store's reader has verified the digest: a corrupt blob is cut short, never delivered whole.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Annotated, BinaryIO, TypeVar, cast

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.hashing import CHUNK_SIZE, Digest
from loopml.server.auth import Principal, require
from loopml.server.context import Context
from loopml.server.request_ids import current_request_id
from loopml.server.schemas import BlobOut

router = APIRouter(tags=["blobs"])
T = TypeVar("T")
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_UPLOAD = {"requestBody": {"required": True, "content": _BINARY}}


def _missing(digest: Digest) -> NotFoundError:
    return NotFoundError(f"Blob {digest} is not in the server's artifact store.")


def _or_missing(action: Callable[[Digest], T], digest: Digest) -> T:
    """``action(digest)``, with a not-found message that does not reveal server paths."""
    try:
        return action(digest)
    except NotFoundError:
        raise _missing(digest) from None


def _new_spool(folder: Path | None) -> IO[bytes]:
    """An anonymous temporary file (gone when closed, even if the server dies)."""
    return tempfile.TemporaryFile(dir=folder)


async def _spool(request: Request, spool: IO[bytes]) -> int:
    """Copy the request body into ``spool`` in ~1 MiB writes off the event loop; its size."""
    buffer = bytearray()
    size = 0
    try:
        async for chunk in request.stream():
            buffer += chunk
            size += len(chunk)
            if len(buffer) >= CHUNK_SIZE:
                await anyio.to_thread.run_sync(spool.write, bytes(buffer))
                buffer.clear()
    except ClientDisconnect as exc:
        raise InvalidInputError("The upload was interrupted before the end of its body.") from exc
    if buffer:
        await anyio.to_thread.run_sync(spool.write, bytes(buffer))
    await anyio.to_thread.run_sync(spool.seek, 0)
    return size


@router.put("/blobs", openapi_extra=_UPLOAD)
async def put_blob(
    request: Request,
    ctx: Context,
    principal: Annotated[Principal, Depends(require("artifacts:write"))],
) -> BlobOut:
    """Store the request body (``application/octet-stream``); answers its digest and size."""
    spool = await anyio.to_thread.run_sync(_new_spool, ctx.spool_dir)
    try:
        size = await _spool(request, spool)
        digest = await anyio.to_thread.run_sync(ctx.artifact_store.put, cast(BinaryIO, spool))
    finally:
        await anyio.to_thread.run_sync(spool.close)
    # the artifact store has no transaction to share: the event follows the stored blob (a
    # crash between them leaves a content-addressed blob nothing references, which gc drops)
    event = functools.partial(
        ctx.metadata_store.append_event,
        actor=principal.name,
        action="blob.put",
        target=f"blob:{digest}",
        payload={"size": size},
        request_id=current_request_id(),
    )
    await anyio.to_thread.run_sync(event)
    return BlobOut(digest=str(digest), size=size)


def _verified_chunks(reader: BinaryIO) -> Iterator[bytes]:
    """The reader's bytes; the read that reaches the end (and raises IntegrityError on a
    mismatch) happens before the last chunk is sent, so a corrupt blob never arrives whole."""
    with reader:
        pending = reader.read(CHUNK_SIZE)
        while pending:
            following = reader.read(CHUNK_SIZE)
            yield pending
            pending = following


@router.get(
    "/blobs/{digest}",
    response_class=StreamingResponse,
    responses={200: {"content": _BINARY, "description": "The blob's bytes."}},
    dependencies=[Depends(require("artifacts:read"))],
)
def get_blob(digest: str, ctx: Context) -> StreamingResponse:
    """The blob's bytes, streamed, with Content-Length; the digest is verified on the way."""
    parsed = Digest.parse(digest)
    size = _or_missing(ctx.artifact_store.size, parsed)
    reader = _or_missing(ctx.artifact_store.open, parsed)
    return StreamingResponse(
        _verified_chunks(reader),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size)},
    )


@router.head("/blobs/{digest}", dependencies=[Depends(require("artifacts:read"))])
def head_blob(digest: str, ctx: Context) -> Response:
    """200 with the blob's size as Content-Length if the server has it, else 404."""
    parsed = Digest.parse(digest)
    size = _or_missing(ctx.artifact_store.size, parsed)
    return Response(media_type="application/octet-stream", headers={"Content-Length": str(size)})
