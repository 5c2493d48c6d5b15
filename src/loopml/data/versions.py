"""Versioned datasets: immutable, numbered snapshots of a file or folder, with table profiles.

A version is a tree object in the artifact store (unchanged files are stored once, whatever
version they belong to) plus a JSON blob ``{path: TableProfile dict}`` for its table files;
the metadata store numbers the versions.

>>> result = add("iris", "data/iris.csv", message="first cut")  # doctest: +SKIP
>>> get("iris@1").to_arrow().num_rows  # doctest: +SKIP
150
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from loopml.core.config import load_config
from loopml.core.entities import DatasetVersion
from loopml.core.errors import BackendUnavailableError, InvalidInputError, NotFoundError
from loopml.core.hashing import Digest
from loopml.core.ids import now_ms
from loopml.core.refs import check_dataset_name, format_dataset_ref, parse_dataset_ref
from loopml.data.profiles import TableProfile
from loopml.data.profiling import compute_profile
from loopml.data.schema import Schema, infer_schema
from loopml.data.tables import read_batches, table_format
from loopml.data.validation import ValidationReport, validate
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.artifacts.trees import (
    TreeEntry,
    get_tree,
    materialize_tree,
    put_file,
    put_tree,
)
from loopml.tracking.client import Client

if TYPE_CHECKING:  # pandas is optional and ships no type information
    import pandas  # type: ignore[import-untyped,import-not-found,unused-ignore]

__all__ = [
    "AddResult",
    "Progress",
    "VersionHandle",
    "add",
    "get",
    "list_datasets",
    "log",
    "remove",
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
) -> AddResult:
    """Snapshot the file or folder ``path`` as the next version of dataset ``name``.

    Every table file is profiled first-hand; a malformed one raises its
    :class:`~loopml.data.tables.TableFormatError` and no version is recorded.
    """
    check_dataset_name(name)
    source = Path(path)
    if not source.exists():
        raise NotFoundError(f"Cannot add {source} to dataset {name!r}: no such file or folder.")
    with _client(client, create=True) as active:
        entries = _store_files(active.artifacts, source, progress)
        if not entries:
            raise InvalidInputError(
                f"Cannot add {source} to dataset {name!r}: it holds no files (empty folders "
                "and symlinks are not recorded)."
            )
        tree = put_tree(active.artifacts, entries)
        base = source if source.is_dir() else source.parent
        profiles = {
            entry.path: _profile(base / entry.path).to_dict()
            for entry in entries
            if table_format(entry.path)
        }
        profiles_digest = None
        if profiles:
            blob = json.dumps(profiles, sort_keys=True, separators=(",", ":")).encode("utf-8")
            profiles_digest = str(active.artifacts.put(io.BytesIO(blob)))
        new = DatasetVersion(
            dataset=name,
            version=0,
            tree_digest=str(tree),
            created_at=now_ms(),
            message=message,
            size=sum(entry.size for entry in entries),
            file_count=len(entries),
            profiles_digest=profiles_digest,
        )
        version, created = active.metadata.add_dataset_version(new)
    return AddResult(version, created)


def get(
    ref: str, *, client: Client | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> VersionHandle:
    """The version named by ``ref`` (``"iris"``, ``"iris@latest"`` or ``"iris@3"``).

    Files are materialised under ``cache_dir`` (default: ``.loopml/cache/datasets`` of the
    nearest project, else the user cache folder).
    """
    name, number = parse_dataset_ref(ref)
    with _client(client, create=False) as active:
        version = active.metadata.get_dataset_version(name, number)
        artifacts = active.artifacts
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return VersionHandle(version, artifacts, root)


def list_datasets(*, client: Client | None = None) -> list[DatasetVersion]:
    """The newest version of every dataset, by name."""
    with _client(client, create=False) as active:
        return active.metadata.list_dataset_versions(None)


def log(name: str, *, client: Client | None = None) -> list[DatasetVersion]:
    """Every version of dataset ``name``, oldest first; :class:`NotFoundError` if none."""
    check_dataset_name(name)
    with _client(client, create=False) as active:
        versions = active.metadata.list_dataset_versions(name)
    if not versions:
        raise NotFoundError(f"No dataset named {name!r}. List datasets with 'loopml data list'.")
    return versions


def remove(name: str, version: int | None = None, *, client: Client | None = None) -> None:
    """Delete one version, or the whole dataset when ``version`` is None. The files stay in
    the artifact store until garbage collection; version numbers are never reused."""
    check_dataset_name(name)
    with _client(client, create=False) as active:
        active.metadata.delete_dataset_version(name, version)


def default_cache_dir() -> Path:
    """``<project>/.loopml/cache/datasets``, or ``$XDG_CACHE_HOME/loopml/datasets``."""
    root = load_config().root
    if root is not None:
        return root / "cache" / "datasets"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "loopml" / "datasets"


# helpers -------------------------------------------------------------------------------------
@contextmanager
def _client(client: Client | None, *, create: bool) -> Iterator[Client]:
    """``client`` as is, or a client for the nearest project that is closed afterwards."""
    if client is not None:
        yield client
        return
    with Client(create=create) as owned:
        yield owned


def _store_files(store: ArtifactStore, source: Path, progress: Progress | None) -> list[TreeEntry]:
    """Store the file ``source``, or every regular file under the folder ``source``."""
    if source.is_dir():
        files = sorted(_regular_files(source), key=lambda file: file[0])
    else:
        files = [(source.name, source)]
    entries = []
    for done, (relative, file) in enumerate(files, start=1):
        digest, size = put_file(store, file)
        entries.append(TreeEntry(relative, digest, size))
        if progress is not None:
            progress(done, len(files))
    return entries


def _regular_files(folder: Path) -> Iterator[tuple[str, Path]]:
    def fail(exc: OSError) -> None:
        raise NotFoundError(f"Cannot list the files under {folder}: {exc}.") from exc

    for dirpath, _dirnames, filenames in os.walk(folder, onerror=fail):
        for filename in filenames:
            file = Path(dirpath) / filename
            if file.is_file() and not file.is_symlink():
                yield file.relative_to(folder).as_posix(), file


def _profile(file: Path) -> TableProfile:
    fmt = table_format(file) or ""
    return compute_profile(read_batches(file), source_format=fmt)


def validate_files(
    path: str | os.PathLike[str],
    *,
    schema: Schema | None = None,
    reference: VersionHandle | None = None,
) -> list[ValidationReport]:
    """Check every table file at ``path`` (a file or a folder) against ``schema``, or else
    against the schema inferred from the same-named table of ``reference``."""
    source = Path(path)
    if not source.exists():
        raise NotFoundError(f"Cannot validate {source}: no such file or folder.")
    if source.is_dir():
        tables = sorted((rel, file) for rel, file in _regular_files(source) if table_format(rel))
    else:
        tables = [(source.name, source)]
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
