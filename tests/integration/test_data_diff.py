"""``loopml.data.diff`` between real dataset versions in a project made like ``loopml init``
(embedded SQLite + local artifact folder), resolved from refs as a user writes them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import loopml.data
from loopml.core.config import init_project
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.data.drift import DriftVerdict
from loopml.data.version_diff import SchemaChange, SchemaChangeKind

ROWS = 600


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("LOOPML_STORE_URI", "LOOPML_ARTIFACT_URI", "LOOPML_SERVER_URL"):
        monkeypatch.delenv(variable, raising=False)
    init_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def orders_csv(amount_mean: float, *, with_discount: bool) -> str:
    """id 1..ROWS, amount ~ normal(amount_mean, 10), region cycling north/south/east."""
    amounts = np.random.default_rng(42).normal(amount_mean, 10.0, ROWS)
    regions = ("north", "south", "east")
    header = "id,amount,region" + (",discount" if with_discount else "")
    lines = [header]
    for i, amount in enumerate(amounts):
        line = f"{i + 1},{amount:.2f},{regions[i % 3]}"
        lines.append(line + (f",{(i % 5) / 10:.1f}" if with_discount else ""))
    return "\n".join(lines) + "\n"


def make_shop_versions(root: Path) -> None:
    """shop@1 and shop@2: amount shifts by 5 std, a column is added, old.txt is replaced by
    new.txt, readme.txt stays. Each version comes from its own folder (same relative paths)."""
    write(root / "v1" / "orders.csv", orders_csv(100.0, with_discount=False))
    write(root / "v1" / "docs" / "readme.txt", "orders by region\n")
    write(root / "v1" / "old.txt", "retired\n")
    write(root / "v2" / "orders.csv", orders_csv(150.0, with_discount=True))
    write(root / "v2" / "docs" / "readme.txt", "orders by region\n")
    write(root / "v2" / "new.txt", "fresh notes\n")
    loopml.data.add("shop", root / "v1", message="first")
    loopml.data.add("shop", root / "v2", message="more spend, a discount column")


def test_diff_finds_exactly_the_added_removed_and_changed_files(project: Path) -> None:
    make_shop_versions(project)
    result = loopml.data.diff("shop@1", "shop@2")
    assert (result.a, result.b) == ("shop@1", "shop@2")
    files = result.files
    assert [f.path for f in files.added] == ["new.txt"]
    assert [f.path for f in files.removed] == ["old.txt"]
    assert [f.path for f in files.changed] == ["orders.csv"]
    assert files.unchanged == 1  # docs/readme.txt
    assert files.added[0].size_a is None and files.added[0].size_b == len("fresh notes\n")
    assert files.removed[0].size_b is None and files.removed[0].digest_b is None
    changed = files.changed[0]
    assert changed.digest_a != changed.digest_b
    assert changed.size_a == len(orders_csv(100.0, with_discount=False))
    assert changed.size_b == len(orders_csv(150.0, with_discount=True))


def test_diff_finds_the_added_column_and_only_the_shifted_column_drifts(project: Path) -> None:
    make_shop_versions(project)
    result = loopml.data.diff("shop@1", "shop@latest")
    assert [t.path for t in result.tables] == ["orders.csv"]
    table = result.table("orders.csv")
    assert (table.rows_a, table.rows_b) == (ROWS, ROWS)
    assert table.schema_changes == (
        SchemaChange("discount", SchemaChangeKind.ADDED, None, "numeric"),
    )
    assert [c.name for c in table.columns] == ["id", "amount", "region", "discount"]

    verdicts = {c.name: c.drift.verdict for c in table.columns if c.drift is not None}
    assert verdicts == {
        "id": DriftVerdict.STABLE,
        "amount": DriftVerdict.MAJOR,
        "region": DriftVerdict.STABLE,
    }
    amount = table.column("amount")
    assert amount.drift is not None and amount.drift.psi > 1.0 and amount.drift.js_distance > 0.8
    assert amount.a is not None and amount.b is not None
    assert amount.a.mean == pytest.approx(100.0, abs=1.5)
    assert amount.b.mean == pytest.approx(150.0, abs=1.5)
    assert amount.b.quantiles["0.5"] > amount.a.quantiles["0.95"]
    region = table.column("region")
    assert region.drift is not None and region.drift.psi == 0.0
    assert region.a is not None and region.a.top_categories[0] == ("north", 200)
    discount = table.column("discount")
    assert discount.a is None and discount.drift is None
    assert discount.b is not None and discount.b.distinct == 5


def test_type_and_nullability_changes_are_reported(project: Path) -> None:
    write(project / "a" / "t.csv", "n,label\n1,x\n2,y\n3,x\n")
    write(project / "b" / "t.csv", "n,label\n1.5,x\n,y\n3.5,x\n")
    loopml.data.add("t", project / "a")
    loopml.data.add("t", project / "b")
    table = loopml.data.diff("t@1", "t@2").table("t.csv")
    assert table.schema_changes == (
        SchemaChange("n", SchemaChangeKind.TYPE_CHANGED, "integer", "numeric"),
        SchemaChange("n", SchemaChangeKind.NULLABILITY_CHANGED, "not null", "nullable"),
    )
    n = table.column("n")
    assert n.b is not None and n.b.missing_fraction == pytest.approx(1 / 3)
    assert n.drift is not None and n.drift.method == "histogram"  # integer vs numeric: scored


def test_a_version_against_itself_has_no_change_and_no_drift(project: Path) -> None:
    make_shop_versions(project)
    handle = loopml.data.get("shop@2")
    result = loopml.data.diff(handle, handle)
    assert (result.files.added, result.files.removed, result.files.changed) == ((), (), ())
    assert result.files.unchanged == 3
    table = result.table("orders.csv")
    assert table.schema_changes == ()
    for column in table.columns:
        assert column.drift is not None and column.drift.psi == 0.0, column.name
        assert column.drift.js_distance == 0.0 and not column.drift.estimated


def test_to_dict_is_strict_json_with_the_same_content(project: Path) -> None:
    make_shop_versions(project)
    document = loopml.data.diff("shop@1", "shop@2").to_dict()
    parsed = json.loads(json.dumps(document, allow_nan=False))
    assert parsed["files"]["unchanged"] == 1
    assert [f["path"] for f in parsed["files"]["added"]] == ["new.txt"]
    table = parsed["tables"][0]
    assert table["schema_changes"] == [
        {"column": "discount", "kind": "added", "before": None, "after": "numeric"}
    ]
    amount = next(c for c in table["columns"] if c["name"] == "amount")
    assert amount["drift"]["verdict"] == "major" and amount["drift"]["method"] == "histogram"
    assert amount["a"]["top_categories"] == [] and set(amount["a"]["quantiles"]) >= {"0.5"}


def test_bad_refs_raise_errors_that_name_them(project: Path) -> None:
    make_shop_versions(project)
    with pytest.raises(NotFoundError, match="shop"):
        loopml.data.diff("shop@1", "shop@9")
    with pytest.raises(NotFoundError, match="nothing"):
        loopml.data.diff("nothing@1", "shop@1")
    with pytest.raises(InvalidInputError, match="shop@x"):
        loopml.data.diff("shop@x", "shop@1")
    with pytest.raises(NotFoundError, match=r"Tables in both: orders\.csv"):
        loopml.data.diff("shop@1", "shop@2").table("docs/readme.txt")
