"""The promotion rules the library and the platform server share, over a real SQLite store:
what is missing, rollbacks, and the server's policy file (read at start, re-read on change)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.core.entities import GateResult, ModelVersion
from loopml.core.errors import InvalidInputError, PromotionBlockedError
from loopml.core.ids import new_id
from loopml.models.gate_policy import policy_from_yaml
from loopml.models.promotion_rules import move_blockers, protected_aliases
from loopml.server.promotion_policy import ServerPolicy, checked_alias_reason
from loopml.stores.metadata.base import MetadataStore
from loopml.stores.registry import open_metadata_store

POLICY = """\
evaluation: {dataset: holdout, target: y}
champion: {alias: prod}
promotion: {require_gate: true, require_approval: false}
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetadataStore]:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'loopml.db'}")
    for _ in range(4):
        metadata.add_model_version(ModelVersion("m", 0, "sklearn", "blake3:" + "ab" * 32, 1))
    yield metadata
    metadata.close()


def _move(store: MetadataStore, version: int | None) -> None:
    store.set_model_alias("m", "prod", version, actor="t", reason="test")


def test_only_versions_that_held_the_alias_skip_the_rules(store: MetadataStore) -> None:
    policy = policy_from_yaml(POLICY, source="gates.yaml")
    assert protected_aliases(policy) == {"champion", "prod"}
    assert protected_aliases(None) == {"champion"}

    def missing(version: int) -> list[str]:
        return move_blockers(store.get_model_version("m", version), "prod", policy, store)

    assert missing(1) == ["no gate under gates.yaml yet (loopml gate m@1 --policy …)"]
    for version in (1, 2, 3):
        _move(store, version)
    _move(store, 2)  # 3 → 2 is a rollback: 3 is taken out
    assert missing(2) == [] and missing(1) == []  # now, and before
    assert missing(3) != []  # undone by the rollback: held to the policy again
    checks = ({"check": "metric", "name": "auc", "passed": False},)
    store.add_gate_result(GateResult(new_id(), "m", 3, False, checks, {}, policy.digest, 1))
    assert missing(3) == ["its last gate under gates.yaml failed: auc"]
    _move(store, None)  # removing the alias starts its history afresh
    assert missing(1) != []


def test_the_server_policy_is_read_again_when_its_file_changes(
    store: MetadataStore, tmp_path: Path
) -> None:
    file = tmp_path / "gates.yaml"
    file.write_text("evaluation: {dataset: d}\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"gates\.yaml:1"):
        ServerPolicy(file)
    file.write_text(POLICY, encoding="utf-8")
    server = ServerPolicy(file)
    with pytest.raises(PromotionBlockedError, match="no gate under"):
        checked_alias_reason(server, store, ("m", "champion", 1), "", force=False)
    assert checked_alias_reason(server, store, ("m", "staging", 1), "r", force=False) == "r"
    with pytest.raises(InvalidInputError, match="needs a reason"):
        checked_alias_reason(server, store, ("m", "champion", 1), " ", force=True)
    forced = checked_alias_reason(server, store, ("m", "champion", 1), "why", force=True)
    assert forced == "forced: why"
    file.write_text(POLICY.replace("require_gate: true", "require_gate: false") + "\n")
    # (a different size: the change is seen even within the file system's time resolution)
    assert checked_alias_reason(server, store, ("m", "champion", 1), "", force=False) == ""
    unchecked = checked_alias_reason(
        ServerPolicy(None), store, ("m", "champion", 1), "", force=False
    )
    assert unchecked == ""
