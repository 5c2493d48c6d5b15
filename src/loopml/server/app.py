"""The platform API as a FastAPI app over a metadata store and an artifact store.

Run it with :func:`loopml.server.serve`, or build it over stores you opened yourself::

    metadata, blobs = open_metadata_store("sqlite:///x.db"), open_artifact_store("blobs")
    app = create_app(metadata, blobs)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from fastapi import Depends, FastAPI

from loopml.dashboard.assets import install_offline_docs
from loopml.dashboard.router import STATIC_PATH, SignIn, dashboard_router, mount_dashboard
from loopml.dashboard.sources import DashboardSources
from loopml.server.auth import TokenAuthenticator, anyone, authorize, require, token_check
from loopml.server.context import ServerContext
from loopml.server.errors import install_error_handlers
from loopml.server.limits import RequestLimits, RequestSizeLimit
from loopml.server.metrics import ServerMetrics, ServerRequestMetrics
from loopml.server.metrics import router as metrics_router
from loopml.server.promotion_policy import ServerPolicy
from loopml.server.registry_moves import ServerRegistryActions
from loopml.server.request_ids import RequestIds
from loopml.server.routes import (
    artifacts,
    blobs,
    datasets,
    decisions,
    events,
    experiments,
    health,
    identity,
    lineage,
    loop,
    loop_states,
    models,
    runs,
)
from loopml.server.schemas import ErrorBody
from loopml.stores.artifacts.base import ArtifactStore
from loopml.stores.identity.base import IdentityStore
from loopml.stores.loop.base import LoopStore
from loopml.stores.metadata.base import MetadataStore

API_PREFIX = "/api/v1"
# matched in this order, so the busiest first: every run's start, end, batches and heartbeats
ROUTERS = (
    runs,
    health,
    experiments,
    artifacts,
    blobs,
    datasets,
    lineage,
    models,
    events,
    loop,
    decisions,
    loop_states,
    identity,
)


def server_version() -> str:
    try:
        return version("loopml")
    except PackageNotFoundError:
        return "unknown"


def create_app(
    metadata_store: MetadataStore,
    artifact_store: ArtifactStore,
    *,
    spool_dir: Path | None = None,
    limits: RequestLimits | None = None,
    loop_store: LoopStore | None = None,
    identity_store: IdentityStore | None = None,
    authenticator: TokenAuthenticator | None = None,
    policy: ServerPolicy | None = None,
) -> FastAPI:
    """The API over these stores. The caller owns the stores (and closes them).

    Uploads are spooled to a temporary file in ``spool_dir`` (default: the system's temporary
    folder, ``TMPDIR``) before they are stored; point it at a disk, not a RAM-backed /tmp.
    Request bodies and uploads are bounded by ``limits`` (default: :class:`RequestLimits`).
    ``loop_store`` (deployments, leases) and ``identity_store`` (users, tokens, roles) are
    usually the ones beside the metadata store. With ``authenticator`` every request needs a
    token it accepts (auth on); without, every caller may do everything (auth off).
    Moves of protected aliases are held to ``policy`` (default: none; see
    :mod:`loopml.server.promotion_policy`).
    """
    app_version = server_version()
    app = FastAPI(
        title="loopml",
        version=app_version,
        summary=(
            "The loopml platform API: experiments, runs, artifacts, datasets, lineage, the model "
            "registry and events."
        ),
        openapi_url="/openapi.json",
        docs_url=None,  # served below from the package's own files, not a CDN
        redoc_url=None,
        redirect_slashes=False,
        responses={"default": {"model": ErrorBody, "description": "An error."}},
    )
    app.state.context = ServerContext(
        metadata_store,
        artifact_store,
        app_version,
        spool_dir,
        loop_store=loop_store,
        identity_store=identity_store,
        promotion=policy or ServerPolicy(None),
    )
    app.state.authenticator = authenticator
    install_error_handlers(app)
    app.add_middleware(
        RequestSizeLimit, limits=limits or RequestLimits(), blob_path=f"{API_PREFIX}/blobs"
    )
    for module in ROUTERS:
        # the one place authorization is attached: no route can be added without it
        app.include_router(module.router, prefix=API_PREFIX, dependencies=[Depends(authorize)])
    # Prometheus's conventional path, outside the API; outermost, so 413s are counted too
    app.state.metrics = ServerMetrics()
    app.include_router(metrics_router, dependencies=[Depends(authorize)])
    app.add_middleware(ServerRequestMetrics, metrics=app.state.metrics, prefix=API_PREFIX)
    # the web pages under /ui, each held to a permission like the API's routes
    sources = DashboardSources(
        metadata_store,
        artifact_store,
        loop_store,
        identity_store,
        registry=ServerRegistryActions(app.state.context),  # the API's own moves
    )
    # with auth on, a browser signs in with a token at /ui/login (a cookie; see auth.py)
    signin = None if authenticator is None else SignIn(token_check(authenticator), anyone)
    dashboard = dashboard_router(sources, require=require, signin=signin)
    mount_dashboard(app, dashboard, dependencies=[Depends(authorize)])
    # like /openapi.json, open without a token: the API's description, no data; the
    # dashboard's scripts and styles (/ui/static) are open too: the package's files, no data
    install_offline_docs(app, static_path=STATIC_PATH)
    app.add_middleware(RequestIds)  # outermost: every answer carries its request id
    return app
