"""The platform server: the ``/api/v1`` HTTP API over a metadata and an artifact store.

``create_app(metadata_store, artifact_store)`` builds the ASGI app; ``serve(...)`` runs it
with uvicorn; ``python -m loopml.server --help`` does the same from a shell.
"""

from loopml.server.app import create_app
from loopml.server.run import serve

__all__ = ["create_app", "serve"]
