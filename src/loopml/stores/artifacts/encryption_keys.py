"""Artifact encryption keys: where they come from and how they are named.

A key is 32 random bytes (AES-256), written as base64 (``loopml encryption new-key``) or
64 hex digits. ``LOOPML_ENCRYPTION_KEY_FILE`` names a file of keys, one per line (blank lines
and ``#`` comments ignored); ``LOOPML_ENCRYPTION_KEY`` holds them inline, separated by
commas. The FIRST key encrypts new blobs; the others still decrypt blobs written before a
rotation. A key's id is the start of a hash of it, stored in every blob it encrypts: it
names the key without revealing it. Messages never contain key material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from loopml.core.errors import ConfigError, EncryptionKeyError
from loopml.stores.artifacts.encryption_format import KEY_ID_SIZE

ENV_KEY_FILE = "LOOPML_ENCRYPTION_KEY_FILE"
ENV_KEY = "LOOPML_ENCRYPTION_KEY"
KEY_SIZE = 32


@dataclass(frozen=True, slots=True)
class EncryptionKey:
    """One AES-256 key; ``repr`` shows its id only."""

    material: bytes = field(repr=False)
    key_id: str = field(init=False, compare=False)
    """16 hex digits naming the key (a hash of it; says nothing about the key)."""

    def __post_init__(self) -> None:
        digest = hashlib.sha256(b"loopml artifact key id\x00" + self.material).digest()
        object.__setattr__(self, "key_id", digest[:KEY_ID_SIZE].hex())

    def __repr__(self) -> str:
        return f"EncryptionKey(key_id={self.key_id!r})"


@dataclass(frozen=True, slots=True)
class KeyRing:
    """The key that encrypts new blobs, and every key that may decrypt stored ones."""

    current: EncryptionKey
    previous: tuple[EncryptionKey, ...] = ()

    def find(self, key_id: str) -> EncryptionKey | None:
        for key in (self.current, *self.previous):
            if key.key_id == key_id:
                return key
        return None

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(key.key_id for key in (self.current, *self.previous))


def new_key_text() -> str:
    """A fresh random key, as base64 (what a key file holds)."""
    return base64.b64encode(secrets.token_bytes(KEY_SIZE)).decode("ascii")


def parse_key(text: str, where: str) -> EncryptionKey:
    """A key written as base64 (standard or URL-safe) or 64 hex digits; ``where`` names its
    place in errors (the key itself never appears in them)."""
    text = text.strip()
    material: bytes | None = None
    if len(text) == 2 * KEY_SIZE:
        try:
            material = bytes.fromhex(text)
        except ValueError:
            material = None
    if material is None:
        try:
            material = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            material = None
    if material is None or len(material) != KEY_SIZE:
        raise EncryptionKeyError(
            f"{where} is not an encryption key: a key is 32 random bytes written as base64 "
            "(44 characters) or as 64 hex digits. Make one with 'loopml encryption new-key'."
        )
    return EncryptionKey(material)


def parse_keys(lines: list[str], source: str, *, unit: str = "line") -> KeyRing:
    """Keys from ``lines`` (blank ones and ``#`` comments skipped), the first one current;
    an error names ``source`` and the ``unit`` (line, or key) that is wrong."""
    keys = [
        parse_key(line, f"{source}, {unit} {number}")
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not keys:
        raise EncryptionKeyError(
            f"{source} holds no encryption key. Put one key per line (the first encrypts new "
            "blobs); make one with 'loopml encryption new-key'."
        )
    return KeyRing(keys[0], tuple(keys[1:]))


def keyring_from_env(environ: Mapping[str, str] | None = None) -> KeyRing | None:
    """The configured keys, or None when encryption at rest is off (neither variable set)."""
    env = os.environ if environ is None else environ
    key_file = env.get(ENV_KEY_FILE, "").strip()
    inline = env.get(ENV_KEY, "").strip()
    if key_file and inline:
        raise ConfigError(
            f"Both {ENV_KEY_FILE} and {ENV_KEY} are set: set one of them (a key file is "
            "safer: the environment of a process can be read by others)."
        )
    if key_file:
        path = Path(key_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise EncryptionKeyError(
                f"Could not read the encryption key file {path} ({ENV_KEY_FILE}): "
                f"{exc.strerror or exc}."
            ) from exc
        return parse_keys(text.splitlines(), f"The key file {path}")
    if inline:
        return parse_keys(inline.split(","), ENV_KEY, unit="key")
    return None
