"""The models page as the platform server answers it (the app in process, auth on, over a real
SQLite store holding two trained, gated versions of a scikit-learn model): what each role is
shown, the refusals (an unknown model, a viewer's POST, a move the promotion policy does not
allow yet, bad forms) and the moves an approver makes through it, recorded as the API records
them; and the same buttons under ``loopml ui`` (the library's promote, no server)."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from loopml.core.roles import Role
from loopml.dashboard.local_app import local_app
from loopml.dashboard.local_registry import LocalRegistryActions
from loopml.dashboard.pages.models import HISTORY_PER_PAGE, MAX_VERSIONS_PER_PAGE
from loopml.dashboard.sources import DashboardSources
from loopml.models.registry import set_alias
from loopml.server import create_app
from loopml.server.auth import TokenAuthenticator
from loopml.server.promotion_policy import ServerPolicy
from loopml.stores.artifacts.local import LocalArtifactStore
from loopml.stores.identity.sql import SqlIdentityStore
from loopml.stores.registry import open_loop_store, open_metadata_store
from loopml.tracking.client import Client
from tests.browser.models_data import MODEL, build_registry

FORM = {"content-type": "application/x-www-form-urlencoded"}


@dataclass
class Served:
    app: FastAPI
    tokens: dict[str, str]  # role -> token
    uri: str
    artifacts: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("models-page")
    uri, artifacts = f"sqlite:///{folder / 'loopml.db'}", str(folder / "artifacts")
    with Client(uri, artifacts) as client:
        data = build_registry(client, folder / "work")
        set_alias(MODEL, "champion", data.versions[0], reason="the first model", client=client)
    identity = SqlIdentityStore(uri)
    tokens = {}
    for role in (Role.VIEWER, Role.APPROVER):
        identity.add_user(f"{role.value}-user")
        identity.grant_role(f"{role.value}-user", "default", role)
        tokens[role.value] = identity.create_token(f"{role.value}-user").secret
    metadata, loop = open_metadata_store(uri), open_loop_store(uri)
    app = create_app(
        metadata,
        LocalArtifactStore(artifacts),
        loop_store=loop,
        identity_store=identity,
        authenticator=TokenAuthenticator(identity, cache_seconds=0),
        policy=ServerPolicy(data.policy),
    )
    try:
        yield Served(app, tokens, uri, artifacts)
    finally:
        loop.close()
        identity.close()
        metadata.close()


def _call(
    app: FastAPI, token: str | None, *requests: tuple[str, str, str | None]
) -> list[httpx.Response]:
    """(method, path, form body or None) each, in order, as ``token``'s caller."""
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}

    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers
        ) as client:
            answers = []
            for method, path, body in requests:
                extra = FORM if body is not None else {}
                answers.append(await client.request(method, path, content=body, headers=extra))
            return answers

    return asyncio.run(fetch())


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_the_model_page_shows_versions_gates_side_by_side_card_and_lineage(
    served: Served,
) -> None:
    listing, model, card = _call(
        served.app,
        served.tokens["viewer"],
        ("GET", "/ui/models", None),
        ("GET", f"/ui/models/{MODEL}", None),
        ("GET", f"/ui/models/{MODEL}/versions/1/card.md", None),
    )
    assert card.status_code == 200 and card.text.startswith(f"# Model card: {MODEL}@1")
    assert card.headers["content-disposition"].startswith("attachment;")
    assert listing.status_code == 200 and f'href="/ui/models/{MODEL}"' in listing.text
    assert "@champion → 1" in listing.text
    assert model.status_code == 200, model.text
    text = _text(model.text)
    assert "Newest first (the newest is version 2)" in text
    # the gates of both versions side by side: the tree's failing accuracy, the regression's pass
    assert "Version 2" in text and "Version 1" in text
    assert "FAIL 0.66 (limit ≥ 0.8)" in text and "failed" in text and "passed" in text
    # the card of the champion (version 1) and its lineage: data → pipeline → step → version
    assert f"Model card of {MODEL}@1" in text and "a one-split decision tree" in text
    assert '<svg role="img"' in model.text
    for kind in ("dataset", "pipeline", "step", "model", "alias"):
        assert f"kind-{kind}" in model.text, kind
    assert "iris-train@1" in text
    # a viewer gets no button
    assert "Promote…" not in text and "Approve…" not in text
    assert not re.search(r'href="[^"]*/(promote|approve|rollback)\?', model.text)


