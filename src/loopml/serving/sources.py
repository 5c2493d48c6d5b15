"""Where a served model comes from: the registry (``NAME@ALIAS``, followed as the alias moves)
or a bundle folder written by ``loopml package`` (fixed; no store needed).

Both verify every model file against the digest recorded at registration before loading it,
and both prefer a version's checked ONNX conversion when it has one (``prefer_onnx``).

What a source trusts is fixed when it is made (``trust_code``, from ``loopml serve
--trust-code``): every version it loads later — a hot swap when the alias moves included — is
held to it, so a version registered by anyone that would run code (a pickle, a
``module:callable``, scikit-learn types outside loopml's allowlist) is refused with
UntrustedCodeError unless the server was started trusting code.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from loopml.core.errors import (
    BackendUnavailableError,
    IntegrityError,
    InvalidInputError,
    UntrustedCodeError,
)
from loopml.core.hashing import hash_bytes, hash_chunks, iter_chunks
from loopml.core.refs import ModelRef, parse_model_ref
from loopml.models.flavors import CODE_FLAVORS
from loopml.models.onnx import OnnxModel
from loopml.models.packaging import BUNDLE_MANIFEST, MODEL_DIR
from loopml.models.registry import (
    MANIFEST,
    MODEL_FOLDER,
    NATIVE,
    ONNX_FOLDER,
    load_flavor,
    open_preferred,
    read_background,
    resolve,
)
from loopml.stores.artifacts.trees import TreeEntry, encode_tree
from loopml.tracking.client import Client

__all__ = ["BundleSource", "LoadedModel", "ModelSource", "RegistrySource", "is_bundle"]

log = logging.getLogger("loopml.serving")


@dataclass(frozen=True)
class LoadedModel:
    """A model version in memory, ready to predict."""

    name: str
    version: int
    flavor: str
    variant: str  # "onnx" or "native"
    digest: str
    signature: Mapping[str, Any] | None
    predictor: Any
    allow_missing: bool  # may null / NaN reach it?
    input_example: Mapping[str, Any] | None = None  # as stored: {"columns", "data"} or {"inputs"}
    background: Mapping[str, Any] | None = None  # explain/background.json, stored alike

    @property
    def label(self) -> str:
        """``NAME@3``: the version that produced a response."""
        return f"{self.name}@{self.version}"


class ModelSource(Protocol):
    """Finds the version to serve now and loads it."""

    @property
    def name(self) -> str: ...

    @property
    def description(self) -> str: ...

    @property
    def polls(self) -> bool:
        """Whether the version can change while serving (an alias, or the newest)."""
        ...

    def current_version(self) -> int:
        """The version number to serve now; NotFoundError while there is none (an alias
        that is not set yet)."""
        ...

    def load(self, version: int) -> LoadedModel:
        """The version in memory; UntrustedCodeError (nothing of it run) for one that needs
        more trust than the source was made with."""
        ...

    def check_trusted(self, version: int) -> None:
        """UntrustedCodeError now for a version whose flavor is code the source does not
        trust (what its record says; :meth:`load` checks the files themselves)."""
        ...

    def close(self) -> None: ...


class RegistrySource:
    """A registered model by reference: ``churn@champion``, ``churn@3``, ``churn``."""

    def __init__(
        self,
        ref: str | ModelRef,
        client: Client,
        *,
        prefer_onnx: bool = True,
        trust_code: bool = False,
    ) -> None:
        self.ref = parse_model_ref(ref) if isinstance(ref, str) else ref
        self.client = client
        self.prefer_onnx = prefer_onnx
        self.trust_code = trust_code

    @property
    def name(self) -> str:
        return self.ref.model

    @property
    def description(self) -> str:
        return str(self.ref)

    @property
    def polls(self) -> bool:
        return self.ref.version is None

    def current_version(self) -> int:
        return resolve(self.ref, self.client).version

    def load(self, version: int) -> LoadedModel:
        record = self.client.metadata.get_model_version(self.ref.model, version)
        opened = open_preferred(
            record, self.client, prefer_onnx=self.prefer_onnx, trust_code=self.trust_code
        )
        return _loaded(
            name=record.model,
            version=record.version,
            flavor=record.flavor,
            variant=opened.variant,
            digest=record.tree_digest,
            signature=record.signature,
            predictor=opened.model,
            input_example=opened.input_example,
            background=opened.background,
        )

    def check_trusted(self, version: int) -> None:
        record = self.client.metadata.get_model_version(self.ref.model, version)
        _check_flavor(record.flavor, f"{record.model}@{record.version}", self.trust_code)

    def close(self) -> None:
        self.client.close()


def is_bundle(path: str) -> bool:
    """Whether ``path`` is a folder with a ``bundle.json`` (what ``loopml package`` writes)."""
    return os.path.isfile(os.path.join(path, BUNDLE_MANIFEST))


class BundleSource:
    """A bundle folder from ``loopml package``: ``bundle.json`` and the version's files under
    ``model/``, checked against the digest the bundle records."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        prefer_onnx: bool = True,
        trust_code: bool = False,
    ) -> None:
        self.folder = Path(folder).resolve()
        self.prefer_onnx = prefer_onnx
        self.trust_code = trust_code
        try:
            self.manifest = json.loads((self.folder / BUNDLE_MANIFEST).read_text(encoding="utf-8"))
            self._name = str(self.manifest["model"])
            self._version = int(self.manifest["version"])
            self._digest = str(self.manifest["digest"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(
                f"{self.folder / BUNDLE_MANIFEST} is not a bundle manifest ({exc}); give a "
                "folder written by 'loopml package'."
            ) from exc

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str:
        return f"{self._name}@{self._version} (bundle {self.folder})"

    @property
    def polls(self) -> bool:
        return False

    def current_version(self) -> int:
        return self._version

    def check_trusted(self, version: int) -> None:
        _check_flavor(str(self.manifest.get("flavor", "")), self.description, self.trust_code)

    def load(self, version: int) -> LoadedModel:
        files = self.folder / MODEL_DIR
        found = tree_digest(files)
        if found != self._digest:
            raise IntegrityError(
                f"The model files in {files} do not match the digest in {BUNDLE_MANIFEST} "
                f"({found} ≠ {self._digest}): they were changed after packaging. Package the "
                "version again."
            )
        manifest = json.loads((files / MANIFEST).read_text(encoding="utf-8"))
        onnx = manifest.get(ONNX_FOLDER)
        if self.prefer_onnx and onnx:
            try:
                predictor = OnnxModel(files / ONNX_FOLDER / str(onnx["file"]))
                return self._loaded(manifest, ONNX_FOLDER, predictor)
            except BackendUnavailableError as exc:
                log.warning("%s: serving the native model: %s", self._name, exc.message)
        label = f"{self._name}@{self._version}"
        predictor = load_flavor(
            manifest, files / MODEL_FOLDER, trust_code=self.trust_code, label=label
        )
        return self._loaded(manifest, NATIVE, predictor)

    def _loaded(self, manifest: Mapping[str, Any], variant: str, predictor: Any) -> LoadedModel:
        example_file = manifest.get("input_example")
        example = None
        if example_file:
            path = self.folder / MODEL_DIR / str(example_file)
            example = json.loads(path.read_text(encoding="utf-8"))
        return _loaded(
            name=self._name,
            version=self._version,
            flavor=str(manifest["flavor"]),
            variant=variant,
            digest=self._digest,
            signature=manifest.get("signature"),
            predictor=predictor,
            input_example=example,
            background=read_background(manifest, self.folder / MODEL_DIR),
        )

    def close(self) -> None:
        pass


def _check_flavor(flavor: str, label: str, trust_code: bool) -> None:
    if flavor in CODE_FLAVORS and not trust_code:
        raise UntrustedCodeError(
            f"{label} is a {flavor} model: loading it runs code that whoever registered it "
            "chose. Serve it only if you trust them, with --trust-code."
        )


def tree_digest(folder: Path) -> str:
    """The digest the artifact store would give ``folder`` as a tree (every regular file,
    hashed)."""
    entries = []
    for dirpath, _dirnames, filenames in os.walk(folder):
        for filename in filenames:
            path = Path(dirpath) / filename
            if path.is_symlink() or not path.is_file():
                continue
            with path.open("rb") as stream:
                digest = hash_chunks(iter_chunks(stream))
            entries.append(
                TreeEntry(path.relative_to(folder).as_posix(), digest, path.stat().st_size)
            )
    return str(hash_bytes(encode_tree(entries)))


def _loaded(*, flavor: str, variant: str, predictor: Any, **fields: Any) -> LoadedModel:
    return LoadedModel(
        flavor=flavor,
        variant=variant,
        predictor=predictor,
        allow_missing=_takes_missing(predictor, flavor, variant),
        **fields,
    )


def _takes_missing(predictor: Any, flavor: str, variant: str) -> bool:
    """Whether the model copes with null / NaN: scikit-learn says so in its tags; XGBoost,
    LightGBM and plain functions decide for themselves; ONNX conversions do not."""
    if variant == ONNX_FOLDER or flavor == "onnx":
        return False
    if flavor == "sklearn":
        try:
            from sklearn.utils import get_tags  # type: ignore[import-untyped]

            return bool(get_tags(predictor).input_tags.allow_nan)
        except Exception:  # an older scikit-learn, or an estimator without tags
            return False
    return True
