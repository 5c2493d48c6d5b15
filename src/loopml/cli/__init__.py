"""The ``loopml`` command line: Typer commands over :class:`loopml.Client`.

Heavy libraries (SQLAlchemy, FastAPI, scikit-learn) are imported inside the commands that
need them, so ``loopml --help`` stays fast.
"""

from loopml.cli.main import app, main

__all__ = ["app", "main"]
