"""Entries of a run's artifact index must point at blobs the artifact store holds, with their
real size: checked where entries arrive from outside (the platform server's route), so a
remote client cannot record a file that no one can download or that reads back short.

The embedded client builds its entries from the blobs it has just stored
(:func:`loopml.tracking.artifacts.upload`), so they hold by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

from loopml.core.entities import ArtifactEntry
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.core.hashing import Digest
from loopml.core.validation import normalize_artifact_path
from loopml.stores.artifacts.base import ArtifactStore


def check_entries_point_at_stored_blobs(
    store: ArtifactStore, entries: Sequence[ArtifactEntry]
) -> None:
    """:class:`InvalidInputError` naming the first entry whose path is not a relative POSIX
    path, whose digest is malformed or absent from ``store``, or whose size differs."""
    sizes: dict[Digest, int] = {}
    for entry in entries:
        if not isinstance(entry, ArtifactEntry):
            raise InvalidInputError(f"entries must hold ArtifactEntry objects, got {entry!r:.80}.")
        path = normalize_artifact_path(entry.path)
        try:
            digest = Digest.parse(entry.digest)
        except InvalidInputError as exc:
            raise InvalidInputError(f"The digest of artifact {path!r} is invalid: {exc}") from exc
        if digest not in sizes:
            try:
                sizes[digest] = store.size(digest)
            except NotFoundError:
                raise InvalidInputError(
                    f"Artifact {path!r} points at blob {digest}, which is not in the artifact "
                    "store: upload the blob first (PUT /api/v1/blobs), then record the entry."
                ) from None
        if entry.size != sizes[digest]:
            raise InvalidInputError(
                f"Artifact {path!r} says {entry.size!r} bytes, but blob {digest} holds "
                f"{sizes[digest]}: record the blob's real size."
            )
