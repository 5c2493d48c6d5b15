"""``loopml models``: registered models, their versions and aliases, promotion and rollback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from loopml.cli import output
from loopml.cli.model_describe import describe_command
from loopml.cli.model_views import (
    cell_text,
    change_dict,
    model_dict,
    print_change,
    version_dict,
    version_lines,
    version_text,
)
from loopml.cli.resolve import open_client
from loopml.cli.trust import STEP_TRUST_CODE_OPTION
from loopml.core.ids import format_ms
from loopml.core.query_limits import MAX_RESULTS_LIMIT
from loopml.stores.metadata.pages import DEFAULT_MAX_RESULTS

if TYPE_CHECKING:
    from loopml.tracking.client import Client

app = typer.Typer(
    help=(
        "Registered models: versions (NAME@3), aliases (NAME@champion) with their history, "
        "promotion and rollback.\n\nRegister from Python: loopml.models.register(name, model, "
        "input_example=..., run=...)."
    ),
    no_args_is_help=True,
)
alias_app = typer.Typer(help="Set, unset and trace aliases (champion, challenger, …).",
                        no_args_is_help=True)  # fmt: skip
app.add_typer(alias_app, name="alias")

ReasonOption = Annotated[str, typer.Option("--reason", "-r", help="Why (kept in the history).")]
AliasOption = Annotated[str, typer.Option("--alias", "-a", help="The alias to move.")]


@app.command("register")
def register_command(
    name: Annotated[str, typer.Argument(help="The model to add a version to.")],
    run_id: Annotated[
        str, typer.Option("--run", help="The run to register from (an id or its first chars).")
    ],
    step: Annotated[
        str | None,
        typer.Option("--step", help="A step call of that pipeline run whose output is the model."),
    ] = None,
    input_example: Annotated[
        Path | None,
        typer.Option(
            "--input-example",
            help="A few rows the model takes (.csv, .parquet or .npy); gives the signature.",
        ),
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d", help="What it is.")] = "",
    onnx: Annotated[
        bool,
        typer.Option(
            "--onnx",
            help="Also store an ONNX conversion (scikit-learn models), kept only if it predicts "
            "the same on the input example.",
        ),
    ] = False,
    alias: Annotated[
        str | None, typer.Option("--alias", "-a", help="Point this alias at the new version.")
    ] = None,
    trust_code: Annotated[bool, STEP_TRUST_CODE_OPTION] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Register a pipeline's output as the next version of NAME.

    --run PIPELINE_RUN --step CALL takes that step's output (--run STEP_RUN alone, a step
    run's); the version is linked to the run and the dataset versions it read.

    Examples:

        loopml models register churn --run 3f2a9c1e --step train --input-example rows.csv
        loopml models register churn --run 3f2a9c1e --step train --alias challenger
    """
    from loopml.cli.resolve import resolve_run
    from loopml.models.registry import register
    from loopml.pipelines.runner import step_output

    example = _read_example(input_example) if input_example is not None else None
    with open_client() as client:
        run = resolve_run(client, run_id)
        model = step_output(run.id, step, client=client, trust_code=trust_code)
        version = register(name, model, input_example=example, run=run.id, onnx=onnx,
                           description=description, client=client)  # fmt: skip
        if alias is not None:
            _point_new_version(name, alias, version.version, client=client)
    if as_json:
        output.print_json(version_dict(version))
        return
    where = f" and {name}@{alias}" if alias else ""
    output.console().print(f"Registered {name}@{version.version}{where}.", markup=False)


def _point_new_version(name: str, alias: str, version: int, *, client: Client) -> None:
    """Move ``alias`` to the version just registered; if that is refused (an editor may
    register but not move aliases), say that the version IS registered and how to finish."""
    from loopml.core.errors import LoopMLError
    from loopml.models.registry import set_alias

    try:
        set_alias(name, alias, version, reason="registered", client=client)
    except LoopMLError as exc:
        exc.message = (
            f"Registered {name}@{version}, but did not point {name}@{alias} at it: "
            f"{exc.message} Someone allowed to move aliases (an approver) can finish with: "
            f"loopml models alias set {name} {alias} {version}"
        )
        exc.args = (exc.message,)
        raise


