"""``--trust-code``: the one opt-in, shared by every command that loads a model version, to
load versions (or pipeline step outputs) whose loading runs code they name (pickles,
``package.module:callable`` models, scikit-learn types outside loopml's allowlist)."""

from __future__ import annotations

import typer

__all__ = ["STEP_TRUST_CODE_OPTION", "TRUST_CODE_OPTION", "TRUST_CODE_WARNING"]

TRUST_CODE_OPTION = typer.Option(
    "--trust-code",
    help="Also load model versions that run code they name (pickles, package.module:callable "
    "models, scikit-learn types outside loopml's allowlist). Only for versions whose "
    "registrants you trust: such a version runs with your permissions.",
)

STEP_TRUST_CODE_OPTION = typer.Option(
    "--trust-code",
    help="Also load step outputs that build types outside loopml's allowlist (scikit-learn "
    "models whose files name other code). Only for pipelines whose steps you trust: loading "
    "such an output runs with your permissions.",
)

TRUST_CODE_WARNING = (
    "Warning: --trust-code: model versions that run code they name will be loaded; anyone "
    "who can register and alias a version can run code here."
)
