"""loopml's side of ``run_registry.py``: ``loopml.models.register`` inside
``loopml.start_run`` and ``loopml.models.load("rf@1")`` (then ``rf@2``), on a fresh embedded
project (SQLite metadata store, local artifact store) made with ``init_project``, one
``Client`` for all of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _registry_side import MODEL_NAME, Session, Side, main


def imports(variant: str) -> None:
    import loopml.models
    import loopml.tracking.client  # noqa: F401


def open_session(workdir: Path, variant: str) -> Session:
    import loopml
    import loopml.models
    from loopml.core.config import init_project
    from loopml.tracking.client import Client

    client = Client(config=init_project(workdir), create=False)

    def register(model: Any, example: Any) -> dict[str, Any]:
        with loopml.start_run(client=client) as run:
            version = loopml.models.register(
                MODEL_NAME, model, input_example=example, run=run, client=client
            )
        return {"version": version.version, "flavor": version.flavor, "run": run.id}

    def load(version: int) -> Any:
        return loopml.models.load(f"{MODEL_NAME}@{version}", client=client)

    return Session(register, load, client.close)


if __name__ == "__main__":
    main(Side(imports, open_session))
