"""Every metadata store backend passes every check in :mod:`tests.contract.metadata_checks`.

The ``metadata_store`` fixture (``conftest.py``) runs each check on every backend: sqlite,
postgres and remote (a live ``loopml server``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core.errors import BackendUnavailableError, ConfigError
from loopml.stores.metadata.base import MetadataStore
from loopml.stores.metadata.sql import SqlMetadataStore
from loopml.stores.metadata.sql import run_store as sql_run_store
from loopml.stores.metadata.sql.engine import mask_uri, parse_uri
from tests.contract.metadata_checks import (
    StoreCheck,
    check_create_run_starts_running_without_end_time,
    metadata_store_checks,
)


@pytest.mark.parametrize("check", metadata_store_checks(), ids=lambda check: check.__name__)
def test_metadata_store_contract(metadata_store: MetadataStore, check: StoreCheck) -> None:
    check(metadata_store)


# SQL backend details, beyond the contract


@pytest.mark.parametrize(
    "check",
    [check for check in metadata_store_checks() if "search" in check.__name__],
    ids=lambda check: check.__name__,
)
def test_sqlite_search_gives_the_same_answers_when_no_clause_is_selective(
    check: StoreCheck, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small test data always looks selective, which picks the IN plan; a cap of 0 forces the
    # EXISTS plan that large stores use for clauses matching many runs
    monkeypatch.setattr(sql_run_store, "SELECTIVE_CAP", 0)
    with SqlMetadataStore(f"sqlite:///{tmp_path / 'loopml.db'}") as store:
        check(store)


def test_in_memory_sqlite_store_works() -> None:
    for uri in ("sqlite://", "sqlite:///:memory:"):
        with SqlMetadataStore(uri) as store:
            check_create_run_starts_running_without_end_time(store)


def test_sqlite_store_creates_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "loopml.db"
    with SqlMetadataStore(f"sqlite:///{path}"):
        assert path.exists()


def test_the_password_never_shows_in_repr_or_errors() -> None:
    uri = "postgresql://ana:s3cret-pw@127.0.0.1:1/nowhere"
    with pytest.raises(BackendUnavailableError) as caught:
        SqlMetadataStore(uri)
    assert "s3cret-pw" not in str(caught.value) and "***" in str(caught.value)
    assert mask_uri(uri) == "postgresql://ana:***@127.0.0.1:1/nowhere"
    assert parse_uri(uri).drivername == "postgresql+psycopg"


@pytest.mark.parametrize("uri", ["mysql://x@localhost/db", "postgresql+psycopg2://x@h/db", "::"])
def test_unsupported_or_invalid_uris_raise_config_error(uri: str) -> None:
    with pytest.raises(ConfigError):
        SqlMetadataStore(uri)
