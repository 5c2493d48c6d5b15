"""The live swap under load: ``loopml serve NAME@champion`` answers every request of several
keep-alive clients while the alias moves back and forth (the quickstart's "no failed request"
claim, hammered)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

import loopml.models
from loopml.core.config import init_project
from loopml.tracking.client import Client
from tests.fixtures.model_server import start_model_server, wait_for, wait_until_serving

CLIENTS = 4


@pytest.fixture(scope="module")
def flipping(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Client]]:
    """A server following ``flip@champion`` (two versions that disagree), and the client."""
    folder: Path = tmp_path_factory.mktemp("swaps")
    config = init_project(folder)
    x, y = load_breast_cancer(return_X_y=True)
    with Client(config.store_uri, config.artifact_uri) as client:
        for labels in (y, 1 - y):
            # scaled first: unscaled, lbfgs needs ~2,300 iterations (~10 s of CPU) per fit
            model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, labels)
            loopml.models.register("flip", model, input_example=x[:5], client=client)
        loopml.models.set_alias("flip", "champion", 1, client=client)
        server = start_model_server(
            folder, "flip@champion", "--poll-seconds", "0.1", "--log-roll-seconds", "1"
        )
        try:
            yield wait_until_serving(server).url, client
        finally:
            server.stop()


def test_several_swaps_under_concurrent_keep_alive_clients_fail_no_request(
    flipping: tuple[str, Client],
) -> None:
    """Every request is answered 200; a reset connection or a timeout counts as a failure."""
    url, client = flipping
    row = np.asarray(load_breast_cancer().data[:1]).tolist()
    failures: list[str] = []
    latest: list[str | None] = [None] * CLIENTS
    answered = [0] * CLIENTS
    stop = threading.Event()

    def send(index: int) -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                try:
                    response = http.post(f"{url}/invocations", json={"inputs": row})
                except httpx.TransportError as exc:
                    failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200:
                    failures.append(f"HTTP {response.status_code}: {response.text[:300]}")
                    continue
                latest[index] = response.json()["model_version"]
                answered[index] += 1

    senders = [threading.Thread(target=send, args=(i,)) for i in range(CLIENTS)]
    for sender in senders:
        sender.start()
    try:
        for version in (2, 1, 2, 1):
            loopml.models.set_alias("flip", "champion", version, client=client)
            label = f"flip@{version}"
            assert wait_for(lambda: all(seen == label for seen in latest))  # noqa: B023
            counts = list(answered)
            assert wait_for(
                lambda: all(a >= n + 5 for a, n in zip(answered, counts, strict=True))  # noqa: B023
            )
    finally:
        stop.set()
        for sender in senders:
            sender.join()
    assert failures == [], f"{len(failures)} of {sum(answered) + len(failures)} failed"
    assert sum(answered) >= CLIENTS * 5 * 4
