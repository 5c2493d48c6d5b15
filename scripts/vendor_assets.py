"""Refresh the browser assets the dashboard and both servers' /docs ship inside the package.

Downloads each pinned npm tarball from registry.npmjs.org, checks it against the SHA-512
``dist.integrity`` the registry publishes for that exact version, and copies only the files
the pages load (plus the package's LICENSE) into
``src/loopml/dashboard/static/vendor/<package>/``, with a ``VERSIONS`` manifest. The copied
files are committed: nothing is fetched when loopml runs. To move to a new version, change
``PINS`` and run ``python scripts/vendor_assets.py``; review the diff, run the browser tests.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
VENDOR = Path(__file__).resolve().parent.parent / "src/loopml/dashboard/static/vendor"
LICENSE_NAMES = ("LICENSE", "LICENSE.md", "LICENSE.txt", "license", "LICENSE-MIT")


@dataclass(frozen=True)
class Pin:
    package: str
    version: str
    files: tuple[str, ...]  # paths inside the tarball's package/ folder


PINS = (
    Pin(
        "swagger-ui-dist",
        "5.36.0",
        ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"),
    ),
    Pin("htmx.org", "2.0.8", ("dist/htmx.min.js",)),
    Pin("uplot", "1.6.32", ("dist/uPlot.iife.min.js", "dist/uPlot.min.css")),
)


class VendorError(Exception):
    """The registry's answer cannot be trusted or used; nothing was written."""


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:
        data: bytes = answer.read()
    return data


def tarball(pin: Pin) -> bytes:
    """The package's tarball, checked against the registry's SHA-512 integrity."""
    meta = json.loads(fetch(f"{REGISTRY}/{pin.package}/{pin.version}"))
    integrity: str = meta["dist"]["integrity"]
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise VendorError(f"{pin.package}@{pin.version}: integrity is {algorithm}, not sha512")
    data = fetch(meta["dist"]["tarball"])
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise VendorError(f"{pin.package}@{pin.version}: tarball does not match its integrity")
    return data


def extract(pin: Pin, data: bytes) -> dict[str, bytes]:
    """The pinned files and the LICENSE, by the name they get in the vendor folder."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        members = {m.name.removeprefix("package/"): m for m in archive.getmembers() if m.isfile()}
        wanted: dict[str, bytes] = {}
        for path in pin.files:
            if path not in members:
                raise VendorError(f"{pin.package}@{pin.version} has no {path}")
            wanted[Path(path).name] = _read(archive, members[path])
        license_path = next((name for name in LICENSE_NAMES if name in members), None)
        if license_path is None:
            raise VendorError(f"{pin.package}@{pin.version} ships no LICENSE file")
        wanted["LICENSE"] = _read(archive, members[license_path])
    return wanted


def _read(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member)
    if handle is None:
        raise VendorError(f"cannot read {member.name}")
    return handle.read()


def main() -> int:
    found = {pin: extract(pin, tarball(pin)) for pin in PINS}  # all checked before any write
    manifest = []
    for pin, files in found.items():
        folder = VENDOR / pin.package
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for name, content in files.items():
            (folder / name).write_bytes(content)
        manifest.append(f"{pin.package} {pin.version} {' '.join(sorted(files))}")
        print(f"vendored {pin.package}@{pin.version}: {', '.join(sorted(files))}")
    (VENDOR / "VERSIONS").write_text(
        "# package version files; refreshed by scripts/vendor_assets.py\n"
        + "\n".join(manifest)
        + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
