"""Key rotation survives ``kill -9`` at any point, on a local folder and on S3 (moto): a
process re-encrypting a dataset's blobs under a new key is killed after a few blobs, round
after round. After each kill every file still reads back with the right bytes (the key file
holds the new key first and the old one after it, as docs/data-protection.md says); then
``loopml encryption rotate`` completes, ``loopml encryption status`` says every blob is under
the new key, ``loopml gc --apply`` removes what the killed writers left (temp files, upload
spools) and nothing else, and the files read back with the new key alone."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import loopml.data
from loopml.core.hashing import Digest
from loopml.stores.artifacts.encryption_keys import ENV_KEY_FILE, new_key_text
from loopml.stores.artifacts.trees import materialize_tree
from loopml.tracking.client import Client
from tests.e2e.runner import cli

FILES = 60
KILL_AFTER = (0, 4, 30)  # blobs re-encrypted before the kill

_ROTATE = textwrap.dedent(
    """
    import sys
    from loopml.stores.artifacts.rotation import rotate_keys
    from loopml.tracking.client import Client

    with Client(create=False) as client:
        print("ready", flush=True)
        rotate_keys(client.artifacts, progress=lambda digest: print(digest, flush=True))
    """
)


class Project:
    """The stores, the keys, and the environment every process of the test runs with."""

    def __init__(self, root: Path, artifact_uri: str, s3: Any = None) -> None:
        self.root = root
        self.s3 = s3  # an admin's s3fs filesystem, on S3
        self.bucket = artifact_uri.removeprefix("s3://").partition("/")[0] if s3 else None
        self.scratch = root / "scratch"  # the system temp folder of every process here
        self.scratch.mkdir()
        self.old_key, self.new_key = new_key_text(), new_key_text()
        self.base = {
            "LOOPML_STORE_URI": f"sqlite:///{root / 'loopml.db'}",
            "LOOPML_ARTIFACT_URI": artifact_uri,
            "TMPDIR": str(self.scratch),
        }
        if os.environ.get("LOOPML_S3_ENDPOINT_URL"):
            self.base["LOOPML_S3_ENDPOINT_URL"] = os.environ["LOOPML_S3_ENDPOINT_URL"]

    def keys(self, *texts: str) -> dict[str, str]:
        """The environment with a key file of ``texts``, the first the current key."""
        path = self.root / f"keys-{len(texts)}-{texts[0][:6].replace('/', '_')}.key"
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
        path.chmod(0o600)
        return {**self.base, ENV_KEY_FILE: str(path)}

    def bucket_uploads(self) -> list[Any]:
        """The multipart uploads begun in the bucket and not finished."""
        found = self.s3.call_s3("list_multipart_uploads", Bucket=self.bucket)
        return list(found.get("Uploads") or ())

    def client(self, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Client:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return Client(env["LOOPML_STORE_URI"], env["LOOPML_ARTIFACT_URI"])


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    if request.param == "s3":
        artifact_uri = str(request.getfixturevalue("s3_artifact_uri"))
        yield Project(tmp_path, artifact_uri, request.getfixturevalue("s3_admin_filesystem"))
    else:
        yield Project(tmp_path, str(tmp_path / "artifacts"))


def _write_files(folder: Path, rng: random.Random) -> dict[str, bytes]:
    folder.mkdir()
    files = {f"part-{i:03}.bin": rng.randbytes(rng.randrange(1, 40_000)) for i in range(FILES)}
    files["big.bin"] = rng.randbytes(2_500_000)  # three 1 MiB frames
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


def _read_back(client: Client, into: Path) -> dict[str, bytes]:
    version = loopml.data.get("secrets@1", client=client).version
    materialize_tree(client.artifacts, Digest.parse(version.tree_digest), into)
    return {path.name: path.read_bytes() for path in into.iterdir()}


def _killed_rotation(env: dict[str, str], cwd: Path, after: int, delay: float) -> int:
    """Rotate in a child, SIGKILL it ``delay`` s after its ``after``-th blob; blobs it did."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    process = subprocess.Popen(
        [sys.executable, "-c", _ROTATE],
        cwd=cwd,
        env={**child, **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready", process.communicate()[1]
    done = 0
    while done < after and process.stdout.readline():
        done += 1
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    out, _ = process.communicate(timeout=30)
    return done + len(out.splitlines())


def _cli_json(*args: str, env: dict[str, str], cwd: Path) -> dict[str, object]:
    done = cli(*args, "--json", env=env, cwd=cwd, timeout=180)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    document: dict[str, object] = json.loads(done.stdout)
    return document


def test_rotation_killed_anywhere_loses_nothing_and_leaves_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    where = f"(seed {seed})"
    files = _write_files(project.root / "secrets", rng)
    old_only = project.keys(project.old_key)
    with project.client(old_only, monkeypatch) as client:
        loopml.data.add("secrets", project.root / "secrets", client=client)
    rotating = project.keys(project.new_key, project.old_key)
    packs = project.root / "artifacts" / "packs"
    if project.bucket is None:  # a local store packs small blobs together
        assert list(packs.glob("*.pack")), "the local store packed nothing: a check is moot"

    moved = 0
    for n, after in enumerate(KILL_AFTER):
        moved += _killed_rotation(rotating, project.root, after, rng.uniform(0, 0.03))
        with project.client(rotating, monkeypatch) as client:
            assert _read_back(client, project.root / f"back-{n}") == files, where
    assert moved > 0, where

    rotated = _cli_json("encryption", "rotate", env=rotating, cwd=project.root)
    total = rotated["blobs"]
    assert isinstance(total, int) and total >= FILES, (rotated, where)
    assert rotated["outdated"] == 0, (rotated, where)
    # what a killed round acknowledged is not done again (a blob it replaced but did not
    # get to print is skipped too)
    redone = rotated["reencrypted"]
    assert isinstance(redone, int), rotated
    assert total - moved - len(KILL_AFTER) <= redone <= total - moved, (rotated, moved, where)
    status = _cli_json("encryption", "status", env=rotating, cwd=project.root)
    new_id = status["current_key_id"]
    assert status["blobs_by_key"] == {new_id: total} and status["outdated"] == 0, (status, where)

    swept = _cli_json("gc", "--grace", "0", "--apply", env=rotating, cwd=project.root)
    assert {item["kind"] for item in swept["removable"]} <= {"temp", "scratch"}, (swept, where)
    again = _cli_json("gc", "--grace", "0", env=rotating, cwd=project.root)
    assert again["removable"] == [], (again, where)
    assert not [p for p in project.scratch.iterdir() if p.name.startswith("loopml-")], where
    # no copy under the old key is left in a pack either (rotation stored each packed blob
    # again on its own, then removed the packs)
    assert not packs.exists() or not list(packs.glob("*.pack")), (list(packs.iterdir()), where)
    tmp = project.root / "artifacts" / "tmp"
    assert not tmp.exists() or not any(tmp.iterdir()), (list(tmp.iterdir()), where)

    if project.bucket is not None:  # no multipart upload left unfinished either
        uploads = project.bucket_uploads()
        assert not uploads, (uploads, where)

    new_only = project.keys(project.new_key)
    with project.client(new_only, monkeypatch) as client:
        assert _read_back(client, project.root / "back-new") == files, where


@pytest.mark.s3
def test_gc_aborts_the_multipart_upload_a_killed_writer_left_on_s3(
    s3_artifact_uri: str, s3_admin_filesystem: Any, tmp_path: Path
) -> None:
    """A writer killed while it uploads a large blob in parts (a rotation, a big dataset
    file) leaves an unfinished multipart upload: no object, but parts that S3 keeps (and
    bills) until someone aborts them. ``loopml gc`` lists it and ``--apply`` aborts it."""
    bucket, _, prefix = s3_artifact_uri.removeprefix("s3://").partition("/")
    key = f"{prefix}/blobs/ab/{'c' * 62}"
    started = s3_admin_filesystem.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
    s3_admin_filesystem.call_s3(
        "upload_part", Bucket=bucket, Key=key, UploadId=started["UploadId"], PartNumber=1,
        Body=b"x" * (5 << 20),
    )  # fmt: skip
    env = {
        "LOOPML_STORE_URI": f"sqlite:///{tmp_path / 'loopml.db'}",
        "LOOPML_ARTIFACT_URI": s3_artifact_uri,
        "LOOPML_S3_ENDPOINT_URL": os.environ["LOOPML_S3_ENDPOINT_URL"],
        "TMPDIR": str(tmp_path),
    }
    listed = _cli_json("gc", "--grace", "0", env=env, cwd=tmp_path)
    name = f"upload:{bucket}/{key}#{started['UploadId']}"
    assert [(i["kind"], i["name"]) for i in listed["removable"]] == [("temp", name)], listed
    _cli_json("gc", "--grace", "0", "--apply", env=env, cwd=tmp_path)
    left = s3_admin_filesystem.call_s3("list_multipart_uploads", Bucket=bucket)
    assert not left.get("Uploads"), left
