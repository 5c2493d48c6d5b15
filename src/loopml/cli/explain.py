"""``loopml explain``: SHAP contributions of each feature to a registered model's output, for
the rows of a file."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.cli.table_source import read_table
from loopml.cli.trust import TRUST_CODE_OPTION

MAX_SHOWN_ROWS = 20


def explain_command(
    ref: Annotated[
        str, typer.Argument(help="The version: NAME@ALIAS, NAME@3, NAME or models:/NAME@ALIAS.")
    ],
    input: Annotated[
        str,
        typer.Option(
            "--input", "-i", help="The rows: a CSV, Parquet or JSON lines file, or NAME@3."
        ),
    ],
    top: Annotated[
        int, typer.Option("--top", min=1, help="Features shown per row, largest first.")
    ] = 5,
    trust_code: Annotated[bool, TRUST_CODE_OPTION] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Explain a model's output for each row of a file: how much each feature moved it away
    from the expected value (SHAP values; they add up to output − expected value).

    Tree models (forests, boosting, XGBoost, LightGBM) and linear models get shap's exact
    explainers; anything else (a pipeline with its preprocessing) is sampled in the columns
    you send, compared with the background rows stored at registration. A binary classifier
    is explained for its second class; a multiclass one per class (--json).

    Examples:

        loopml explain churn@champion --input new_customers.csv
        loopml explain churn@3 --input holdout@latest --json > explanations.json
    """
    from loopml.models.explanations import contributions_json, explain_rows, version_explainer
    from loopml.models.registry import open_version, resolve

    with open_client() as client:
        version = resolve(ref, client)
        label = f"{version.model}@{version.version}"
        opened = open_version(version, client, trust_code=trust_code)
        table = read_table(input, client)
        explainer = version_explainer(
            opened.model,
            version.signature,
            opened.background,
            opened.input_example,
            label=label,
        )
        found = explain_rows(explainer, version.signature, table, source=input)
    document = {"model_version": label, **contributions_json(found)}
    if as_json:
        output.print_json(document)
        return
    _print(document, top)


def _print(document: dict[str, Any], top: int) -> None:
    from rich.table import Table

    names = document["feature_names"]
    outputs = document["output_names"] or [document["output"]]
    expected = document["expected_value"]
    expected = expected if isinstance(expected, list) else [expected]
    rows = document["contributions"]
    many = isinstance(expected, list) and len(expected) > 1
    out = output.console()
    table = Table(
        title=f"{document['model_version']}: {document['method']} SHAP values of "
        f"{document['output']}",
        title_justify="left",
    )
    for column in ("row", "class", "expected", "output", f"top {top} contributions"):
        table.add_column(
            column, justify="left" if column in ("row", "class") or "top" in column else "right"
        )
    for index, row in enumerate(rows[:MAX_SHOWN_ROWS]):
        per_output = list(zip(*row, strict=True)) if many else [row]
        totals = [expected[k] + sum(values) for k, values in enumerate(per_output)]
        k = max(range(len(totals)), key=lambda i: totals[i])  # the largest output's class
        ranked = sorted(zip(names, per_output[k], strict=True), key=lambda p: -abs(p[1]))
        text = ", ".join(f"{output.escape(n)} {v:+.3g}" for n, v in ranked[:top])
        table.add_row(
            str(index + 1),
            output.escape(outputs[k]),
            f"{expected[k]:.4g}",
            f"{totals[k]:.4g}",
            text,
        )
    out.print(table)
    if len(rows) > MAX_SHOWN_ROWS:
        out.print(f"… {len(rows) - MAX_SHOWN_ROWS} more rows; --json gives every row.")
    if document.get("orders") is not None:
        out.print(f"sampled: {document['orders']} feature orders per row.")
