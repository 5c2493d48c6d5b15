"""Dataset versions in pipelines: a built-in step that pins a reference, and a materializer
that passes versions between steps by reference (never by copying their bytes).

``dataset_version(ref="iris@latest")`` is never cached: it resolves the reference when the
pipeline runs, so the steps after it are keyed by the exact version and rerun when a new one
lands. The runner records a lineage edge for every version a step returns.

>>> @loopml.pipeline  # doctest: +SKIP
... def training(data: str = "iris@latest") -> float:
...     return evaluate(train(load_table(dataset_version(ref=data))))
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from loopml.core.entities import DatasetVersion
from loopml.core.errors import InvalidInputError
from loopml.core.refs import parse_dataset_ref
from loopml.pipelines.definitions import step
from loopml.tracking.fluent import active_run

__all__ = ["DatasetVersionMaterializer", "dataset_version"]


@step(name="dataset_version", cache=False)
def dataset_version(*, ref: str) -> DatasetVersion:
    """The version ``ref`` names now ("iris@3", "iris@latest" or "iris"), from the store the
    pipeline runs against."""
    current = active_run()
    if current is None:
        raise InvalidInputError("dataset_version runs inside a pipeline run (loopml.pipelines).")
    name, number = parse_dataset_ref(ref)
    return current.client.metadata.get_dataset_version(name, number)


@dataclasses.dataclass(frozen=True)
class DatasetVersionMaterializer:
    """A :class:`DatasetVersion` → ``version.json`` (its fields; the files stay where they are:
    read them with ``loopml.data.get(f"{v.dataset}@{v.version}")``)."""

    name: str = "dataset_version"

    def handles(self, value_type: type) -> bool:
        return issubclass(value_type, DatasetVersion)

    def write(self, value: Any, folder: Path) -> None:
        text = json.dumps(dataclasses.asdict(value), sort_keys=True)
        (folder / "version.json").write_text(text, encoding="utf-8")

    def read(self, folder: Path) -> Any:
        fields = json.loads((folder / "version.json").read_text(encoding="utf-8"))
        return DatasetVersion(**fields)
