"""Pydantic models of the dataset and artifact-lineage routes, built from the entities'
dataclass fields, so a field added to ``DatasetVersion`` is accepted and returned without a
change here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from loopml.core.entities import ArtifactEdge, DatasetInput, DatasetVersion, Page
from loopml.server.schema_base import RequestModel as _Request
from loopml.server.schema_base import ResponseModel as _Response
from loopml.server.schema_base import entity_model
from loopml.stores.remote.wire import entity_json

if TYPE_CHECKING:  # built at runtime from the entities' fields; mypy sees the base classes
    DatasetVersionIn = _Request
    DatasetVersionOut = _Response
    DatasetInputRef = _Request
    DatasetInputOut = _Response
    ArtifactEdgeRef = _Request
    ArtifactEdgeOut = _Response
else:
    DatasetVersionIn = entity_model(
        DatasetVersion, "DatasetVersionIn", _Request, exclude=("dataset", "version")
    )
    DatasetVersionOut = entity_model(DatasetVersion, "DatasetVersionOut", _Response)
    DatasetInputRef = entity_model(DatasetInput, "DatasetInputRef", _Request, exclude=("run_id",))
    DatasetInputOut = entity_model(DatasetInput, "DatasetInputOut", _Response)
    ArtifactEdgeRef = entity_model(ArtifactEdge, "ArtifactEdgeRef", _Request, exclude=("run_id",))
    ArtifactEdgeOut = entity_model(ArtifactEdge, "ArtifactEdgeOut", _Response)


def dataset_version_out(version: DatasetVersion) -> DatasetVersionOut:
    return DatasetVersionOut.model_validate(entity_json(version))


class DatasetVersionAdded(_Response):
    version: DatasetVersionOut
    added: bool = Field(description="False: the newest version already had this tree.")


class DatasetVersionList(_Response):
    items: list[DatasetVersionOut]
    next_page_token: str | None = None

    @classmethod
    def of(cls, versions: list[DatasetVersion] | Page[DatasetVersion]) -> DatasetVersionList:
        token = versions.next_page_token if isinstance(versions, Page) else None
        return cls(items=[dataset_version_out(v) for v in versions], next_page_token=token)


class DatasetInputsIn(_Request):
    inputs: list[DatasetInputRef]


class DatasetInputList(_Response):
    items: list[DatasetInputOut]

    @classmethod
    def of(cls, inputs: list[DatasetInput]) -> DatasetInputList:
        return cls(items=[DatasetInputOut.model_validate(entity_json(e)) for e in inputs])


# artifact lineage
class ArtifactEdgesIn(_Request):
    edges: list[ArtifactEdgeRef]


class ArtifactEdgeList(_Response):
    items: list[ArtifactEdgeOut]

    @classmethod
    def of(cls, edges: list[ArtifactEdge]) -> ArtifactEdgeList:
        return cls(items=[ArtifactEdgeOut.model_validate(entity_json(e)) for e in edges])
