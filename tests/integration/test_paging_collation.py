"""The paged listings on a PostgreSQL database whose collation is not C (``C.utf8`` here, as
``en_US.UTF-8`` would be): names and paths still come in code point order, a sub-folder is
still skipped in one seek, and the tokens still resume where they should (the store compares
with ``COLLATE "C"`` there; the contract suite's database is C, where the index serves)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from loopml.stores.metadata.base import MetadataStore
from loopml.stores.registry import open_metadata_store
from tests.contract.paging_checks import StoreCheck, paging_checks
from tests.fixtures.postgres import PostgresServer

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def store(postgres_server: PostgresServer) -> Iterator[MetadataStore]:
    name = f"loopml_{uuid.uuid4().hex[:12]}"
    server = postgres_server
    conninfo = f"host={server.host} port={server.port} user={server.user} dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 LC_COLLATE 'C.utf8' LC_CTYPE 'C.utf8'"
        )
    opened = open_metadata_store(server.uri(name))
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("check", paging_checks(), ids=lambda check: check.__name__)
def test_paged_listings_under_a_collation_other_than_c(
    store: MetadataStore, check: StoreCheck
) -> None:
    check(store)
