"""The Jinja2 environment of the dashboard, its navigation, and how a page is rendered."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from loopml.core.roles import Permission
from loopml.core.version import __version__
from loopml.dashboard.links import Links

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
# every page: only the package's own files run or style it (no inline script, no style=""
# attribute, nothing from another origin); a violation is a console error the browser tests see
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class NavItem:
    slug: str  # the page's path under /ui/ ("" for the runs page)
    title: str
    permission: Permission  # what a caller needs to see the page


NAV = (
    NavItem("", "Runs", "runs:read"),
    NavItem("data", "Data", "datasets:read"),
    NavItem("pipelines", "Pipelines", "runs:read"),
    NavItem("models", "Models", "models:read"),
    NavItem("deployments", "Deployments", "deployments:read"),
    NavItem("audit", "Audit", "events:read"),
)

environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,  # every value is escaped unless a template says otherwise
    undefined=jinja2.StrictUndefined,  # a misspelt name fails the page, not a blank cell
    trim_blocks=True,
    lstrip_blocks=True,
)


def ui_path(request: Request) -> str:
    """The dashboard's path on this server (``/ui``, behind the app's ``root_path``)."""
    return f"{request.scope.get('root_path', '')}/ui"


def page(request: Request, template: str, current: str, values: dict[str, Any]) -> HTMLResponse:
    """``template`` rendered with the base layout's values: ``ui`` (the dashboard's path),
    ``static``, ``links`` (:class:`Links`, every page's address), ``nav``, ``current`` (the
    slug of the page shown), ``can(permission)``,
    ``user`` (the signed-in user's name, None without auth) and ``csrf`` (the session's CSRF
    value when signed in by the cookie, for forms to post back; else None)."""
    ui = ui_path(request)
    # the caller as the server's authorization saw it; none under `loopml ui` (no auth)
    principal: Any = getattr(request.state, "principal", None)

    def can(permission: Permission) -> bool:
        """Whether the caller may do what ``permission`` allows (to show a button or not:
        the route that acts checks it again)."""
        return principal is None or bool(principal.allows(permission))

    html = environment.get_template(template).render(
        ui=ui,
        static=f"{ui}/static",
        links=Links(ui),
        nav=NAV,
        current=current,
        version=__version__,
        can=can,
        user=principal.name if principal is not None and principal.authenticated else None,
        csrf=getattr(request.state, "csrf", None),
        **values,
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """The page of a refused or failed request: what went wrong, with its HTTP status (and,
    for 401 and 403, a way to sign in as someone else)."""
    ui = ui_path(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = environment.get_template("error.html").render(
        ui=ui, static=f"{ui}/static", message=message, status=status, here=here
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
