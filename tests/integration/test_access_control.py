"""Auth on the platform server: every route of its OpenAPI document, called by every role
(and with no token, a malformed, unknown, expired or revoked one), answers 401, 403 or goes
through exactly as the role → permission table says; a route without a guard fails here.

One real server (``python -m loopml.server`` with ``LOOPML_AUTH=1``) over a SQLite store whose
users and tokens were made embedded first, as an admin bootstraps them. The token cache is
off (``LOOPML_AUTH_CACHE_SECONDS=0``) so a revocation shows on the next request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from loopml.core.errors import PermissionDeniedError, UnauthenticatedError
from loopml.core.roles import PERMISSIONS, ROLE_PERMISSIONS, Role
from loopml.server import create_app
from loopml.server.auth import ANONYMOUS, anyone, authorize
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.identity.sql import SqlIdentityStore
from loopml.stores.registry import open_metadata_store
from loopml.stores.remote.identity import HttpIdentityStore
from loopml.stores.remote.metadata import HttpMetadataStore
from loopml.tracking import Client
from tests.e2e.runner import cli
from tests.fixtures.server import PlatformServer, start_platform_server, wait_until_ready

PUBLIC = "public"  # the guard of the routes open to anyone (liveness)
UNKNOWN_TOKEN = f"lml_{'0' * 16}_{'A' * 43}"


@dataclass
class AuthServer:
    server: PlatformServer
    tokens: dict[str, str]  # caller -> token: one per role, "outsider" (a role elsewhere) …


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    folder = tmp_path_factory.mktemp("auth-server")
    identity = SqlIdentityStore(f"sqlite:///{folder / 'loopml.db'}")
    tokens: dict[str, str] = {}
    try:
        for role in Role:
            identity.add_user(f"{role.value}-user")
            identity.grant_role(f"{role.value}-user", "default", role)
            tokens[role.value] = identity.create_token(f"{role.value}-user").secret
        identity.add_user("outsider")
        identity.grant_role("outsider", "other-project", Role.ADMIN)
        tokens["outsider"] = identity.create_token("outsider").secret
        tokens["expired"] = identity.create_token("admin-user", expires_in_ms=1).secret
        revoked = identity.create_token("admin-user")
        identity.revoke_token(revoked.info.id)
        tokens["revoked"] = revoked.secret
    finally:
        identity.close()
    env = {"LOOPML_AUTH": "1", "LOOPML_AUTH_CACHE_SECONDS": "0"}
    server = start_platform_server(folder, env=env)
    try:
        assert wait_until_ready(server), server.log()
        yield AuthServer(server, tokens)
    finally:
        server.stop()


@pytest.fixture
def offline_app(tmp_path: Path) -> Iterator[FastAPI]:
    metadata = open_metadata_store(f"sqlite:///{tmp_path / 'loopml.db'}")
    yield create_app(metadata, LocalArtifactStore(str(tmp_path / "artifacts")))
    metadata.close()


def _guards(dependant: Dependant) -> set[str]:
    found: set[str] = set()
    for sub in dependant.dependencies:
        if sub.call is anyone:
            found.add(PUBLIC)
        permission = getattr(sub.call, "permission", None)
        if permission is not None:
            found.add(permission)
        found |= _guards(sub)
    return found


def route_guards(app: FastAPI) -> dict[tuple[str, str], set[str]]:
    """(method, path as in the OpenAPI document) → the guards its dependencies declare."""
    guards: dict[tuple[str, str], set[str]] = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", str(context.path))
        for method in context.methods or ():
            guards[(method, path)] = _guards(context.dependant)
    return guards


def unguarded(app: FastAPI) -> list[tuple[str, str]]:
    """Routes that do not declare exactly one guard: ``require(permission)`` or ``anyone``."""
    return sorted(key for key, found in route_guards(app).items() if len(found) != 1)


def test_every_route_declares_exactly_one_guard(offline_app: FastAPI) -> None:
    guards = route_guards(offline_app)
    assert len(guards) > 70 and unguarded(offline_app) == []
    assert {guard for found in guards.values() for guard in found} <= {*PERMISSIONS, PUBLIC}
    assert {key for key, found in guards.items() if found == {PUBLIC}} == {
        ("GET", "/api/v1/health")
    }


def test_a_route_added_without_a_permission_is_caught(offline_app: FastAPI) -> None:
    naked = APIRouter()

    @naked.get("/naked")
    def naked_route() -> dict[str, str]:  # pragma: no cover - never called
        return {}

    offline_app.include_router(naked, prefix="/api/v1", dependencies=[Depends(authorize)])
    assert unguarded(offline_app) == [("GET", "/api/v1/naked")]


def _request(http: httpx.Client, method: str, path: str, token: str | None) -> httpx.Response:
    url = re.sub(r"\{\w+\}", "x", path)
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return http.request(method, url, headers=headers, **body)  # type: ignore[arg-type]


def test_every_route_answers_each_caller_as_the_role_table_says(
    auth_server: AuthServer, offline_app: FastAPI
) -> None:
    guards = route_guards(offline_app)
    tokens = auth_server.tokens
    callers: dict[str, str | None] = {
        "no token": None,
        "malformed": "garbage",
        "unknown": UNKNOWN_TOKEN,
        "expired": tokens["expired"],
        "revoked": tokens["revoked"],
        "outsider": tokens["outsider"],
        **{role.value: tokens[role.value] for role in Role},
    }
    wrong: list[str] = []
    with httpx.Client(base_url=auth_server.server.url, timeout=30.0) as http:
        spec = http.get("/openapi.json").json()
        operations = [(m.upper(), p) for p, item in spec["paths"].items() for m in item]
        assert len(operations) == len(guards) and set(operations) == set(guards)
        for method, path in operations:
            [guard] = guards[(method, path)]
            for caller, token in callers.items():
                status = _request(http, method, path, token).status_code
                if caller in ("malformed", "unknown", "expired", "revoked"):
                    expected = "401"
                elif guard == PUBLIC:
                    expected = "allowed"
                elif caller == "no token":
                    expected = "401"
                elif caller == "outsider":
                    expected = "403"
                else:
                    granted = guard in ROLE_PERMISSIONS[Role(caller)]
                    expected = "allowed" if granted else "403"
                got = "allowed" if status not in (401, 403) else str(status)
                if got != expected:
                    wrong.append(f"{method} {path} as {caller}: {status}, expected {expected}")
    assert wrong == []


def test_refusals_name_what_is_missing_and_revocation_takes_effect(
    auth_server: AuthServer,
) -> None:
    url, tokens = auth_server.server.url, auth_server.tokens
    viewer = HttpMetadataStore(url, token=tokens["viewer"])
    try:
        with pytest.raises(PermissionDeniedError, match=r"viewer-user lacks .*'experiments:write'"):
            viewer.create_experiment("not-allowed")
    finally:
        viewer.close()
    with pytest.raises(UnauthenticatedError, match="needs an API token"):
        HttpMetadataStore(url).list_experiments()
    refused = httpx.get(f"{url}/api/v1/experiments", headers={"Authorization": "Basic eDp5"})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    # an editor logs a run through the client, as workers do with LOOPML_TOKEN
    with Client(server_url=url, token=tokens["editor"]) as client:
        run = client.create_run("authorized")
        client.log_metric(run.id, "m", 1.0)
        client.set_terminated(run.id)
    admin = HttpIdentityStore(url, token=tokens["admin"])
    try:
        admin.add_user("short-lived")
        admin.grant_role("short-lived", "default", Role.EDITOR)
        issued = admin.create_token("short-lived")
        user = HttpMetadataStore(url, token=issued.secret)
        assert user.get_run(run.id).id == run.id
        admin.revoke_token(issued.info.id)
        with pytest.raises(UnauthenticatedError, match="revoked"):
            user.get_run(run.id)
        user.close()
        actors = {
            (e.action, e.actor)
            for e in HttpMetadataStore(url, token=tokens["admin"])
            .list_events(max_results=1000)
            .items
        }
        assert {("user.add", "admin-user"), ("token.revoke", "admin-user")} <= actors
        assert ("run.create", "editor-user") in actors
    finally:
        admin.close()
    assert all(token not in auth_server.server.log() for token in tokens.values())
    assert issued.secret.encode() not in (auth_server.server.folder / "loopml.db").read_bytes()


def test_the_cli_manages_users_and_tokens_remotely_as_an_admin_only(
    auth_server: AuthServer, tmp_path: Path
) -> None:
    env = {"LOOPML_SERVER_URL": auth_server.server.url, "LOOPML_TOKEN": auth_server.tokens["admin"]}
    added = cli("users", "add", "carol", "--role", "approver", cwd=tmp_path, env=env)
    assert added.returncode == 0, added.stderr
    made = cli("tokens", "create", "carol", "--expires", "30d", cwd=tmp_path, env=env)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("lml_") and "shown this once" in made.stderr
    admin = HttpIdentityStore(auth_server.server.url, token=auth_server.tokens["admin"])
    try:
        [listed] = admin.list_tokens("carol")
        assert listed.expires_at is not None and secret not in repr(listed)
        assert admin.list_roles("carol")[0].role == Role.APPROVER
    finally:
        admin.close()
    as_carol = {**env, "LOOPML_TOKEN": secret}
    refused = cli("users", "list", cwd=tmp_path, env=as_carol)
    assert refused.returncode == 2 and "carol lacks the permission 'users:admin'" in refused.stderr


def test_auth_off_keeps_every_caller_anonymous_with_every_permission() -> None:
    assert ANONYMOUS.authenticated is False
    assert all(ANONYMOUS.allows(permission) for permission in PERMISSIONS)
