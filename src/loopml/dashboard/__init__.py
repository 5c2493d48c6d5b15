"""The web dashboard: server-rendered pages over the same capability functions the CLI uses,
with every script and style shipped inside the package (see :mod:`loopml.dashboard.assets`).

Mounted by the platform server under ``/ui`` and served alone by ``loopml ui``; it never
imports the servers (they import it).
"""

from loopml.dashboard.assets import STATIC_DIR, install_offline_docs, mount_static

__all__ = ["STATIC_DIR", "install_offline_docs", "mount_static"]
