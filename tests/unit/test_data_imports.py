"""``loopml.data``'s public names, and the light import path of listing and hashing files."""

from __future__ import annotations

import subprocess
import sys

import loopml.data


def test_every_public_name_resolves_and_no_other() -> None:
    for name in loopml.data.__all__:
        assert getattr(loopml.data, name).__name__ == name
    assert sorted(loopml.data.__all__) == loopml.data.__all__
    try:
        _ = loopml.data.no_such_name  # type: ignore[attr-defined]
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:  # pragma: no cover - the assertion below names the failure
        raise AssertionError("an unknown name must raise AttributeError")


def test_status_and_add_of_plain_files_do_not_import_pyarrow_or_numpy() -> None:
    code = (
        "import sys, loopml.data, loopml.data.versions, loopml.cli.main\n"
        "loopml.data.status, loopml.data.add\n"
        "print(sorted(m for m in ('pyarrow', 'numpy') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert found.strip() == "[]"
