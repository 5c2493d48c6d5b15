"""The quickstart's last word: the registered version's model card, one offline HTML file in
the project (what ``loopml card NAME@V --html -o FILE`` writes), and the audit log of every
change it made, verified (what ``loopml audit verify`` does)."""

from __future__ import annotations

from pathlib import Path

from loopml.cli import output
from loopml.core.audit_chain import ChainReport
from loopml.core.entities import ModelVersion
from loopml.core.errors import LoopMLError
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


def verify_audit(client: Client) -> ChainReport:
    """The audit log's chain, walked from its first entry; a broken one is an error (the
    quickstart made every change in it, so nothing may be off)."""
    from loopml.tracking.audit_log import verify_log

    report = verify_log(client.metadata)
    if not report.ok:
        raise LoopMLError(
            f"The audit log does not verify at position {report.first_bad}: {report.problem}"
        )
    return report


def print_audit(report: ChainReport) -> None:
    out = output.console()
    out.print(
        f"[bold]Audit log[/]: {report.entries} changes recorded, chain intact"
        + (f"; head {report.head}" if report.head is not None else "")
    )
    out.print("  (loopml audit log to read it; loopml audit verify to check it again)")
