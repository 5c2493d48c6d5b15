"""Input columns that must not reach the prediction log as they are: dropped, or replaced by
a keyed hash (HMAC-SHA256), which joins with other data hashed with the same key but cannot
be reversed or guessed without it.

``loopml serve --sensitive ssn --sensitive email:hash`` (mode ``drop`` by default). The hash
key comes from ``LOOPML_LOG_HASH_KEY_FILE`` (a file holding it) or ``LOOPML_LOG_HASH_KEY``;
a server asked to hash without one refuses to start. A hashed value is
``keyed_hash(str(value), key)``: 32 hex digits (the first 128 bits), null stays null.

>>> keyed_hash("4711", b"k" * 32)
'...'  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopml.core.errors import ConfigError, InvalidInputError

ENV_HASH_KEY_FILE = "LOOPML_LOG_HASH_KEY_FILE"
ENV_HASH_KEY = "LOOPML_LOG_HASH_KEY"
MODES = ("drop", "hash")
MIN_KEY_BYTES = 16


@dataclass(frozen=True, slots=True)
class SensitiveColumn:
    """An input column and what the log keeps of it: nothing (``drop``) or its keyed hash."""

    name: str
    mode: str = "drop"


def parse_sensitive(specs: Sequence[str]) -> tuple[SensitiveColumn, ...]:
    """``["ssn", "email:hash"]`` → the columns, each named once; an error names the bad spec."""
    found: dict[str, SensitiveColumn] = {}
    for spec in specs:
        if not isinstance(spec, str):
            raise InvalidInputError(
                f"A sensitive column must be given as 'COLUMN[:drop|hash]'. Got {spec!r} instead."
            )
        name, _, mode = spec.rpartition(":") if ":" in spec else (spec, "", "drop")
        name, mode = name.strip(), mode.strip().lower()
        if not name or mode not in MODES:
            raise InvalidInputError(
                f"The sensitive column {spec!r} must be 'COLUMN', 'COLUMN:drop' or "
                "'COLUMN:hash' (a column name, then what the prediction log keeps of it)."
            )
        if name in found and found[name].mode != mode:
            raise InvalidInputError(
                f"The sensitive column {name!r} is marked both {found[name].mode!r} and "
                f"{mode!r}: mark it once."
            )
        found[name] = SensitiveColumn(name, mode)
    return tuple(found.values())


def keyed_hash(text: str, key: bytes) -> str:
    """HMAC-SHA256 of ``text`` (UTF-8) under ``key``, as 32 hex digits."""
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def hash_key_from_env(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The configured hash key (the file's bytes, or the variable's, stripped), or None."""
    env = os.environ if environ is None else environ
    key_file = env.get(ENV_HASH_KEY_FILE, "").strip()
    inline = env.get(ENV_HASH_KEY, "").strip()
    if key_file:
        path = Path(key_file).expanduser()
        try:
            key = path.read_bytes().strip()
        except OSError as exc:
            raise ConfigError(
                f"Could not read the hash key file {path} ({ENV_HASH_KEY_FILE}): "
                f"{exc.strerror or exc}."
            ) from exc
    elif inline:
        key = inline.encode("utf-8")
    else:
        return None
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"The hash key for sensitive columns ({ENV_HASH_KEY_FILE} or {ENV_HASH_KEY}) must "
            f"hold at least {MIN_KEY_BYTES} bytes; make one with 'loopml encryption new-key'."
        )
    return key


class InputRedaction:
    """Drops or hashes the sensitive fields of a prediction table's ``inputs`` column."""

    def __init__(self, columns: Sequence[SensitiveColumn], key: bytes | None) -> None:
        if key is None and any(column.mode == "hash" for column in columns):
            names = ", ".join(c.name for c in columns if c.mode == "hash")
            raise ConfigError(
                f"Hashing the sensitive columns {names} needs a key: set {ENV_HASH_KEY_FILE} "
                f"(a file holding at least {MIN_KEY_BYTES} random bytes, the same on every "
                "server whose logs you join) or drop them instead (COLUMN:drop)."
            )
        self.columns = {column.name: column.mode for column in columns}
        self._key = key or b""

    def __repr__(self) -> str:  # never the key
        return f"InputRedaction({self.columns!r})"

    def apply(self, table: Any) -> Any:
        """``table`` with its ``inputs`` struct rebuilt without the raw sensitive values."""
        import pyarrow as pa

        if "inputs" not in table.column_names or not self.columns:
            return table
        inputs = table.column("inputs").combine_chunks()
        if not pa.types.is_struct(inputs.type):
            return table  # an array model's rows: no column names to match
        names, arrays = [], []
        for index in range(inputs.type.num_fields):
            name = inputs.type.field(index).name
            mode = self.columns.get(name)
            if mode == "drop":
                continue
            field = inputs.field(index)
            names.append(name)
            arrays.append(field if mode is None else self._hashed(field))
        if arrays:
            mask = inputs.is_null() if inputs.null_count else None
            rebuilt = pa.StructArray.from_arrays(arrays, names=names, mask=mask)
        else:
            rebuilt = pa.array([{}] * len(inputs), pa.struct([]))
        position = table.column_names.index("inputs")
        return table.set_column(position, "inputs", rebuilt)

    def _hashed(self, values: Any) -> Any:
        import pyarrow as pa

        key = self._key
        return pa.array(
            [
                None if value is None else keyed_hash(str(value), key)
                for value in values.to_pylist()
            ],
            pa.string(),
        )
