"""The model registry: ``loopml.models.register / load / get / set_alias``.

>>> import loopml.models  # doctest: +SKIP
>>> version = loopml.models.register("churn", model, input_example=X[:5])  # doctest: +SKIP
>>> loopml.models.set_alias("churn", "champion", version.version)  # doctest: +SKIP
>>> loopml.models.load("churn@champion").predict(X)  # doctest: +SKIP
"""

from loopml.models.compare import diff
from loopml.models.flavors import PythonFunction
from loopml.models.packaging import package
from loopml.models.registry import get, load, promote, register, resolve, rollback, set_alias
from loopml.models.signature import infer_signature

__all__ = [
    "PythonFunction",
    "diff",
    "get",
    "infer_signature",
    "load",
    "package",
    "promote",
    "register",
    "resolve",
    "rollback",
    "set_alias",
]
