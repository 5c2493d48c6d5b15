"""One place builds the error body ``{"error": {"code", "message"}}``: the platform server,
the model server's own endpoints, the CLI under ``--json`` and batch tasks all call
``loopml.core.errors.error_body``; no other module spells the shape out."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import loopml
from loopml.core.errors import NotFoundError, error_body
from loopml.server.errors import error_response
from loopml.serving.errors import error_body as serving_error_body

SOURCE = Path(loopml.__file__).parent
BUILDER = SOURCE / "core" / "errors.py"


def _spells_error_body(node: ast.AST) -> bool:
    """A dict literal ``{"error": {"code": ..., ...}}``."""
    if not isinstance(node, ast.Dict):
        return False
    for key, value in zip(node.keys, node.values, strict=True):
        if isinstance(key, ast.Constant) and key.value == "error" and isinstance(value, ast.Dict):
            inner = [k.value for k in value.keys if isinstance(k, ast.Constant)]
            if "code" in inner:
                return True
    return False


def test_no_module_but_core_errors_builds_the_error_body() -> None:
    builders = []
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(_spells_error_body(node) for node in ast.walk(tree)) and path != BUILDER:
            builders.append(str(path.relative_to(SOURCE)))
    assert builders == []


def test_both_servers_and_errors_answer_the_same_body() -> None:
    expected = {"error": {"code": "not_found", "message": "No model 'churn'."}}
    assert error_body("not_found", "No model 'churn'.") == expected
    assert NotFoundError("No model 'churn'.").to_dict() == expected
    platform = error_response(404, "not_found", "No model 'churn'.")
    assert json.loads(bytes(platform.body)) == expected
    assert serving_error_body("/feedback", 404, "not_found", "No model 'churn'.") == expected
    details = {"code": "invalid_filter", "message": "bad", "details": {"position": 3}}
    assert error_body("invalid_filter", "bad", {"position": 3}) == {"error": details}
