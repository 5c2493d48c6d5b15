"""The behaviours every :class:`MetadataStore` backend must have, as plain check functions.

Like scikit-learn's estimator checks: ``metadata_store_checks()`` lists them and the contract
test runs each one against every backend. A check uses only the ``MetadataStore`` protocol (no
SQL, no backend internals) and does not assume the store is empty — it names what it creates
uniquely and scopes searches to its own experiments — so the same checks run against a shared
remote server.
"""

from __future__ import annotations

from types import ModuleType

from tests.contract import (
    event_checks,
    run_checks,
    run_data_checks,
    search_checks,
    series_checks,
)
from tests.contract.metadata_check_data import STORED_BLOB_SIZES, StoreCheck, blob_content
from tests.contract.run_checks import check_create_run_starts_running_without_end_time

__all__ = [
    "STORED_BLOB_SIZES",
    "StoreCheck",
    "blob_content",
    "check_create_run_starts_running_without_end_time",
    "metadata_store_checks",
]

CHECK_MODULES: tuple[ModuleType, ...] = (
    run_checks,
    run_data_checks,
    search_checks,
    series_checks,
    event_checks,
)


def metadata_store_checks() -> list[StoreCheck]:
    """Every check, in a stable order (the names say the behaviour)."""
    return [
        value
        for module in CHECK_MODULES
        for name, value in vars(module).items()
        if name.startswith("check_") and callable(value)
    ]
