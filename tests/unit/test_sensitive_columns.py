"""Sensitive input columns of the prediction log: the specs ``loopml serve --sensitive``
takes, and what the log's writer keeps of each column (nothing, or a keyed hash)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from loopml.core.errors import ConfigError, InvalidInputError
from loopml.monitoring.log_records import PredictionEntry, to_table
from loopml.monitoring.sensitive_columns import (
    InputRedaction,
    SensitiveColumn,
    hash_key_from_env,
    keyed_hash,
    parse_sensitive,
)
from loopml.serving.options import ServeOptions
from loopml.serving.rows import Rows

KEY = b"0123456789abcdef0123456789abcdef"


def _table() -> pa.Table:
    inputs = pa.table(
        {"ssn": ["123-45-6789", None], "email": ["a@example.com", "b@example.com"], "age": [41, 7]}
    )
    entry = PredictionEntry("p", "r", 0, "m@1", "main", 1.0, Rows(inputs), np.array([1, 0]))
    return to_table([entry])


def test_specs_parse_with_drop_by_default_and_bad_ones_name_what_is_allowed() -> None:
    assert parse_sensitive(["ssn", "email:hash", "name:DROP"]) == (
        SensitiveColumn("ssn", "drop"),
        SensitiveColumn("email", "hash"),
        SensitiveColumn("name", "drop"),
    )
    assert parse_sensitive(["url:part:hash"]) == (SensitiveColumn("url:part", "hash"),)
    for bad in ("ssn:mask", ":hash", ""):
        with pytest.raises(InvalidInputError, match="COLUMN:hash"):
            parse_sensitive([bad])
    with pytest.raises(InvalidInputError, match="both 'drop' and 'hash'"):
        parse_sensitive(["ssn", "ssn:hash"])
    with pytest.raises(InvalidInputError, match="'sensitive' option"):
        ServeOptions(sensitive="ssn")  # type: ignore[arg-type]
    assert ServeOptions.from_json(ServeOptions(sensitive=("ssn",)).to_json()).sensitive == ("ssn",)


def test_dropped_columns_leave_the_log_and_hashed_ones_join_but_do_not_reveal() -> None:
    redaction = InputRedaction(parse_sensitive(["ssn", "email:hash"]), KEY)
    inputs = redaction.apply(_table()).column("inputs").to_pylist()
    assert inputs == [
        {"email": keyed_hash("a@example.com", KEY), "age": 41},
        {"email": keyed_hash("b@example.com", KEY), "age": 7},
    ]
    assert "example.com" not in str(inputs)
    assert keyed_hash("a@example.com", b"another key, also 32 bytes long!") != inputs[0]["email"]
    every = InputRedaction(parse_sensitive(["ssn", "email", "age"]), None)
    assert every.apply(_table()).column("inputs").to_pylist() == [{}, {}]


def test_hashing_without_a_key_refuses_and_a_short_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LOOPML_LOG_HASH_KEY_FILE"):
        InputRedaction(parse_sensitive(["email:hash"]), None)
    key_file = tmp_path / "hash.key"
    key_file.write_bytes(KEY + b"\n")
    assert hash_key_from_env({"LOOPML_LOG_HASH_KEY_FILE": str(key_file)}) == KEY
    assert hash_key_from_env({}) is None
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        hash_key_from_env({"LOOPML_LOG_HASH_KEY": "short"})
    assert "0123" not in repr(InputRedaction(parse_sensitive(["email:hash"]), KEY))
