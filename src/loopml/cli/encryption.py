"""``loopml encryption``: keys for encryption at rest, and rotating stored blobs to a new key."""

from __future__ import annotations

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.core.errors import ConfigError
from loopml.stores.artifacts.encrypted import EncryptedArtifactStore
from loopml.stores.artifacts.encryption_keys import ENV_KEY, ENV_KEY_FILE, new_key_text
from loopml.stores.artifacts.rotation import KeyCensus, count_keys, rotate_keys
from loopml.tracking.client import Client

app = typer.Typer(
    help="Encryption at rest for artifacts (AES-256-GCM): make a key, see which key each "
    "stored blob uses, re-encrypt them under a new key. See docs/data-protection.md.",
    no_args_is_help=True,
)


@app.command("new-key")
def new_key_command() -> None:
    """Print a new random key (base64). Keep it in a file only its owner can read:

    loopml encryption new-key > ~/.loopml-key && chmod 600 ~/.loopml-key
    export LOOPML_ENCRYPTION_KEY_FILE=~/.loopml-key
    """
    typer.echo(new_key_text())


@app.command("status")
def status_command(as_json: output.JsonFlag = False) -> None:
    """How many stored blobs each key encrypts (and how many are still in plaintext)."""
    with open_client() as client:
        census = count_keys(_encrypted_store(client))
    _print(census, as_json=as_json, verb=None)


@app.command("rotate")
def rotate_command(as_json: output.JsonFlag = False) -> None:
    """Re-encrypt every blob that is not under the current key (the FIRST key of
    LOOPML_ENCRYPTION_KEY_FILE; the old keys must follow it, so the blobs can be read).
    Blobs stored before encryption was turned on are encrypted too. Digests do not change.
    Safe to run again after an interruption; then remove the old keys from the file.

        # key file: the new key on line 1, the old one on line 2
        loopml encryption rotate
    """
    with open_client() as client:
        census = rotate_keys(_encrypted_store(client))
    _print(census, as_json=as_json, verb="Re-encrypted")


def _encrypted_store(client: Client) -> EncryptedArtifactStore:
    if client.spec.server_url:
        raise ConfigError(
            "'loopml encryption' works on the artifact store directly, not through a server "
            f"(LOOPML_SERVER_URL is {output.redact_uri(client.spec.server_url)}). Run it on the "
            "server's machine with LOOPML_STORE_URI, LOOPML_ARTIFACT_URI and the server's key."
        )
    if not isinstance(client.artifacts, EncryptedArtifactStore):
        raise ConfigError(
            f"Encryption at rest is off: set {ENV_KEY_FILE} (a file of keys, the current one "
            f"first) or {ENV_KEY}. Make a key with 'loopml encryption new-key'."
        )
    return client.artifacts


def _print(census: KeyCensus, *, as_json: bool, verb: str | None) -> None:
    if as_json:
        output.print_json(
            {
                "current_key_id": census.current_key_id,
                "blobs": census.blobs,
                "blobs_by_key": dict(sorted(census.blobs_by_key.items())),
                "outdated": census.outdated,
                "reencrypted": census.reencrypted,
            }
        )
        return
    out = output.console()
    if verb is not None:
        out.print(f"{verb} {census.reencrypted} of {census.blobs} blobs.", markup=False)
    out.print(f"Current key: {census.current_key_id}", markup=False)
    for key_id, count in sorted(census.blobs_by_key.items()):
        mark = " (current)" if key_id == census.current_key_id else ""
        out.print(f"  {key_id}{mark}: {count} blobs", markup=False)
    if census.outdated:
        out.print(
            f"{census.outdated} blobs are not under the current key: run "
            "'loopml encryption rotate'.",
            markup=False,
        )
