"""Versioned datasets: immutable, numbered snapshots of a file or folder, with table profiles.

A version is a tree object in the artifact store (unchanged files are stored once, whatever
version they belong to) plus a JSON blob ``{path: TableProfile dict}`` for its table files;
the metadata store numbers the versions.

>>> result = add("iris", "data/iris.csv", message="first cut")  # doctest: +SKIP
>>> get("iris@1").to_arrow().num_rows  # doctest: +SKIP
150
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from loopml.core.entities import DatasetVersion
from loopml.core.errors import (
    BackendUnavailableError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from loopml.core.hashing import Digest, hash_bytes
from loopml.core.ids import now_ms
from loopml.core.refs import check_dataset_name, format_dataset_ref, parse_dataset_ref
from loopml.core.suggest import did_you_mean
from loopml.data.formats import table_format
from loopml.data.profiles import TableProfile
from loopml.data.statcache import StatCache
from loopml.data.workspace import (
    LocalFile,
    WorkspaceStatus,
    check_unchanged,
    digests,
    fingerprint,
    scan,
    status_of,
)
from loopml.stores.artifacts.base import ArtifactStore, batched_writes, claim
from loopml.stores.artifacts.trees import (
    TreeEntry,
    encode_tree,
    get_tree,
    materialize_tree,
    put_file,
    put_tree,
)
from loopml.tracking.client import Client, client_scope

if TYPE_CHECKING:
    import pandas  # type: ignore[import-untyped,import-not-found,unused-ignore]
    import pyarrow as pa

    from loopml.data.schema import Schema
    from loopml.data.validation import ValidationReport

# pyarrow, numpy and the table modules are imported where used: listing, hashing and
# comparing files (add of non-tables, status) must not pay for them

__all__ = [
    "AddResult",
    "DatasetStatus",
    "Progress",
    "VersionHandle",
    "add",
    "get",
    "list_datasets",
    "log",
    "remove",
    "status",
    "validate_files",
]

Progress = Callable[[int, int], None]
"""Called as ``progress(files_done, files_total)`` while a folder is stored."""


@dataclass(frozen=True)
class AddResult:
    """The version holding the content; ``created`` is False when the newest version
    already had exactly this content (then no version was made)."""

    version: DatasetVersion
    created: bool


@dataclass(frozen=True)
class DatasetStatus:
    """How a folder (``found.source``) differs from the newest ``version`` of a dataset."""

    version: DatasetVersion
    found: WorkspaceStatus

    @property
    def clean(self) -> bool:
        return self.found.clean

    def to_dict(self) -> dict[str, object]:
        return {
            "dataset": self.version.dataset,
            "version": self.version.version,
            "source": self.found.source,
            "clean": self.clean,
            "added": self.found.added,
            "removed": self.found.removed,
            "modified": self.found.modified,
            "unchanged": self.found.unchanged,
        }


@dataclass(frozen=True)
class VersionHandle:
    """One dataset version, ready to read: its files, tables and profiles."""

    version: DatasetVersion
    artifacts: ArtifactStore = field(repr=False)
    cache_root: Path = field(repr=False)

    @property
    def ref(self) -> str:
        return format_dataset_ref(self.version.dataset, self.version.version)

    def files(self) -> list[TreeEntry]:
        """The version's files (sorted by path), without downloading them."""
        return get_tree(self.artifacts, Digest.parse(self.version.tree_digest))

    def path(self) -> Path:
        """A local folder with the version's files (downloaded once, then reused).

        Treat it as read-only: every user of the same content shares it.
        """
        digest = Digest.parse(self.version.tree_digest)
        final = self.cache_root / digest.hexdigest
        if final.is_dir():
            return final
        self.cache_root.mkdir(parents=True, exist_ok=True)
        staging = self.cache_root / f".{digest.hexdigest}.{secrets.token_hex(6)}.tmp"
        try:
            materialize_tree(self.artifacts, digest, staging)
            try:
                os.replace(staging, final)
            except OSError:
                if not final.is_dir():  # not "another process published it first"
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return final

    def tables(self) -> list[str]:
        """Paths of the table files (CSV, Parquet, JSON lines) in the version."""
        return [entry.path for entry in self.files() if table_format(entry.path)]

    def to_arrow(self, path: str | None = None) -> pa.Table:
        """The table ``path`` (may be omitted when the version holds exactly one table)."""
        import pyarrow as pa

        from loopml.data.tables import read_batches

        chosen = self._table(path, "to_arrow")
        batches = list(read_batches(self.path() / chosen))
        return pa.Table.from_batches(batches) if batches else pa.table({})

    def to_pandas(self, path: str | None = None) -> pandas.DataFrame:
        """Like :meth:`to_arrow`, as a pandas DataFrame (needs pandas installed)."""
        try:
            import pandas  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailableError(
                "to_pandas needs pandas, which is not installed. Run 'pip install pandas', "
                "or use to_arrow()."
            ) from exc
        frame: pandas.DataFrame = self.to_arrow(path).to_pandas()
        return frame

    def profiles(self) -> dict[str, TableProfile]:
        """The profile of every table file, computed when the version was added."""
        if self.version.profiles_digest is None:
            return {}
        with self.artifacts.open(Digest.parse(self.version.profiles_digest)) as reader:
            document = json.loads(reader.read().decode("utf-8"))
        return {path: TableProfile.from_dict(data) for path, data in document.items()}

    def schema(self, path: str | None = None) -> Schema:
        """A schema inferred from the profile of table ``path`` (optional if only one)."""
        from loopml.data.schema import infer_schema

        profiles = self.profiles()
        chosen = self._table(path, "schema", list(profiles))
        return infer_schema(profiles[chosen])

    def _table(self, path: str | None, method: str, tables: list[str] | None = None) -> str:
        tables = self.tables() if tables is None else tables
        if path is not None:
            if path not in tables:
                listed = ", ".join(tables) or "none"
                raise NotFoundError(f"{self.ref} has no table {path!r}. Its tables: {listed}.")
            return path
        if len(tables) == 1:
            return tables[0]
        if not tables:
            raise InvalidInputError(
                f"{self.ref} holds no table file (CSV, Parquet or JSON lines); use .path() "
                "to read its files."
            )
        raise InvalidInputError(
            f"{self.ref} holds {len(tables)} tables ({', '.join(tables[:5])}"
            f"{', …' if len(tables) > 5 else ''}); say which one, e.g. "
            f"{method}(path={tables[0]!r})."
        )


