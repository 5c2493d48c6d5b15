"""The pure parts of lineage and model cards: the graph's walks and DOT source, which
deployments served a version (from its alias history), owner and intended use inherited by
later versions, and the renderers' escaping (HTML names nothing fetchable)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loopml.core.entities import AliasChange, ModelVersion
from loopml.core.errors import InvalidInputError
from loopml.core.loop_records import Deployment, DeploymentState
from loopml.governance.card_render import card_html, card_markdown
from loopml.governance.lineage import _alias_spans, _served_by
from loopml.governance.lineage_graph import LineageGraph, describe_node, to_dot
from loopml.governance.model_card import ModelCard
from loopml.governance.model_description import (
    INTENDED_USE_TAG,
    OWNER_TAG,
    describe,
    description_of,
)


def _graph() -> LineageGraph:
    graph = LineageGraph("model:m@2")
    graph.add("model:m@2", "model", "m@2", {"flavor": "sklearn"})
    graph.add("run:p", "pipeline", "training (p)", {"status": "FINISHED"})
    graph.add("run:a", "step", "load (a)", {"status": "FINISHED", "cached": "true"})
    graph.add("run:b", "step", "fit (b)", {"status": "FINISHED"})
    graph.add("dataset:d@1", "dataset", "d@1")
    graph.add("deployment:x", "deployment", 'http://127.0.0.1:9 "main"', {"state": "live"})
    graph.link("run:p", "model:m@2", "registered")
    graph.link("run:b", "run:p", "step of")
    graph.link("run:a", "run:p", "step of")
    graph.link("run:a", "run:b", "output as table")
    graph.link("dataset:d@1", "run:a", "read by")
    graph.link("model:m@2", "deployment:x", "served by")
    graph.link("model:m@2", "deployment:x", "served by")  # a repeat is one edge
    return graph


def test_walks_reach_each_node_once_depth_first_through_outputs() -> None:
    graph = _graph()
    walked = [(depth, relation, node.id) for depth, relation, node in graph.walk(downstream=False)]
    assert walked == [
        (1, "registered", "run:p"),
        (2, "step of", "run:b"),
        (3, "output as table", "run:a"),
        (4, "read by", "dataset:d@1"),
    ]
    assert [node.id for node in graph.reachable("dataset:d@1", downstream=True)] == [
        "run:a", "run:p", "run:b", "model:m@2", "deployment:x",
    ]  # fmt: skip
    assert len(graph.edges) == 6
    assert describe_node(graph.node("run:a")) == "step load (a) · FINISHED · cached"


def test_dot_source_quotes_ids_and_labels() -> None:
    dot = to_dot(_graph())
    assert '"deployment:x" [label="deployment: http://127.0.0.1:9 \\"main\\"\\nlive"' in dot
    assert '"model:m@2" [label="model: m@2\\nsklearn", shape=box3d, style="rounded,bold"];' in dot
    assert '"run:a" -> "run:b" [label="output as table"];' in dot
    with pytest.raises(ValueError, match="unknown lineage node kind"):
        LineageGraph("x").add("x", "robot", "x")


def _move(alias: str, before: int | None, after: int | None, at: int) -> AliasChange:
    return AliasChange("m", alias, before, after, at)


def _deployment(
    *, alias: str | None, version: int | None, started: int, ended: int | None = None,
    state: DeploymentState = DeploymentState.LIVE, expires: int = 10**15,
) -> Deployment:  # fmt: skip
    return Deployment(id="d", model="m", address="http://127.0.0.1:9", heartbeat_ms=1000,
                      alias=alias, version=version, run_id=None, started_at=started,
                      heartbeat_at=started, expires_at=expires, ended_at=ended,
                      end_reason=None, state=state)  # fmt: skip


def test_a_deployment_served_a_version_while_its_alias_pointed_there() -> None:
    history = [_move("champion", None, 1, 100), _move("champion", 1, 2, 200),
               _move("champion", 2, 1, 300)]  # fmt: skip
    spans = _alias_spans(history, 1)
    assert spans == {"champion": [(100, 200), (300, None)]}
    assert _served_by(_deployment(alias=None, version=1, started=50), 1, spans) == "serving it now"
    ended = _deployment(alias="champion", version=2, started=150, ended=250,
                        state=DeploymentState.ENDED)  # fmt: skip
    assert _served_by(ended, 1, spans) == "served it through @champion"  # from 150 to 200
    late = _deployment(alias="champion", version=2, started=210, ended=290,
                       state=DeploymentState.ENDED)  # fmt: skip
    assert _served_by(late, 1, spans) is None  # version 2 all along
    gone = _deployment(alias="champion", version=2, started=210, expires=350,
                       state=DeploymentState.GONE)  # fmt: skip
    assert _served_by(gone, 1, spans) == "served it through @champion"  # until it lapsed
    assert _served_by(_deployment(alias="canary", version=3, started=0), 1, spans) is None


def _version(number: int, **tags: str) -> ModelVersion:
    return ModelVersion(model="m", version=number, flavor="sklearn",
                        tree_digest="blake3:" + "0" * 64, created_at=0, tags=tags)  # fmt: skip


def test_owner_and_intended_use_come_from_the_version_or_the_newest_earlier_one() -> None:
    versions = [
        _version(1, **{OWNER_TAG: "ana", INTENDED_USE_TAG: "ranking"}),
        _version(2, **{OWNER_TAG: "bo"}),
        _version(3),
        _version(4, **{INTENDED_USE_TAG: "later, not seen by 3"}),
    ]
    third = description_of(versions[2], versions)
    assert (third.owner, third.owner_from) == ("bo", 2)
    assert (third.intended_use, third.intended_use_from) == ("ranking", 1)
    first = description_of(versions[0], versions)
    assert (first.owner, first.owner_from) == ("ana", 1)
    assert description_of(_version(1), [_version(1)]).owner is None


def test_describing_needs_a_non_empty_value() -> None:
    with pytest.raises(InvalidInputError, match="Nothing to set"):
        describe("m")
    with pytest.raises(InvalidInputError, match="The owner must not be empty"):
        describe("m", owner="  ")


def test_renderers_escape_what_people_typed_and_html_names_no_scheme() -> None:
    version = _version(2, **{OWNER_TAG: "<b>ana</b> | https://example.com/team"})
    version = ModelVersion(**{**{f: getattr(version, f) for f in version.__dataclass_fields__},
                              "description": "line one\nline <two>"})  # fmt: skip
    card = ModelCard(version=version, description=description_of(version, [version]), aliases=[],
                     training_data=[], params=[("run", "path", "s3://bucket/x|y")], gates=[],
                     approvals=[], alias_history=[], lineage=_graph(), explanation=None,
                     generated_at=0)  # fmt: skip
    html = card_html(card)
    assert not re.search(r"[A-Za-z]+://", html)
    assert "&lt;b&gt;ana&lt;/b&gt; | example.com/team" in html and "<b>ana" not in html
    assert "deployment 127.0.0.1:9 &quot;main&quot;" in html
    markdown = card_markdown(card)
    assert "| run | path | s3://bucket/x\\|y |" in markdown
    assert "- **Description**: line one line \\<two\\>" in markdown
    assert "No gate result yet: loopml gate m@2" in markdown


def test_lineage_and_card_commands_refuse_bad_usage_before_opening_a_store(
    tmp_path: Path,
) -> None:
    from loopml.cli.card import card_command
    from loopml.cli.lineage import lineage_command
    from loopml.cli.model_describe import describe_command

    with pytest.raises(InvalidInputError, match="Give one reference: 'loopml lineage data NAME@"):
        lineage_command(["data"])
    with pytest.raises(InvalidInputError, match="Give one reference"):
        lineage_command(["m@1", "m@2"])
    with pytest.raises(InvalidInputError, match="Choose one of --dot and --json"):
        lineage_command(["m@1"], as_dot=True, as_json=True)
    with pytest.raises(InvalidInputError, match="Choose one of --html and --md"):
        card_command("m@1", as_html=True, as_md=True)
    with pytest.raises(InvalidInputError, match="does not exist"):
        card_command("m@1", out=tmp_path / "missing" / "card.html")
    with pytest.raises(InvalidInputError, match="not through an alias"):
        describe_command("m@champion", owner="ana")


def test_an_explanation_per_class_counts_every_class_and_a_bad_one_is_named() -> None:
    from loopml.governance.model_card import _magnitude

    assert _magnitude([0.25, -0.5]) == 0.75 and _magnitude(-2) == 2.0
    with pytest.raises(TypeError, match="a number or a list of numbers"):
        _magnitude({"a": 1})
