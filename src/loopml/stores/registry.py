"""URI scheme → backend class, imported lazily so unused backends cost nothing."""

from __future__ import annotations

import importlib
from typing import cast
from urllib.parse import urlsplit

from loopml.core.errors import BackendUnavailableError, ConfigError
from loopml.core.redaction import redact_uri
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.artifacts.encryption_keys import keyring_from_env
from loopml.stores.identity.base import IdentityStore
from loopml.stores.loop.base import LoopStore
from loopml.stores.metadata.base import MetadataStore

# scheme -> ("module:Class", extra that provides its dependencies or "")
METADATA_BACKENDS: dict[str, tuple[str, str]] = {
    "sqlite": ("loopml.stores.metadata.sql.store:SqlMetadataStore", ""),
    "postgresql": ("loopml.stores.metadata.sql.store:SqlMetadataStore", "postgres"),
    "postgresql+psycopg": ("loopml.stores.metadata.sql.store:SqlMetadataStore", "postgres"),
    "http": ("loopml.stores.remote.metadata:HttpMetadataStore", ""),
    "https": ("loopml.stores.remote.metadata:HttpMetadataStore", ""),
}
LOOP_BACKENDS: dict[str, tuple[str, str]] = {
    "sqlite": ("loopml.stores.loop.sql:SqlLoopStore", ""),
    "postgresql": ("loopml.stores.loop.sql:SqlLoopStore", "postgres"),
    "postgresql+psycopg": ("loopml.stores.loop.sql:SqlLoopStore", "postgres"),
    "http": ("loopml.stores.remote.loop:HttpLoopStore", ""),
    "https": ("loopml.stores.remote.loop:HttpLoopStore", ""),
}
IDENTITY_BACKENDS: dict[str, tuple[str, str]] = {
    "sqlite": ("loopml.stores.identity.sql:SqlIdentityStore", ""),
    "postgresql": ("loopml.stores.identity.sql:SqlIdentityStore", "postgres"),
    "postgresql+psycopg": ("loopml.stores.identity.sql:SqlIdentityStore", "postgres"),
    "http": ("loopml.stores.remote.identity:HttpIdentityStore", ""),
    "https": ("loopml.stores.remote.identity:HttpIdentityStore", ""),
}
ARTIFACT_BACKENDS: dict[str, tuple[str, str]] = {
    "file": ("loopml.stores.artifacts.local:LocalArtifactStore", ""),
    "s3": ("loopml.stores.artifacts.fsspec_store:FsspecArtifactStore", "s3"),
    "memory": ("loopml.stores.artifacts.fsspec_store:FsspecArtifactStore", ""),
    "http": ("loopml.stores.remote.artifacts:HttpArtifactStore", ""),
    "https": ("loopml.stores.remote.artifacts:HttpArtifactStore", ""),
}


def scheme_of(uri: str) -> str:
    scheme = urlsplit(uri).scheme.lower()
    # a bare path, or a Windows drive letter, is a local folder
    return "file" if len(scheme) <= 1 else scheme


def _load(table: dict[str, tuple[str, str]], uri: str, what: str) -> type:
    scheme = scheme_of(uri)
    if scheme not in table:
        supported = ", ".join(f"{s}://" for s in sorted(table))
        raise ConfigError(
            f"Unsupported {what} URI scheme {scheme!r} in {redact_uri(uri)!r}; "
            f"supported: {supported}."
        )
    target, extra = table[scheme]
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f" Install it with: pip install 'loopml[{extra}]'." if extra else ""
        raise BackendUnavailableError(
            f"The {what} backend for {scheme}:// needs a package that is missing ({exc.name})."
            + hint
        ) from exc
    return cast(type, getattr(module, class_name))


def open_metadata_store(uri: str, *, token: str | None = None) -> MetadataStore:
    """Open the metadata store at ``uri`` (``sqlite:///…``, ``postgresql+psycopg://…``,
    ``http://host:port``). Fresh SQL stores are migrated to the newest schema first."""
    cls = _load(METADATA_BACKENDS, uri, "metadata store")
    if scheme_of(uri) in ("http", "https"):
        return cast(MetadataStore, cls(uri, token=token))
    return cast(MetadataStore, cls(uri))


def open_artifact_store(uri: str, *, token: str | None = None) -> ArtifactStore:
    """Open the artifact store at ``uri`` (a folder, ``file://``, ``s3://bucket/prefix``,
    ``http://host:port``). With an encryption key configured (``LOOPML_ENCRYPTION_KEY_FILE``
    or ``LOOPML_ENCRYPTION_KEY``), a folder or object store keeps its blobs encrypted; a
    server's store is encrypted by the server, with the server's key."""
    cls = _load(ARTIFACT_BACKENDS, uri, "artifact store")
    if scheme_of(uri) in ("http", "https"):
        return cast(ArtifactStore, cls(uri, token=token))
    store = cls(uri)
    keys = keyring_from_env()
    if keys is None:
        return cast(ArtifactStore, store)
    from loopml.stores.artifacts.encrypted import EncryptedArtifactStore

    return EncryptedArtifactStore(store, keys)


def open_loop_store(uri: str, *, token: str | None = None) -> LoopStore:
    """Open the loop store (deployments, leases, decisions) beside the metadata store at
    ``uri``: the same database (migrated like it), or the same ``loopml server``."""
    cls = _load(LOOP_BACKENDS, uri, "loop store")
    if scheme_of(uri) in ("http", "https"):
        return cast(LoopStore, cls(uri, token=token))
    return cast(LoopStore, cls(uri))


def open_identity_store(uri: str, *, token: str | None = None) -> IdentityStore:
    """Open the identity store (users, tokens, roles) beside the metadata store at ``uri``:
    the same database (migrated like it), or the same ``loopml server`` (as an admin)."""
    cls = _load(IDENTITY_BACKENDS, uri, "identity store")
    if scheme_of(uri) in ("http", "https"):
        return cast(IdentityStore, cls(uri, token=token))
    return cast(IdentityStore, cls(uri))
