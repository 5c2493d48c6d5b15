"""The model registry: ``loopml.models.register / load / get / set_alias``.

>>> import loopml.models  # doctest: +SKIP
>>> version = loopml.models.register("churn", model, input_example=X[:5])  # doctest: +SKIP
>>> loopml.models.set_alias("churn", "champion", version.version)  # doctest: +SKIP
>>> loopml.models.load("churn@champion").predict(X)  # doctest: +SKIP
"""

from loopml.models.compare import diff
from loopml.models.flavors import PythonFunction
from loopml.models.gate_policy import GatePolicy, policy_from_yaml, read_policy
from loopml.models.gates import gate
from loopml.models.packaging import package
from loopml.models.promotion import approve, promote
from loopml.models.registry import get, load, register, resolve, rollback, set_alias
from loopml.models.signature import infer_signature

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
