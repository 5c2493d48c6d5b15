"""Reading hand-written YAML so that every error points at a file, line, column and field.

>>> reader = YamlReader("gates.yaml", InvalidInputError)
>>> top = reader.mapping(reader.compose("metrics: {}"), "policy", ("metrics",))
"""

from __future__ import annotations

from datetime import date, datetime

import yaml

from loopml.core.errors import InvalidInputError
from loopml.core.suggest import did_you_mean

__all__ = ["YamlReader"]

_YAML_TYPE_NAMES = {
    yaml.MappingNode: "a mapping",
    yaml.SequenceNode: "a list",
    yaml.ScalarNode: "a scalar",
}


class YamlReader:
    """Walks composed YAML nodes; its errors (of class ``error``) read
    ``SOURCE:LINE:COLUMN: FIELD: problem``."""

    def __init__(self, source: str, error: type[InvalidInputError] = InvalidInputError) -> None:
        self.source = source
        self.error_class = error
        self.constructor = yaml.SafeLoader("")

    def compose(self, text: str) -> yaml.Node | None:
        """The document's root node (None for an empty document); bad YAML raises."""
        try:
            return yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f"{mark.line + 1}:{mark.column + 1}" if mark is not None else "1:1"
            raise self.error_class(f"{self.source}:{where}: not valid YAML: {exc.problem}") from exc
        except yaml.YAMLError as exc:
            raise self.error_class(f"{self.source}: not valid YAML: {exc}") from exc

    def error(self, node: object, where: str, problem: str, offset: int = 0) -> InvalidInputError:
        mark = getattr(node, "start_mark", None)
        line = mark.line + 1 if mark is not None else 1
        column = mark.column + 1 + offset if mark is not None else 1
        return self.error_class(f"{self.source}:{line}:{column}: {where}: {problem}")

    def mapping(self, node: object, where: str, keys: tuple[str, ...]) -> dict[str, object]:
        """The mapping's value nodes by key; a key outside ``keys`` (with a did-you-mean hint)
        or given twice raises."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, where, f"expected a mapping with keys {', '.join(keys)}")
        found: dict[str, object] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key not in keys:
                hint = did_you_mean(key, keys) if isinstance(key, str) else ""
                raise self.error(
                    key_node, where, f"unknown key {key!r}; allowed keys: {', '.join(keys)}.{hint}"
                )
            if key in found:
                raise self.error(key_node, f"{where}.{key}", "key given twice")
            found[key] = value_node
        return found

    def sequence(self, node: object, where: str, what: str) -> list[object]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, where, f"expected a list of {what}, got {self.kind(node)}")
        return list(node.value)

    def kind(self, node: object) -> str:
        return _YAML_TYPE_NAMES.get(type(node), "something else")

    def scalar(self, node: object, where: str, types: tuple[type, ...], what: str) -> object:
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, where, f"expected {what}, got {self.kind(node)}")
        value = self.constructor.construct_object(node)
        if isinstance(value, datetime | date) and str in types:
            value = value.isoformat()
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise self.error(node, where, f"expected {what}, got {node.value!r}")
        return value

    def text(self, node: object, where: str) -> str:
        return str(self.scalar(node, where, (str,), "text"))

    def number(self, node: object, where: str) -> float:
        return float(self.scalar(node, where, (int, float), "a number"))  # type: ignore[arg-type]
