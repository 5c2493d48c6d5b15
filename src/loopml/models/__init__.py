"""The model registry: ``loopml.models.register / load / get / set_alias``.

>>> import loopml.models  # doctest: +SKIP
>>> version = loopml.models.register("churn", model, input_example=X[:5])  # doctest: +SKIP
>>> loopml.models.set_alias("churn", "champion", version.version)  # doctest: +SKIP
>>> loopml.models.load("churn@champion").predict(X)  # doctest: +SKIP

Names are imported on first use, so serving or scoring a version never imports gates,
promotion or packaging (nor the YAML parser their policies and manifests need).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loopml.models.compare import diff
    from loopml.models.flavors import PythonFunction
    from loopml.models.gate_policy import GatePolicy, policy_from_yaml, read_policy
    from loopml.models.gates import gate
    from loopml.models.packaging import package
    from loopml.models.promotion import approve, promote
    from loopml.models.registry import get, load, register, resolve, rollback, set_alias
    from loopml.models.signature import infer_signature

_HOMES = {
    "loopml.models.compare": ("diff",),
    "loopml.models.flavors": ("PythonFunction",),
    "loopml.models.gate_policy": ("GatePolicy", "policy_from_yaml", "read_policy"),
    "loopml.models.gates": ("gate",),
    "loopml.models.packaging": ("package",),
    "loopml.models.promotion": ("approve", "promote"),
    "loopml.models.registry": ("get", "load", "register", "resolve", "rollback", "set_alias"),
    "loopml.models.signature": ("infer_signature",),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "GatePolicy",
    "PythonFunction",
    "approve",
    "diff",
    "gate",
    "get",
    "infer_signature",
    "load",
    "package",
    "policy_from_yaml",
    "promote",
    "read_policy",
    "register",
    "resolve",
    "rollback",
    "set_alias",
]


def __getattr__(name: str) -> object:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'loopml.models' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
