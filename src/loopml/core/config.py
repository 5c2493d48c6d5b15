"""Where the stores live: ``.loopml/`` found like ``.git``, a config file, environment overrides.

Precedence, highest first: explicit arguments, ``LOOPML_*`` environment variables,
``.loopml/config.toml``, defaults inside ``.loopml/``. A store URI that holds a password can
be read from a file named by ``LOOPML_STORE_URI_FILE`` / ``LOOPML_ARTIFACT_URI_FILE`` (a
mounted secret), so it appears neither on a command line nor in the environment.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from loopml.core.errors import ConfigError
from loopml.core.redaction import redact_uri

DIR_NAME = ".loopml"
CONFIG_FILE = "config.toml"
ENV_STORE_URI = "LOOPML_STORE_URI"
ENV_ARTIFACT_URI = "LOOPML_ARTIFACT_URI"
ENV_STORE_URI_FILE = "LOOPML_STORE_URI_FILE"
ENV_ARTIFACT_URI_FILE = "LOOPML_ARTIFACT_URI_FILE"
ENV_SERVER_URL = "LOOPML_SERVER_URL"
ENV_TOKEN = "LOOPML_TOKEN"
ENV_EXECUTOR = "LOOPML_EXECUTOR"
_KEYS = ("store_uri", "artifact_uri", "server_url", "executor")


@dataclass(frozen=True)
class Config:
    """Resolved settings. ``root`` is the ``.loopml`` folder, or None when none was found."""

    root: Path | None
    store_uri: str | None
    artifact_uri: str | None
    server_url: str | None = None
    token: str | None = None
    executor: str | None = None  # where pipeline steps and trials run by default

    @property
    def is_remote(self) -> bool:
        return bool(self.server_url)

    def __repr__(self) -> str:  # never show the token
        token = "***" if self.token else None
        return (
            f"Config(root={self.root!r}, store_uri={redact_uri(self.store_uri)!r}, "
            f"artifact_uri={redact_uri(self.artifact_uri)!r}, "
            f"server_url={redact_uri(self.server_url)!r}, token={token}, "
            f"executor={self.executor!r})"
        )


def find_root(start: Path | None = None) -> Path | None:
    """The nearest ``.loopml`` folder in ``start`` (default: cwd) or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DIR_NAME
        if candidate.is_dir():
            return candidate
    return None


def default_store_uri(root: Path) -> str:
    return f"sqlite:///{root / 'loopml.db'}"


def default_artifact_uri(root: Path) -> str:
    return str(root / "artifacts")


def _read_file(root: Path) -> dict[str, str]:
    path = root / CONFIG_FILE
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}. Fix the TOML syntax or delete the file.") from exc
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(_KEYS)}."
        )
    for key, value in data.items():
        if not isinstance(value, str):
            raise ConfigError(f"{path}: {key} must be a string, got {type(value).__name__}.")
    return {k: str(v) for k, v in data.items()}


def uri_from_environment(env: dict[str, str], name: str, file_name: str) -> str | None:
    """The URI in ``env[name]``, or read from the file ``env[file_name]`` names (trailing
    whitespace stripped); setting both is a :class:`ConfigError`."""
    value, path = env.get(name), env.get(file_name)
    if not path:
        return value or None
    if value:
        raise ConfigError(f"Both {name} and {file_name} are set; set only one of them.")
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(
            f"{file_name} names {path}, which cannot be read ({reason}). Point it at a file "
            "that holds the URI on one line."
        ) from exc
    if not text or "\n" in text:
        raise ConfigError(f"{path} (from {file_name}) must hold one URI on one line.")
    return text


def load_config(start: Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Resolve the configuration seen from ``start`` (default: the working directory)."""
    env = dict(os.environ) if env is None else env
    root = find_root(start)
    file_values = _read_file(root) if root else {}
    store_uri = uri_from_environment(env, ENV_STORE_URI, ENV_STORE_URI_FILE)
    store_uri = store_uri or file_values.get("store_uri")
    artifact_uri = uri_from_environment(env, ENV_ARTIFACT_URI, ENV_ARTIFACT_URI_FILE)
    artifact_uri = artifact_uri or file_values.get("artifact_uri")
    if root is not None:
        store_uri = store_uri or default_store_uri(root)
        artifact_uri = artifact_uri or default_artifact_uri(root)
    return Config(
        root=root,
        store_uri=store_uri,
        artifact_uri=artifact_uri,
        server_url=env.get(ENV_SERVER_URL) or file_values.get("server_url"),
        token=env.get(ENV_TOKEN) or None,
        executor=env.get(ENV_EXECUTOR) or file_values.get("executor"),
    )


def init_project(folder: Path) -> Config:
    """Create ``folder/.loopml`` (idempotent) and return the configuration it gives."""
    root = folder.resolve() / DIR_NAME
    root.mkdir(parents=True, exist_ok=True)
    (root / ".gitignore").write_text("*\n", encoding="utf-8")
    config = load_config(folder)
    if config.root != root:  # an environment override must not hide the new folder
        config = replace(config, root=root)
    return config
