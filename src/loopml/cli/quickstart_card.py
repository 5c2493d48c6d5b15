"""The quickstart's last word: the registered version's model card, one offline HTML file in
the project (what ``loopml card NAME@V --html -o FILE`` writes)."""

from __future__ import annotations

from pathlib import Path

from loopml.cli import output
from loopml.core.entities import ModelVersion
from loopml.tracking.client import Client


def write_card(client: Client, version: ModelVersion, folder: Path) -> Path:
    """Write the card of ``version`` as ``NAME-V-card.html`` in ``folder``; its path."""
    from loopml.governance.card_render import card_html
    from loopml.governance.model_card import build_card

    card = build_card(client, f"{version.model}@{version.version}")
    path = (folder / f"{version.model}-{version.version}-card.html").resolve()
    output.write_text_atomically(path, card_html(card))
    return path


def print_card(path: Path, version: ModelVersion) -> None:
    out = output.console()
    out.print()
    out.print(f"[bold]Model card[/] of {version.model}@{version.version}: {output.escape(path)}")
    out.print(
        f"  (loopml card {version.model}@{version.version} for Markdown; "
        f"loopml lineage {version.model}@{version.version} for its lineage)",
        markup=False,
    )
