"""``loopml lineage``: where a model version, data version or run came from and what it
reached."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.core.errors import InvalidInputError

if TYPE_CHECKING:
    from loopml.governance.lineage_graph import LineageGraph

DATA = "data"
RUN = "run"


def lineage_command(
    target: Annotated[
        list[str],
        typer.Argument(
            help=(
                "NAME@VERSION (or NAME@ALIAS) of a model, 'data NAME@VERSION' of a dataset, "
                "or 'run RUN_ID' of a run."
            ),
            metavar="[data|run] REF",
        ),
    ],
    upstream: Annotated[bool, typer.Option("--upstream", help="Only what it came from.")] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="Only what it reached.")] = False,
    as_dot: Annotated[
        bool, typer.Option("--dot", help="Print Graphviz source (pipe to 'dot -Tsvg').")
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file instead.")
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Show the lineage of a model version (both ways), of a data version or of a run.

    Upstream of a model version: the run it was registered from, its pipeline and steps
    (which step's output fed which), the dataset versions they read, the code commit.
    Downstream: its aliases with their history (promotions, rollbacks), the deployments
    that served it, the batch-scoring runs that read it. For a data version, downstream is
    every run that read it and every model version, alias and deployment it reached. For a
    run: the datasets it read, its code commit, the runs whose outputs it read (a
    pipeline's steps); the pipeline it is a step of and the runs that read its outputs.

    Examples:

        loopml lineage churn@champion
        loopml lineage churn@3 --upstream --json
        loopml lineage data customers@4 --downstream
        loopml lineage run 3f1c2a9e...
        loopml lineage churn@3 --dot -o lineage.dot && dot -Tsvg lineage.dot > lineage.svg
    """
    from loopml.governance.lineage import data_lineage, model_lineage, run_lineage
    from loopml.governance.lineage_graph import to_dot

    if as_dot and as_json:
        raise InvalidInputError("Choose one of --dot and --json.")
    kind = target[0] if target[0] in (DATA, RUN) else None
    refs = target[1:] if kind is not None else target
    if len(refs) != 1:
        form = {DATA: "data NAME@VERSION", RUN: "run RUN_ID"}.get(kind or "", "NAME@VERSION")
        raise InvalidInputError(
            f"Give one reference: 'loopml lineage {form}'; got {' '.join(target)!r}."
        )
    both = not upstream and not downstream
    with open_client() as client:
        if kind == RUN:  # both ways always: the tree shows the way asked for
            graph = run_lineage(client, refs[0])
        else:
            query = data_lineage if kind == DATA else model_lineage
            graph = query(client, refs[0], upstream=upstream or both, downstream=downstream or both)
    if as_dot:
        _emit(to_dot(graph), out)
    elif as_json:
        if out is not None:
            import json

            _emit(json.dumps(graph.to_dict(), indent=2) + "\n", out)
        else:
            output.print_json(graph.to_dict())
    else:
        _print_tree(graph, upstream=upstream or both, downstream=downstream or both, out=out)


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        typer.echo(text, nl=False)
        return
    output.write_text_atomically(out, text)
    output.console(stderr=True).print(f"Wrote {out}", markup=False)


def _print_tree(graph: LineageGraph, *, upstream: bool, downstream: bool, out: Path | None) -> None:
    from rich.tree import Tree

    from loopml.governance.lineage_graph import describe_node

    root = Tree(f"[bold]{output.escape(describe_node(graph.node(graph.subject)))}[/]")
    for title, way, shown in (("upstream", False, upstream), ("downstream", True, downstream)):
        if not shown:
            continue
        branch = root.add(f"[dim]{title}[/]")
        stack = [branch]
        walked = graph.walk(downstream=way)
        for depth, relation, node in walked:
            del stack[depth:]
            label = f"[dim]{output.escape(relation)}[/] {output.escape(describe_node(node))}"
            stack.append(stack[-1].add(label))
        if not walked:
            branch.add("[dim]nothing recorded[/]")
    if out is None:
        output.console().print(root)
        return
    console = output.console()
    with console.capture() as captured:
        console.print(root)
    _emit(captured.get(), out)
