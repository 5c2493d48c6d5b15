"""What the platform API tests expect of a response, and the runs they make."""

from __future__ import annotations

import httpx

from loopml.core.ids import now_ms
from loopml.stores.metadata.base import NewRun
from loopml.stores.remote.metadata import HttpMetadataStore


def new_run(store: HttpMetadataStore, experiment: str) -> str:
    """A new run in a new experiment named ``experiment``."""
    experiment_id = store.create_experiment(experiment).id
    return store.create_run(NewRun(experiment_id, "r", now_ms())).id


def expect_error(response: httpx.Response, status: int, code: str) -> str:
    """The message of an error response in the one error shape, after checking its status
    and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) - {"details"} == {"code", "message"}
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and "Traceback" not in message
    return message
