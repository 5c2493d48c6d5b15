"""The running loopml as a wheel, so a bundle can install exactly the loopml that packaged it.

loopml is not on a public package index, so ``pip install loopml[serve]==X`` in a bundle's
image only works if the wheel comes along. The wheel is made from the installed package itself
(its folder and its installed metadata), which works the same for a regular and an editable
install and needs no build tools or network.

>>> write_loopml_wheel(Path("bundle/wheels"))  # doctest: +SKIP
PosixPath('bundle/wheels/loopml-0.1.0-py3-none-any.whl')
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from loopml.core.errors import ConfigError
from loopml.core.version import __version__

__all__ = ["wheel_name", "write_loopml_wheel"]

_WHEEL_FILE = (
    "Wheel-Version: 1.0\nGenerator: loopml package\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
)
_SKIPPED_DIRS = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same source gives the same wheel


def wheel_name() -> str:
    return f"loopml-{__version__}-py3-none-any.whl"


def write_loopml_wheel(folder: Path) -> Path:
    """Write ``loopml-<version>-py3-none-any.whl`` of the running loopml into ``folder``."""
    try:
        dist = distribution("loopml")
    except PackageNotFoundError as exc:
        raise ConfigError(
            "loopml is imported but not installed (no package metadata), so its wheel cannot "
            "be bundled; install it (pip install -e . in a checkout) and package again."
        ) from exc
    metadata = dist.read_text("METADATA")
    if metadata is None:
        raise ConfigError("The installed loopml has no METADATA; reinstall it.")
    entry_points = dist.read_text("entry_points.txt")
    info = f"loopml-{__version__}.dist-info"
    files: list[tuple[str, bytes]] = []
    package_dir = Path(__file__).resolve().parent.parent  # the loopml package folder
    for path in sorted(package_dir.rglob("*")):
        relative = path.relative_to(package_dir)
        if not path.is_file() or _SKIPPED_DIRS & set(relative.parts):
            continue
        if path.suffix in _SKIPPED_SUFFIXES:
            continue
        files.append((f"loopml/{relative.as_posix()}", path.read_bytes()))
    files.append((f"{info}/METADATA", metadata.encode()))
    files.append((f"{info}/WHEEL", _WHEEL_FILE.encode()))
    if entry_points:
        files.append((f"{info}/entry_points.txt", entry_points.encode()))
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in files)
    record += f"{info}/RECORD,,\n"
    files.append((f"{info}/RECORD", record.encode()))
    target = folder / wheel_name()
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files:
            entry = zipfile.ZipInfo(name, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(entry, data)
    return target


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"sha256={digest.decode()}"
