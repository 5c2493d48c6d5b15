"""Datasets through the remote client: a real ``loopml server`` process over PostgreSQL and
the moto S3 server, and a project whose ``.loopml/config.toml`` points at that server.

The Python API (``loopml.data``, ``run.use_dataset``) and the ``loopml data`` CLI must behave
as they do embedded; a big file streams through in bounded client memory. The HTTP shape of
the dataset routes (status codes, 400s naming the field) is checked on a plain SQLite server.
"""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import loopml
import loopml.data
from loopml.core.config import init_project
from loopml.core.entities import DatasetInput, DatasetVersion
from loopml.core.errors import InvalidInputError, NotFoundError
from loopml.stores.metadata.base import MetadataStore
from loopml.stores.registry import open_metadata_store
from loopml.stores.remote.metadata import HttpMetadataStore
from loopml.tracking.client import Client
from tests.e2e.runner import cli
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready

REAL_BACKENDS = (pytest.mark.postgres, pytest.mark.s3)
READY_TIMEOUT = 60.0
IRIS = "sepal,species\n5.1,setosa\n4.9,setosa\n6.3,virginica\n"
MiB = 1 << 20
BIG_FILE = 256 * MiB
CLIENT_MEMORY_GROWTH_BUDGET = 64 * MiB


def with_real_backends(test: Any) -> Any:
    for mark in REAL_BACKENDS:
        test = mark(test)
    return test


@dataclass
class RemoteServer:
    """``loopml server`` over PostgreSQL and S3, and a project configured to use it."""

    server: PlatformServer
    project: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def store_uri(self) -> str:
        return self.server.store_uri

    def log(self) -> str:
        return self.server.log()