def _read_example(path: Path) -> Any:
    """An input example from a file: a numpy array from .npy, else a table (a pandas
    DataFrame when pandas is installed, which scikit-learn models take as is)."""
    from loopml.core.errors import InvalidInputError

    if path.suffix == ".npy":
        import numpy as np

        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InvalidInputError(
                f"{path}: not a numpy .npy file without objects ({exc})."
            ) from exc
    import pyarrow as pa

    from loopml.data.tables import read_batches

    table = pa.Table.from_batches(list(read_batches(path)))
    try:
        return table.to_pandas()
    except ImportError:
        return table


@app.command("list")
def list_command(
    max_results: Annotated[
        int | None,
        typer.Option(
            "--max-results",
            "-n",
            min=1,
            max=MAX_RESULTS_LIMIT,
            help="Models per page (by name); without it, every model.",
        ),
    ] = None,
    page_token: Annotated[
        str | None,
        typer.Option("--page-token", help="Continue a listing (the token a listing printed)."),
    ] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Every registered model: its newest version and its aliases.

    Models are registered from Python or with 'loopml models register'.

    Examples:

        loopml models list
        loopml models list --json
        loopml models list -n 50
    """
    next_token = None
    with open_client() as client:
        if max_results is None and page_token is None:
            models = client.metadata.list_registered_models()
        else:
            page = client.metadata.page_registered_models(
                max_results=max_results or DEFAULT_MAX_RESULTS, page_token=page_token
            )
            models, next_token = page.items, page.next_page_token
    hint = f"More models: add --page-token {next_token}" if next_token else None
    if as_json:
        output.print_json([model_dict(m) for m in models])
        if hint:
            sys.stderr.write(hint + "\n")
        return
    from rich.table import Table

    table = Table(header_style="bold")
    for header in ("model", "latest", "aliases", "updated"):
        table.add_column(header)
    for model in models:
        aliases = ", ".join(f"{a}→{v}" for a, v in sorted(model.aliases.items()))
        latest = str(model.latest_version or "")
        updated = output.format_time(model.updated_at)
        table.add_row(output.escape(model.name), latest, output.escape(aliases), updated)
    output.console().print(table)
    if hint:
        output.console().print(hint, markup=False, soft_wrap=True)


@app.command("versions")
def versions_command(
    name: Annotated[str, typer.Argument(help="The model.")], as_json: output.JsonFlag = False
) -> None:
    """Every version of a model, oldest first.

    Each with its aliases, flavor, run, the dataset versions it was trained on, and metrics.

    Examples:

        loopml models versions churn
        loopml models versions churn --json
    """
    with open_client() as client:
        versions = client.metadata.list_model_versions(name)
        aliases = client.metadata.get_registered_model(name).aliases
    if as_json:
        output.print_json([version_dict(v) for v in versions])
        return
    from rich.table import Table

    table = Table(title=f"Model {output.escape(name)}", header_style="bold")
    for header in ("version", "aliases", "flavor", "run", "data", "metrics"):
        table.add_column(header)
    for version in versions:
        here = ", ".join(a for a, v in sorted(aliases.items()) if v == version.version)
        metrics = ", ".join(f"{k}={output.format_number(v)}" for k, v in version.metrics.items())
        table.add_row(
            str(version.version),
            output.escape(here),
            version.flavor,
            output.short_id(version.run_id) if version.run_id else "",
            output.escape(", ".join(version.datasets)),
            output.escape(metrics),
        )
    output.console().print(table)


@app.command("show")
def show_command(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@3 or NAME@ALIAS.")],
    as_json: output.JsonFlag = False,
) -> None:
    """One version of a model.

    Its flavor, the digest of its stored files, run, dataset versions, metrics, signature,
    pinned requirements and its last gate.

    Examples:

        loopml models show churn@champion
        loopml models show models:/churn/3 --json
    """
    from loopml.models.registry import get

    with open_client() as client:
        version = get(ref, client=client)
        gates = client.metadata.list_gate_results(version.model, version.version)
    document = version_dict(version)
    last = gates[-1] if gates else None
    document["last_gate"] = (
        None
        if last is None
        else {
            "passed": last.passed,
            "dataset": last.dataset,
            "against": last.against,
            "evaluated_at": format_ms(last.evaluated_at),
        }
    )
    if as_json:
        output.print_json(document)
        return
    out = output.console()
    out.print(f"[bold]{output.escape(version.model)}@{version.version}[/] ({version.flavor})")
    for label, text in version_lines(version):
        out.print(f"  {label + ':':<14}{text}", markup=False)
    if last is None:
        out.print("  last gate: none (loopml gate)", markup=False)
    else:
        verdict = "passed" if last.passed else "failed"
        out.print(
            f"  last gate: {verdict} on {last.dataset} at {format_ms(last.evaluated_at)} "
            f"({len(gates)} in all: loopml models gates {version.model}@{version.version})",
            markup=False,
        )


@alias_app.command("set")
def alias_set_command(
    name: Annotated[str, typer.Argument(help="The model.")],
    alias: Annotated[str, typer.Argument(help="The alias, e.g. champion.")],
    version: Annotated[int, typer.Argument(help="The version it should name.")],
    reason: ReasonOption = "",
    as_json: output.JsonFlag = False,
) -> None:
    """Point NAME@ALIAS at VERSION.

    The move is kept in the alias's history with who, when and --reason.

    Examples:

        loopml models alias set churn challenger 5
        loopml models alias set churn production 4 --reason "signed off by risk"
    """
    from loopml.models.registry import set_alias

    with open_client() as client:
        change = set_alias(name, alias, version, reason=reason, client=client)
    print_change(change, as_json=as_json)


@alias_app.command("unset")
def alias_unset_command(
    name: Annotated[str, typer.Argument(help="The model.")],
    alias: Annotated[str, typer.Argument(help="The alias to remove.")],
    reason: ReasonOption = "",
    as_json: output.JsonFlag = False,
) -> None:
    """Remove NAME@ALIAS.

    The removal is kept in the alias's history; setting it again starts a fresh history for
    rollbacks.

    Examples:

        loopml models alias unset churn challenger --reason "experiment over"
    """
    from loopml.models.registry import set_alias

    with open_client() as client:
        change = set_alias(name, alias, None, reason=reason, client=client)
    print_change(change, as_json=as_json)


@alias_app.command("history")
def alias_history_command(
    name: Annotated[str, typer.Argument(help="The model.")],
    alias: Annotated[str | None, typer.Argument(help="One alias (default: all).")] = None,
    as_json: output.JsonFlag = False,
) -> None:
    """Every move of the model's aliases, oldest first.

    Each row says when, from which version to which, who and why.

    Examples:

        loopml models alias history churn
        loopml models alias history churn champion --json
    """
    with open_client() as client:
        history = client.metadata.list_alias_history(name, alias)
    if as_json:
        output.print_json([change_dict(c) for c in history])
        return
    from rich.table import Table

    table = Table(title=f"Aliases of {output.escape(name)}", header_style="bold")
    for header in ("when", "alias", "from", "to", "who", "why"):
        table.add_column(header)
    for change in history:
        table.add_row(
            output.format_time(change.at),
            output.escape(change.alias),
            version_text(change.from_version),
            version_text(change.to_version),
            output.escape(change.actor or ""),
            output.escape(change.reason),
        )
    output.console().print(table)


PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", "-p", help="The gate policy (default: gates.yaml beside .loopml/)."),
]


@app.command("promote")
def promote_command(
    ref: Annotated[str, typer.Argument(help="The version to promote: NAME@3 or NAME@ALIAS.")],
    alias: AliasOption = "champion",
    reason: ReasonOption = "",
    policy: PolicyOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote although the policy says no (needs --reason).")
    ] = False,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for an approval the policy needs.")
    ] = 0.0,
    as_json: output.JsonFlag = False,
) -> None:
    """Point the model's champion (or --alias) at the version REF names.

    When the gate policy (--policy, or the project's gates.yaml) says so, the version needs
    a passed gate under that policy (loopml gate) and/or an approval (loopml models approve);
    without them it exits 1 and nothing moves. --wait N waits up to N seconds for the
    approval. The move is kept in the alias's history: loopml models alias history NAME.

    Examples:

        loopml models promote churn@4
        loopml models promote churn@challenger --reason "beat v3 on churn@7 data"
        loopml models promote churn@5 --policy gates.yaml --wait 3600
        loopml models promote churn@5 --force --reason "hotfix; gate rerun tomorrow"
    """
    from loopml.models.promotion import promote

    with open_client() as client:
        change = promote(
            ref, alias=alias, reason=reason, policy=policy, force=force, wait=wait, client=client
        )
    print_change(change, as_json=as_json)


@app.command("approve")
def approve_command(
    ref: Annotated[str, typer.Argument(help="The version to approve: NAME@3 or NAME@ALIAS.")],
    comment: Annotated[str, typer.Option("--comment", "-m", help="What you checked.")] = "",
    as_json: output.JsonFlag = False,
) -> None:
    """Approve a version for promotion (recorded with who and when).

    A policy with promotion.require_approval needs one before 'loopml models promote'.

    Examples:

        loopml models approve churn@5 --comment "reviewed the slice report"
    """
    from loopml.models.promotion import approve

    with open_client() as client:
        approval = approve(ref, comment=comment, client=client)
    document = {
        "model": approval.model,
        "version": approval.version,
        "actor": approval.actor,
        "at": format_ms(approval.at),
        "comment": approval.comment,
    }
    if as_json:
        output.print_json(document)
        return
    output.console().print(
        f"{approval.model}@{approval.version} approved by {approval.actor or 'you'}.",
        markup=False,
    )


@app.command("gates")
def gates_command(
    ref: Annotated[str, typer.Argument(help="The version: NAME@3 or NAME@ALIAS.")],
    as_json: output.JsonFlag = False,
) -> None:
    """The gate results stored with a version, oldest first, the newest in full.

    Examples:

        loopml models gates churn@champion
        loopml models gates churn@7 --json
    """
    from loopml.cli.gate import gate_result_dict, print_gate_result
    from loopml.models.registry import get

    with open_client() as client:
        version = get(ref, client=client)
        results = client.metadata.list_gate_results(version.model, version.version)
    if as_json:
        output.print_json([gate_result_dict(result) for result in results])
        return
    out = output.console()
    if not results:
        out.print(f"{version.model}@{version.version} has not been gated.", markup=False)
        return
    for result in results[:-1]:
        verdict = "passed" if result.passed else "failed"
        out.print(
            f"{format_ms(result.evaluated_at)}  {verdict}  {result.dataset}  "
            f"{result.policy_digest[:19]}",
            markup=False,
        )
    print_gate_result(results[-1])


@app.command("rollback")
def rollback_command(
    name: Annotated[str, typer.Argument(help="The model.")],
    alias: AliasOption = "champion",
    reason: ReasonOption = "",
    as_json: output.JsonFlag = False,
) -> None:
    """Move the champion (or --alias) back to the version it named before.

    Rolling back again goes further back (a rollback is not itself undone by the next one);
    with no earlier version it exits 2 and changes nothing.

    Examples:

        loopml models rollback churn
        loopml models rollback churn --alias production --reason "p95 latency doubled"
    """
    from loopml.models.registry import rollback

    with open_client() as client:
        change = rollback(name, alias=alias, reason=reason, client=client)
    print_change(change, as_json=as_json)


@app.command("diff")
def diff_command(
    a: Annotated[str, typer.Argument(help="A version: NAME@3 or NAME@ALIAS.")],
    b: Annotated[str, typer.Argument(help="Another version.")],
    as_json: output.JsonFlag = False,
) -> None:
    """Two versions side by side.

    Metrics (with b − a), their runs' params, the dataset versions they were trained on,
    signature changes, flavor and requirements.

    Examples:

        loopml models diff churn@champion churn@challenger
        loopml models diff churn@3 churn@4 --json
    """
    from rich.table import Table

    from loopml.models.compare import diff

    with open_client() as client:
        document = diff(a, b, client=client)
    if as_json:
        output.print_json(document)
        return
    out = output.console()
    table = Table(title=f"{document['a']} vs {document['b']}", header_style="bold")
    for header in ("", document["a"], document["b"], "b − a"):
        table.add_column(output.escape(header), justify="left" if not header else "right")
    for kind in ("metrics", "params"):
        for key, row in document[kind].items():
            values = [cell_text(row["a"]), cell_text(row["b"])]
            delta = row.get("delta")
            changed = row["a"] != row["b"]
            label = f"{kind[:-1]} {key}"
            table.add_row(
                f"[bold]{output.escape(label)}[/]" if changed else output.escape(label),
                *map(output.escape, values),
                "" if delta is None else f"{delta:+.4g}",
            )
    out.print(table)
    for kind in ("datasets", "requirements"):
        for sign, key in (("+", "added"), ("-", "removed")):
            for item in document[kind][key]:
                out.print(f"{kind}: {sign} {item}", markup=False)
    for change in document["signature"]["changes"]:
        out.print(f"signature: {change}", markup=False)
    if document["flavor"]["a"] != document["flavor"]["b"]:
        out.print(f"flavor: {document['flavor']['a']} → {document['flavor']['b']}", markup=False)


# 'describe' lives in its own module (this one is long); registered last, as it always was
app.command("describe")(describe_command)
