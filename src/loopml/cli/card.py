"""``loopml card``: a model version's card, as Markdown or one offline HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from loopml.cli import output
from loopml.cli.resolve import open_client
from loopml.core.errors import InvalidInputError

HTML_SUFFIXES = (".html", ".htm")


def card_command(
    ref: Annotated[str, typer.Argument(help="The version: NAME@3 or NAME@ALIAS.")],
    as_html: Annotated[bool, typer.Option("--html", help="One self-contained HTML file.")] = False,
    as_md: Annotated[bool, typer.Option("--md", help="Markdown (the default).")] = False,
    out: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the card to this file (.html: HTML)."),
    ] = None,
) -> None:
    """Write the model card of a version, generated from what the store knows.

    Owner and intended use ('loopml models describe'), the training data versions and their
    profiles, params of the run and pipeline steps, metrics, gate results, fairness checks,
    the stored global explanation, lineage both ways, approvals and alias history. The HTML
    card is one file with nothing to fetch (inline CSS, no scripts, no links): it opens
    offline and can be archived with the version.

    Examples:

        loopml card churn@champion                      # Markdown on stdout
        loopml card churn@3 --html -o churn-3-card.html
        loopml card churn@3 -o MODEL_CARD.md
    """
    from loopml.governance.card_render import card_html, card_markdown
    from loopml.governance.model_card import build_card

    if as_html and as_md:
        raise InvalidInputError("Choose one of --html and --md.")
    html = as_html or (not as_md and out is not None and out.suffix.lower() in HTML_SUFFIXES)
    if out is not None and not out.resolve().parent.is_dir():
        raise InvalidInputError(f"{out}: the folder {out.resolve().parent} does not exist.")
    with open_client() as client:
        card = build_card(client, ref)
    text = card_html(card) if html else card_markdown(card)
    if out is None:
        typer.echo(text, nl=False)
        return
    output.write_text_atomically(out, text)
    output.console(stderr=True).print(f"Wrote the card of {card.ref} to {out}", markup=False)
