"""The browser assets shipped inside the package, and the offline Swagger UI page.

Everything a page loads (scripts, styles, the favicon) is a file under ``static/``; the
third-party ones under ``static/vendor/<npm package>/`` are copied from pinned, integrity-checked
npm tarballs by ``scripts/vendor_assets.py`` (their versions in ``static/vendor/VERSIONS``).
Nothing is fetched from a CDN, so the dashboard and ``/docs`` work on a machine offline.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "install_offline_docs", "mount_static"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
SWAGGER = "vendor/swagger-ui-dist"
# no "Try it out" call to swagger.io's validator, which Swagger UI makes by default
SWAGGER_PARAMETERS = {"validatorUrl": None}


def mount_static(app: FastAPI, path: str) -> None:
    """Serve ``static/`` at ``path`` (e.g. ``/ui/static``): read-only files, no listing."""
    app.mount(path, StaticFiles(directory=STATIC_DIR), name="static")


def install_offline_docs(app: FastAPI, *, static_path: str, docs_url: str = "/docs") -> None:
    """Swagger UI at ``docs_url`` over the app's OpenAPI document, its script, style and
    favicon served from ``static_path`` (where :func:`mount_static` put them, mounted here if
    no route serves that path yet). Like FastAPI's own page, a route outside the API."""
    if not any(getattr(route, "path", None) == static_path for route in app.routes):
        mount_static(app, static_path)
    openapi_url = app.openapi_url or "/openapi.json"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - API",
            swagger_js_url=f"{root}{static_path}/{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{static_path}/{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{root}{static_path}/{SWAGGER}/favicon-32x32.png",
            swagger_ui_parameters=SWAGGER_PARAMETERS,
        )

    app.add_route(docs_url, swagger_ui, include_in_schema=False)