# service functions -------------------------------------------------------------------------
def add(
    name: str,
    path: str | os.PathLike[str],
    *,
    message: str = "",
    client: Client | None = None,
    progress: Progress | None = None,
    origin: str | None = None,
) -> AddResult:
    """Snapshot the file or folder ``path`` as the next version of dataset ``name``.

    Files whose stat is in the stat cache are not read again, so re-adding an unchanged tree
    only lists it. Every new table file is profiled; a malformed one raises its
    :class:`~loopml.data.tables.TableFormatError` and no version is recorded. ``origin`` is
    recorded as where the version came from instead of ``path`` (files put together in a
    temporary folder, like an export of labelled predictions).
    """
    check_dataset_name(name)
    source = Path(path)
    files = _scan(source, f"Cannot add {source} to dataset {name!r}")
    with (
        client_scope(client, create=True) as active,
        StatCache(_cache_root(active) / "stat.sqlite") as cache,
    ):
        newest = _newest(active, name)
        if newest is not None and _same_tree(source, files, cache, newest):
            return AddResult(newest, False)
        store = active.artifacts
        with batched_writes(store):
            entries = digests(
                files,
                cache,
                hash_file=lambda file: _put(store, file),
                usable=lambda digest: claim(store, digest),  # gc must not take it now
                progress=progress,
            )
            tree = put_tree(store, entries)
            profiles_digest = _store_profiles(store, files, entries, newest)
        check_unchanged(files)
        new = DatasetVersion(
            dataset=name,
            version=0,
            tree_digest=str(tree),
            created_at=now_ms(),
            message=message,
            size=sum(entry.size for entry in entries),
            file_count=len(entries),
            profiles_digest=profiles_digest,
            source=origin if origin is not None else _source_text(source, active.project_root),
        )
        version, created = active.metadata.add_dataset_version(new)
    return AddResult(version, created)