@pytest.fixture
def remote(
    postgres_uri: str,
    s3_server: str,
    s3_artifact_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[RemoteServer]:
    """Start the server, configure a project for it, and make that project the working
    directory of this process with no ``LOOPML_*`` setting (so only the config file counts)."""
    server = None
    for attempt in range(3):  # a free port can be taken by someone else before bind
        server = start_platform_server(
            tmp_path / f"server-{attempt}",
            store_uri=postgres_uri,
            artifact_uri=s3_artifact_uri,
            env={"LOOPML_S3_ENDPOINT_URL": s3_server},
        )
        if wait_until_ready(server, READY_TIMEOUT):
            break
        server.stop()
    assert server is not None
    if server.process.poll() is not None:
        pytest.fail(f"loopml server did not start:\n{server.log()}")
    project = tmp_path / "project"
    init_project(project)
    (project / ".loopml" / "config.toml").write_text(
        f'server_url = "{server.url}"\n', encoding="utf-8"
    )
    (project / "data").mkdir()
    (project / "data" / "iris.csv").write_text(IRIS, encoding="utf-8")
    for name in [k for k in os.environ if k.startswith("LOOPML_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(project)
    try:
        yield RemoteServer(server, project)
    finally:
        server.stop()


@pytest.fixture
def behind(remote: RemoteServer) -> Iterator[MetadataStore]:
    """The server's own PostgreSQL store, to check what the remote calls wrote."""
    store = open_metadata_store(remote.store_uri)
    try:
        yield store
    finally:
        store.close()


def _expect(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    assert result.returncode == code, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@with_real_backends
def test_add_get_log_and_remove_go_through_the_server(
    remote: RemoteServer, behind: MetadataStore, s3_admin_filesystem: Any, s3_bucket: str
) -> None:
    first = loopml.data.add("iris", "data/iris.csv", message="first")
    assert first.created and first.version.version == 1
    assert not loopml.data.add("iris", "data/iris.csv").created
    (remote.project / "data" / "notes.txt").write_text("by hand\n", encoding="utf-8")
    second = loopml.data.add("iris", "data")
    assert (second.version.version, second.version.file_count) == (2, 2)

    handle = loopml.data.get("iris@1")
    assert (handle.path() / "iris.csv").read_text(encoding="utf-8") == IRIS
    assert handle.to_arrow().num_rows == 3
    assert handle.profiles()["iris.csv"].rows == 3
    assert loopml.data.get("iris").version == second.version
    assert [(v.version, v.message) for v in loopml.data.log("iris")] == [(1, "first"), (2, "")]
    assert ("iris", 2) in {(v.dataset, v.version) for v in loopml.data.list_datasets()}

    # the versions are rows in PostgreSQL and the bytes objects in the bucket
    assert behind.get_dataset_version("iris", 1) == first.version
    assert s3_admin_filesystem.find(s3_bucket)
    assert not (remote.project / ".loopml" / "loopml.db").exists()

    loopml.data.remove("iris", 1)
    with pytest.raises(NotFoundError, match="no version 1; versions: 2"):
        loopml.data.get("iris@1")
    loopml.data.remove("iris")
    with pytest.raises(NotFoundError):
        loopml.data.log("iris")
    actions = [e.action for e in behind.list_events(max_results=1000).items]
    assert actions.count("dataset.add_version") == 2
    assert actions[-2:] == ["dataset.delete_version", "dataset.delete"]


@with_real_backends
def test_run_use_dataset_records_lineage_through_the_server(
    remote: RemoteServer, behind: MetadataStore
) -> None:
    loopml.data.add("iris", "data/iris.csv")
    with loopml.start_run(experiment="remote-data") as run:
        used = run.use_dataset("iris@latest")
        run.use_dataset("iris@1")  # the same edge again
    assert (used.dataset, used.version) == ("iris", 1)
    edge = DatasetInput(run.id, "iris", 1)
    with Client() as client:
        assert isinstance(client.metadata, HttpMetadataStore)
        assert client.metadata.list_dataset_inputs(run_id=run.id) == [edge]
        assert client.metadata.list_dataset_inputs(dataset="iris") == [edge]
    assert behind.list_dataset_inputs(run_id=run.id) == [edge]
    with pytest.raises(NotFoundError, match="no version 5"), loopml.start_run() as other:
        other.use_dataset("iris@5")
    assert behind.list_dataset_inputs(run_id=other.id) == []


@with_real_backends
def test_the_data_cli_works_against_the_server(remote: RemoteServer, behind: MetadataStore) -> None:
    project = remote.project
    add = cli("data", "add", "iris", "data/iris.csv", "-m", "first", "--json", cwd=project)
    added = json.loads(_expect(add))
    assert (added["version"], added["created"]) == (1, True)
    listed = json.loads(_expect(cli("data", "list", "--json", cwd=project)))
    assert [(d["dataset"], d["version"]) for d in listed] == [("iris", 1)]
    shown = json.loads(_expect(cli("data", "show", "iris@1", "--json", cwd=project)))
    assert [f["path"] for f in shown["files"]] == ["iris.csv"]
    assert shown["message"] == "first" and shown["profiles"]["iris.csv"]["rows"] == 3
    _expect(cli("data", "get", "iris@1", "--to", "restored", cwd=project))
    assert (project / "restored" / "iris.csv").read_text(encoding="utf-8") == IRIS
    missing = cli("data", "show", "iris@9", cwd=project)
    assert missing.returncode == 2 and "versions: 1" in missing.stderr
    assert behind.get_dataset_version("iris").message == "first"
    assert not (project / ".loopml" / "loopml.db").exists()


_STREAM_CLIENT = textwrap.dedent(
    """
    import json
    import sys

    import loopml.data
    from loopml.tracking.client import Client

    def peak_rss():
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        raise SystemExit("no VmHWM in /proc/self/status")

    with Client() as client:  # the project's server
        client.metadata.list_dataset_versions()  # connect before the baseline
        baseline = peak_rss()
        added = loopml.data.add("big", sys.argv[1], client=client)
        after_add = peak_rss()
        restored = loopml.data.get("big@1", client=client).path() / "big.bin"
        print(json.dumps({
            "baseline": baseline,
            "after_add": after_add,
            "after_get": peak_rss(),
            "size": added.version.size,
            "restored": str(restored),
        }))
    """
)


def _peak_growth_report(report: dict[str, int]) -> str:
    return ", ".join(f"{key} {value / MiB:.0f} MiB" for key, value in report.items())


@pytest.mark.timeout(300)
@with_real_backends
def test_a_big_file_streams_through_in_bounded_client_memory(
    remote: RemoteServer, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    block = os.urandom(MiB)
    with source.open("wb") as out:
        for index in range(BIG_FILE // MiB):
            out.write(index.to_bytes(8, "big") + block[8:])
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    result = subprocess.run(
        [sys.executable, "-c", _STREAM_CLIENT, str(source)],
        cwd=remote.project,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert result.returncode == 0, result.stderr + remote.log()[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    restored = Path(report.pop("restored"))
    assert report.pop("size") == BIG_FILE
    assert filecmp.cmp(source, restored, shallow=False)
    print(f"client peak RSS: {_peak_growth_report(report)}")
    growth = max(report["after_add"], report["after_get"]) - report["baseline"]
    assert growth < CLIENT_MEMORY_GROWTH_BUDGET, _peak_growth_report(report)


def test_error_codes_of_the_data_errors_resolve_without_importing_loopml_data() -> None:
    script = (
        "import sys\n"
        "from loopml.core.errors import error_from_code\n"
        "names = [type(error_from_code(code, 'm')).__name__ for code in "
        "('invalid_table', 'invalid_schema', 'invalid_expression')]\n"
        "assert 'loopml.data' not in sys.modules, 'loopml.data was imported'\n"
        "print(' '.join(names))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["TableFormatError", "SchemaError", "ExpressionError"]


# the HTTP shape of the dataset routes, on a plain SQLite server ------------------------------
def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text
    message = response.json()["error"]["message"]
    assert isinstance(message, str)
    return message


def _version_body(tree: str, **fields: object) -> dict[str, object]:
    return {"tree_digest": tree, "created_at": 1_700_000_000_000, **fields}


TREE_A = "blake3:" + "a" * 64
TREE_B = "blake3:" + "b" * 64


# the route checks below share the module's server: each uses dataset names of its own
def test_adding_answers_201_then_200_when_nothing_changed(shared_platform_server_url: str) -> None:
    with httpx.Client(base_url=f"{shared_platform_server_url}/api/v1", timeout=30.0) as http:
        created = http.post("/datasets/shape/versions", json=_version_body(TREE_A, size=3))
        assert created.status_code == 201, created.text
        assert created.json()["added"] is True
        assert created.json()["version"]["version"] == 1
        again = http.post("/datasets/shape/versions", json=_version_body(TREE_A))
        assert again.status_code == 200 and again.json()["added"] is False
        latest = http.get("/datasets/shape/versions/latest").json()
        assert latest == http.get("/datasets/shape/versions/1").json() == created.json()["version"]
        assert latest["size"] == 3 and latest["message"] == ""


def test_bad_dataset_requests_are_400s_naming_the_field(shared_platform_server_url: str) -> None:
    with httpx.Client(base_url=f"{shared_platform_server_url}/api/v1", timeout=30.0) as http:
        wrong_type = http.post("/datasets/d/versions", json=_version_body(TREE_A, size="3"))
        assert "body.size" in _error(wrong_type, 400, "invalid_input")
        unknown = http.post("/datasets/d/versions", json=_version_body(TREE_A, colour="red"))
        assert "body.colour" in _error(unknown, 400, "invalid_input")
        missing = http.post("/datasets/d/versions", json={"created_at": 1})
        assert "body.tree_digest" in _error(missing, 400, "invalid_input")
        bad_digest = http.post("/datasets/d/versions", json=_version_body("md5:0"))
        assert "tree digest" in _error(bad_digest, 400, "invalid_input")
        bad_name = http.post("/datasets/a@1/versions", json=_version_body(TREE_A))
        assert "letters, digits" in _error(bad_name, 400, "invalid_input")
        bad_version = http.get("/datasets/d/versions/three")
        assert "path.version" in _error(bad_version, 400, "invalid_input")
        bad_input = http.post("/runs/r/dataset-inputs", json={"inputs": [{"dataset": "d"}]})
        assert "body.inputs[0].version" in _error(bad_input, 400, "invalid_input")
        assert "d" in _error(http.get("/datasets/d/versions"), 404, "not_found")


def test_names_made_of_dots_survive_the_url(shared_platform_server_url: str) -> None:
    store = HttpMetadataStore(shared_platform_server_url)
    try:
        for name in (".", "..", "...", "a.b"):
            added, _ = store.add_dataset_version(DatasetVersion(name, 0, TREE_B, 1_700_000_000_000))
            assert store.get_dataset_version(name, 1) == added
            assert [v.version for v in store.list_dataset_versions(name)] == [1]
            store.delete_dataset_version(name)
        with pytest.raises(InvalidInputError, match="not allowed"):
            store.get_dataset_version("a/b")
    finally:
        store.close()
