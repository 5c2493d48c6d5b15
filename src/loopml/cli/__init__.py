"""The ``loopml`` command line: Typer commands over :class:`loopml.Client`.

The app lives in :mod:`loopml.cli.main` (console script ``loopml.cli.main:main``). Heavy
libraries (SQLAlchemy, FastAPI, scikit-learn) are imported inside the commands that need
them, so ``loopml --help`` stays fast.
"""