def test_an_unknown_model_or_a_bad_bound_is_a_page_saying_so(served: Served) -> None:
    unknown, too_many, card = _call(
        served.app,
        served.tokens["viewer"],
        ("GET", "/ui/models/no-such-model", None),
        ("GET", f"/ui/models/{MODEL}?per_page={MAX_VERSIONS_PER_PAGE + 1}", None),
        ("GET", f"/ui/models/{MODEL}/versions/9/card.md", None),
    )
    assert unknown.status_code == 404 and "no-such-model" in unknown.text
    assert unknown.headers["content-type"].startswith("text/html")
    assert too_many.status_code == 400 and "per_page" in too_many.text
    assert card.status_code == 404


def test_a_viewer_may_not_act_even_with_a_forged_form(served: Served) -> None:
    answers = _call(
        served.app,
        served.tokens["viewer"],
        ("POST", f"/ui/models/{MODEL}/promote", "version=2&alias=champion"),
        ("POST", f"/ui/models/{MODEL}/approve", "version=2"),
        ("POST", f"/ui/models/{MODEL}/rollback", "alias=champion&to_version=1"),
        ("GET", f"/ui/models/{MODEL}/promote?version=2", None),
    )
    assert [answer.status_code for answer in answers] == [403, 403, 403, 403]
    assert "models:promote" in answers[0].text and "models:approve" in answers[1].text


def test_an_approver_is_held_to_the_servers_promotion_policy(served: Served) -> None:
    approver = served.tokens["approver"]
    page, confirm, blocked = _call(
        served.app,
        approver,
        ("GET", f"/ui/models/{MODEL}", None),
        ("GET", f"/ui/models/{MODEL}/promote?version=2&alias=champion", None),
        ("POST", f"/ui/models/{MODEL}/promote", "version=2&alias=champion&csrf="),
    )
    assert "Promote…" in page.text and "Approve…" in page.text
    assert confirm.status_code == 200 and 'action="/ui/models/iris-species/promote"' in confirm.text
    # no approval yet: 409, naming what is missing, and nothing moved
    assert blocked.status_code == 409, blocked.text
    refusal = _text(blocked.text)
    assert "needs an approval" in refusal and "server's promotion policy" in refusal
    assert f'href="/ui/models/{MODEL}/promote?version=2&amp;alias=champion"' in blocked.text
    approved, promoted, after = _call(
        served.app,
        approver,
        ("POST", f"/ui/models/{MODEL}/approve", "version=2&comment=checked+the+gates"),
        ("POST", f"/ui/models/{MODEL}/promote", "version=2&alias=champion&reason=beats+v1"),
        ("GET", f"/ui/models/{MODEL}", None),
    )
    assert approved.status_code == 303 and promoted.status_code == 303, promoted.text
    assert promoted.headers["location"].startswith(f"/ui/models/{MODEL}?version=2")
    assert "approver-user" in after.text and "beats v1" in after.text
    assert "Roll back to version 1" in after.text
    # a rollback confirmed for another target than the alias's is refused; the right one moves
    stale, rolled, history = _call(
        served.app,
        approver,
        ("POST", f"/ui/models/{MODEL}/rollback", "alias=champion&to_version=2"),
        ("POST", f"/ui/models/{MODEL}/rollback", "alias=champion&to_version=1"),
        ("GET", f"/ui/models/{MODEL}", None),
    )
    assert stale.status_code == 400 and "moved since" in stale.text
    assert rolled.status_code == 303, rolled.text
    rows = re.findall(r"<tr>\s*<td>[^<]*</td>\s*<th scope=\"row\">@champion</th>(.*?)</tr>",
                      history.text, re.S)  # fmt: skip
    moves = [re.findall(r"<td>([^<]*)</td>", row)[:3] for row in rows]
    assert moves[:2] == [
        ["2", "1", "approver-user"],
        ["1", "2", "approver-user"],
    ], moves
    # recorded in the audit log as the API records them: the signed-in user, this request
    store = open_metadata_store(served.uri)
    try:
        events = [e for e in store.list_events(max_results=10_000) if e.target == f"model:{MODEL}"]
    finally:
        store.close()
    assert [(e.action, e.actor) for e in events[-3:]] == [
        ("model.approve", "approver-user"),
        ("model.set_alias", "approver-user"),
        ("model.set_alias", "approver-user"),
    ]
    assert all(e.request_id for e in events[-3:])


