"""``loopml gate``: a model version against a gate policy, for people and for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.cli.trust import TRUST_CODE_OPTION
from loopml.core.entities import GATE_VARIANT_CHECK, GateResult
from loopml.core.errors import InvalidInputError
from loopml.core.ids import format_ms


def gate_command(
    ref: Annotated[str, typer.Argument(help="The version to gate: NAME@3 or NAME@ALIAS.")],
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy", "-p", help="The policy YAML (default: gates.yaml beside .loopml/)."
        ),
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(
            "--against", help="Compare with the version this alias names (overrides the policy)."
        ),
    ] = None,
    trust_code: Annotated[bool, TRUST_CODE_OPTION] = False,
    no_onnx: Annotated[
        bool,
        typer.Option(
            "--no-onnx", help="Score with the native model even if an ONNX variant exists."
        ),
    ] = False,
    as_json: output.JsonFlag = False,
) -> None:
    """Evaluate a model version against a gate policy; exit 1 if any check fails.

    The version — and the champion it is compared with — are loaded from the registry
    (files checked against their digests) and scored here, on the same evaluation dataset
    version: nothing is taken from logs. Checks: metric thresholds, must beat the champion
    by a margin, no slice of rows worse than a bound, p95 single-row latency on the input
    example, inputs compatible with the champion's, fairness limits between groups of rows
    (Fairlearn's demographic parity and equalized odds). A version with an ONNX variant is scored
    through it, as predict and serve run it (--no-onnx: the native model); the result says
    which. The result is stored with the version; 'loopml models promote' can require it.

    A policy (gates.yaml):

        evaluation: {dataset: churn_holdout@latest, target: churned}
        metrics: {accuracy: {min: 0.9}, roc_auc: {min: 0.95}}
        champion: {alias: champion, must_beat: {accuracy: 0.0}, schema_compatible: true}
        slices: [{column: region, metric: recall, min: 0.8}]
        latency: {p95_ms: 20}
        fairness: [{sensitive: sex, metric: demographic_parity_difference, max: 0.1}]
        promotion: {require_gate: true, require_approval: false}

    Examples:

        loopml gate churn@7 --policy gates.yaml
        loopml gate churn@challenger --against champion --json > gate.json
    """
    from loopml.models.gate_policy import read_policy
    from loopml.models.gates import gate
    from loopml.models.promotion import project_policy

    with open_client() as client:
        rules = read_policy(policy) if policy is not None else project_policy(client)
        if rules is None:
            raise InvalidInputError("No gates.yaml beside .loopml/; pass --policy FILE.")
        result = gate(
            ref,
            rules,
            against=against,
            trust_code=trust_code,
            prefer_onnx=not no_onnx,
            client=client,
        )
    if as_json:
        output.print_json(gate_result_dict(result))
    else:
        print_gate_result(result)
    raise typer.Exit(0 if result.passed else 1)


def gate_result_dict(result: GateResult) -> dict[str, Any]:
    return {
        "id": result.id,
        "model": result.model,
        "version": result.version,
        "passed": result.passed,
        "variant": result.variant,
        "against": result.against,
        "dataset": result.dataset,
        "policy_digest": result.policy_digest,
        "evaluated_at": format_ms(result.evaluated_at),
        "actor": result.actor,
        "checks": [dict(check) for check in result.checks],
    }


def print_gate_result(result: GateResult) -> None:
    """The checks as a table, then the verdict."""
    from rich.table import Table

    against = f" against v{result.against}" if result.against is not None else ""
    variant = f" ({result.variant})" if result.variant is not None else ""
    table = Table(
        title=f"gate {result.model}@{result.version}{variant}{against} on {result.dataset}",
        title_justify="left",
    )
    for column in ("check", "observed", "limit", "result", "detail"):
        table.add_column(column, justify="right" if column in ("observed", "limit") else "left")
    checks = [check for check in result.checks if check["check"] != GATE_VARIANT_CHECK]
    for check in checks:
        verdict = "[green]pass[/]" if check["passed"] else "[red]FAIL[/]"
        table.add_row(
            output.escape(check["name"]),
            _cell(check["observed"]),
            _cell(check["limit"]),
            verdict,
            output.escape(check["detail"]),
        )
    out = output.console()
    out.print(table)
    if result.passed:
        out.print(f"[green]passed[/]: {len(checks)} checks.")
    else:
        failed = sum(1 for check in checks if not check["passed"])
        out.print(f"[red]failed[/]: {failed} of {len(checks)} checks.")


def _cell(value: object) -> str:
    if value is None:
        return "—"
    return output.format_number(value) if isinstance(value, float) else str(value)