def status(
    name: str, *, path: str | os.PathLike[str] | None = None, client: Client | None = None
) -> DatasetStatus:
    """How the files at ``path`` (default: where the newest version was added from) differ
    from the newest version of ``name``. Reads only files whose stat changed."""
    check_dataset_name(name)
    with client_scope(client, create=False) as active:
        version = active.metadata.get_dataset_version(name)
        if path is not None:
            source = Path(path)
        elif version.source is not None:
            source = _source_path(version.source, active.project_root)
        else:
            raise InvalidInputError(
                f"{format_dataset_ref(name, version.version)} does not record where it was "
                "added from; pass the folder or file to compare with (--path)."
            )
        # an emptied folder is "every file removed", not an error
        files = _scan(source, f"Cannot compare {source} with {name!r}", allow_empty=True)
        with StatCache(_cache_root(active) / "stat.sqlite") as cache:
            if _same_tree(source, files, cache, version):  # every stat cached, same tree: no reads
                found = WorkspaceStatus(str(source), unchanged=len(files))
            else:
                stored = get_tree(active.artifacts, Digest.parse(version.tree_digest))
                found = status_of(source, files, stored, cache)
    return DatasetStatus(version, found)


def get(
    ref: str, *, client: Client | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> VersionHandle:
    """The version named by ``ref`` (``"iris"``, ``"iris@latest"`` or ``"iris@3"``).

    Files are materialised under ``cache_dir`` (default: ``.loopml/cache/datasets`` of the
    client's project, else the user cache folder).
    """
    name, number = parse_dataset_ref(ref)
    with client_scope(client, create=False) as active:
        version = active.metadata.get_dataset_version(name, number)
        artifacts = active.artifacts
        root = Path(cache_dir) if cache_dir is not None else _cache_root(active) / "datasets"
    return VersionHandle(version, artifacts, root)


def list_datasets(*, client: Client | None = None) -> list[DatasetVersion]:
    """The newest version of every dataset, by name."""
    with client_scope(client, create=False) as active:
        return active.metadata.list_dataset_versions(None)


def log(name: str, *, client: Client | None = None) -> list[DatasetVersion]:
    """Every version of dataset ``name``, oldest first; :class:`NotFoundError` if none."""
    check_dataset_name(name)
    with client_scope(client, create=False) as active:
        versions = active.metadata.list_dataset_versions(name)
        if not versions:
            known = (v.dataset for v in active.metadata.list_dataset_versions(None))
            hint = did_you_mean(name, known) or " List datasets with 'loopml data list'."
            raise NotFoundError(f"No dataset named {name!r}.{hint}")
    return versions


def remove(name: str, version: int | None = None, *, client: Client | None = None) -> None:
    """Delete one version, or the whole dataset when ``version`` is None. The files stay in
    the artifact store until garbage collection; version numbers are never reused."""
    check_dataset_name(name)
    with client_scope(client, create=False) as active:
        active.metadata.delete_dataset_version(name, version)


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/loopml`` (default ``~/.cache/loopml``): caches outside a project."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "loopml"


# helpers -------------------------------------------------------------------------------------


def _scan(source: Path, action: str, *, allow_empty: bool = False) -> list[LocalFile]:
    try:
        files = scan(source)
    except NotFoundError as exc:
        raise NotFoundError(f"{action}: {exc}") from exc
    if not files and not allow_empty:
        raise InvalidInputError(
            f"{action}: it holds no files (empty folders and symlinks are not recorded)."
        )
    return files


def _newest(client: Client, name: str) -> DatasetVersion | None:
    try:
        return client.metadata.get_dataset_version(name)
    except NotFoundError:
        return None


def _same_tree(
    source: Path, files: list[LocalFile], cache: StatCache, newest: DatasetVersion
) -> bool:
    """True if every file's digest is cached and together they make ``newest``'s tree.

    The tree digest itself is cached under a fingerprint of all the stats, so an untouched
    folder costs one scan and one lookup."""
    key = os.path.abspath(source)
    stats = fingerprint(files)
    tree = cache.tree(key, stats)
    if tree is None:
        known = cache.lookup([file.stat for file in files])
        if len(known) != len(files):
            return False
        rows = [TreeEntry(file.relative, known[file.stat.path], file.stat.size) for file in files]
        tree = hash_bytes(encode_tree(rows))
        cache.record_tree(key, stats, tree)
    return str(tree) == newest.tree_digest


def _put(store: ArtifactStore, file: LocalFile) -> Digest:
    digest, size = put_file(store, file.stat.path)
    if size != file.stat.size:
        raise ConflictError(
            f"{file.path} changed size while it was being stored ({file.stat.size} → {size} "
            "bytes); nothing was recorded. Retry once whatever is writing it has finished."
        )
    return digest


def _store_profiles(
    store: ArtifactStore,
    files: list[LocalFile],
    entries: list[TreeEntry],
    newest: DatasetVersion | None,
) -> str | None:
    """Profile every table file (reusing the newest version's profile of identical content)
    and store them as one JSON blob; None when there is no table."""
    previous: dict[Digest, dict[str, object]] = {}
    if newest is not None and newest.profiles_digest is not None:
        old = VersionHandle(newest, store, Path())
        by_path = {entry.path: entry.digest for entry in old.files()}
        with store.open(Digest.parse(newest.profiles_digest)) as reader:
            for path, data in json.loads(reader.read().decode("utf-8")).items():
                if path in by_path:
                    previous[by_path[path]] = data
    profiles = {}
    for file, entry in zip(files, entries, strict=True):
        if table_format(entry.path):
            profiles[entry.path] = previous.get(entry.digest) or _profile(file.path).to_dict()
    if not profiles:
        return None
    blob = json.dumps(profiles, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return str(store.put(io.BytesIO(blob)))


def _profile(file: Path) -> TableProfile:
    from loopml.data.profiling import compute_profile
    from loopml.data.tables import read_batches

    fmt = table_format(file) or ""
    return compute_profile(read_batches(file), source_format=fmt)


def _cache_root(client: Client) -> Path:
    """The client's project cache folder, or the user's when it has no project."""
    if client.project_root is not None:
        return client.project_root / "cache"
    return user_cache_dir()


def _source_text(source: Path, root: Path | None) -> str:
    """``source`` relative to the project folder when inside it (portable), else absolute."""
    absolute = Path(os.path.abspath(source))
    if root is not None:
        with contextlib.suppress(ValueError):
            return absolute.relative_to(root.parent).as_posix() or "."
    return str(absolute)


def _source_path(text: str, root: Path | None) -> Path:
    path = Path(text)
    if path.is_absolute() or root is None:
        return path
    return root.parent / path


def validate_files(
    path: str | os.PathLike[str],
    *,
    schema: Schema | None = None,
    reference: VersionHandle | None = None,
) -> list[ValidationReport]:
    """Check every table file at ``path`` (a file or a folder) against ``schema``, or else
    against the schema inferred from the same-named table of ``reference``."""
    from loopml.data.tables import read_batches
    from loopml.data.validation import validate

    source = Path(path)
    if not source.exists():
        raise NotFoundError(f"Cannot validate {source}: no such file or folder.")
    tables = [(file.relative, file.path) for file in scan(source) if table_format(file.relative)]
    if not tables:
        raise InvalidInputError(
            f"Cannot validate {source}: it holds no table file (CSV, Parquet or JSON lines)."
        )
    if schema is None and reference is None:
        raise InvalidInputError("validate_files needs a schema or a reference version.")
    reports = []
    for relative, file in tables:
        chosen = schema if schema is not None else _reference_schema(reference, relative)
        reports.append(validate(read_batches(file), chosen, source=str(file)))
    return reports


def _reference_schema(reference: VersionHandle | None, relative: str) -> Schema:
    assert reference is not None  # checked by the caller; not user input
    tables = list(reference.profiles())
    if relative in tables or len(tables) != 1:
        return reference.schema(relative)
    return reference.schema(tables[0])