def test_a_form_that_is_not_a_form_or_names_no_version_is_refused(served: Served) -> None:
    as_json, no_version, bad_alias = _call(
        served.app,
        served.tokens["approver"],
        ("POST", f"/ui/models/{MODEL}/approve", None),
        ("POST", f"/ui/models/{MODEL}/approve", "version=two"),
        ("POST", f"/ui/models/{MODEL}/promote", "version=2&alias=latest"),
    )
    assert as_json.status_code == 400 and "application/x-www-form-urlencoded" in as_json.text
    assert no_version.status_code == 400 and "'version'" in _text(no_version.text)
    assert bad_alias.status_code == 400 and "Invalid alias" in bad_alias.text


def test_loopml_ui_promotes_with_the_librarys_promote_under_the_projects_policy(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no project here: no gates.yaml, as promote finds none
    with Client(served.uri, served.artifacts) as client:
        registry = LocalRegistryActions(client)
        sources = DashboardSources(
            client.metadata, client.artifacts, client.loop, registry=registry
        )
        app = local_app(sources)
        page, moved, refused = _call(
            app,
            None,
            ("GET", f"/ui/models/{MODEL}", None),
            ("POST", f"/ui/models/{MODEL}/promote", "version=2&alias=staging"),
            ("POST", f"/ui/models/{MODEL}/promote", "version=2&alias=champion&force=on"),
        )
        assert "Promote…" in page.text and "Approve…" in page.text  # no auth: every button
        assert moved.status_code == 303
        assert client.metadata.get_model_alias(MODEL, "staging") == 2
        # a forced move needs a reason, here as through the server
        assert refused.status_code == 400 and "reason" in refused.text


def test_the_alias_history_is_shown_a_page_at_a_time(served: Served) -> None:
    with Client(served.uri, served.artifacts) as client:
        for number in range(HISTORY_PER_PAGE + 5):
            set_alias(MODEL, "canary", 1 + number % 2, reason=f"move {number}", client=client)
        total = len(client.metadata.list_alias_history(MODEL))
    viewer = served.tokens["viewer"]
    (first,) = _call(served.app, viewer, ("GET", f"/ui/models/{MODEL}", None))
    assert "Moves, newest first" in _text(first.text)
    shown = _history_table(first.text)
    assert shown.count('<th scope="row">@canary</th>') == HISTORY_PER_PAGE
    assert "Older moves" in first.text and "Newest moves" not in first.text
    assert f"move {HISTORY_PER_PAGE + 4}" in shown and "move 0<" not in shown
    # the next page is the store's: its link carries the store's page token
    older = re.search(r'href="([^"]*history_token=[^"]*)#aliases" rel="next"', first.text)
    assert older is not None
    (second,) = _call(served.app, viewer, ("GET", html.unescape(older.group(1)), None))
    rest = _history_table(second.text)
    assert rest.count("<tr>") == total - HISTORY_PER_PAGE + 1  # + the header row
    assert "Newest moves" in second.text and "move 0<" in rest
    (forged,) = _call(served.app, viewer, ("GET", f"/ui/models/{MODEL}?history_token=forged", None))
    assert forged.status_code == 400 and "page_token" in forged.text


def _history_table(page: str) -> str:
    found = re.search(r'<table class="runs history".*?</table>', page, re.S)
    assert found is not None
    return found.group(0)
