"""How ``loopml quickstart --loop`` tells its story: a table of the phases as monitoring saw
them, what the policy decided and the agent did, the timings, and ``loopml loop log``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.cli import output

if TYPE_CHECKING:
    from loopml.cli.quickstart_loop import LoopStory
    from loopml.core.loop_records import Decision

__all__ = ["print_loop_story"]


def print_loop_story(story: LoopStory, decisions: list[Decision]) -> None:
    from rich.box import SIMPLE_HEAD
    from rich.table import Table

    from loopml.cli.loop import decisions_table

    out = output.console()
    table = Table(
        title=f"The loop of {story.model}: what monitoring saw, phase by phase (1-minute windows)",
        title_justify="left",
        box=SIMPLE_HEAD,
    )
    columns = ("phase", "rows", "served by", "drift share", "accuracy", "est. accuracy", "labels")
    for name in columns:
        table.add_column(name, no_wrap=True, justify="left" if name == "phase" else "right")
    for phase in story.phases:
        seen = phase.window
        table.add_row(
            phase.name,
            str(phase.rows),
            phase.version,
            _number(seen.get("drift_share")),
            _number(seen.get("accuracy")),
            _number(seen.get("estimated_accuracy")),  # CBPE, once servers log scores
            str(seen.get("labelled") or 0),
        )
    if story.first_model is not None:
        forced = " (with --force: it takes named columns, its gate's schema check fails)"
        out.print(
            f"The loop's first champion: {story.first_model}, the same training fitted on "
            f"named columns{forced if story.first_model_forced else ''}.",
            markup=False,
            soft_wrap=True,
        )
    out.print(table)
    for phase in story.phases:
        out.print(f"  {phase.name}: {phase.description}", markup=False, soft_wrap=True)
    if story.data_versions:
        listed = ", ".join(f"{role} {ref}" for role, ref in story.data_versions.items())
        out.print(f"New data versions from the fed-back labels: {listed}", markup=False)
    preview = story.preview
    if preview is not None and preview.get("trigger"):
        text = f"The policy decides on the drifted window: retrain ({preview['trigger']}"
        evidence = preview.get("evidence") or {}
        if "metric" in evidence:
            text += f": {evidence['metric']} {_number(evidence.get('value'))} < "
            text += f"{_number(evidence.get('below'))} over {evidence.get('samples')} labels"
        text += ")"
        drift = preview.get("drift_alone")
        if drift:
            text += (
                f"; the drift alone would have: drift share {_number(drift.get('value'))} >= "
                f"{_number(drift.get('threshold'))}"
            )
        out.print(text, markup=False, soft_wrap=True)
    for key, decision in (("Retraining", story.retraining), ("Rollback", story.rollback)):
        if decision is not None:
            line = f"{key}: {decision['state']}"
            if decision.get("candidate_version") is not None:
                line += f", candidate version {decision['candidate_version']}"
            line += f" — {decision.get('action') or decision.get('error') or ''}"
            out.print(line, markup=False, soft_wrap=True)
    _print_timings(story.timings)
    for note in story.notes:
        out.print(f"Note: {note}", style="yellow", markup=False, soft_wrap=True)
    out.print()
    out.print("[bold]$ loopml loop log[/]")
    if decisions:
        out.print(decisions_table(decisions))
    else:
        out.print("The loop has decided nothing yet.")


def _print_timings(timings: dict[str, float | None]) -> None:
    out = output.console()
    total = timings.get("first_drifted_request_to_promotion")
    training = timings.get("training")
    without = timings.get("first_drifted_request_to_promotion_without_training")
    if total is None:
        return
    out.print(
        f"From the first drifted request to the promoted champion: {total:.1f} s, of which "
        f"training {_seconds(training)}; without the training {_seconds(without)}.",
        markup=False,
        soft_wrap=True,
    )


def _seconds(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.1f} s"


def _number(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.3f}"
    return "—"
