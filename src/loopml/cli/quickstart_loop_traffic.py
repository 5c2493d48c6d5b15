"""The traffic the quickstart's loop replays, from its real data (pure: no I/O).

The world changes twice, as it does in a clinic: a new scanner reports every size 30 % larger
(the nine radius, perimeter and area columns drift; the share of drifted features is 0.3), and
a revised protocol labels a tumour malignant once its worst concave points reach 0.08 (the
relationship between the inputs and the label changes: the champion's accuracy on the new
labels falls to about 0.8). Phases, in order:

- ``normal``: training rows as they were, with their true labels;
- ``drift``: every training row measured by the new scanner, labelled under the new protocol
  (what the loop retrains on, once the labels come back);
- ``recovered``: more of the same, for the retrained champion;
- ``worse``: more of the same, for a deliberately worse model promoted by hand.

>>> phases = traffic_phases(header, train, seed=0)  # doctest: +SKIP
>>> [(p.name, len(p.rows)) for p in phases]  # doctest: +SKIP
[('normal', 200), ('drift', 455), ('recovered', 200), ('worse', 200)]
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from loopml.core.errors import InvalidInputError

__all__ = [
    "CONCAVE_POINTS",
    "NEW_PROTOCOL_THRESHOLD",
    "SCANNER_FACTOR",
    "SIZE_FEATURES",
    "Phase",
    "new_protocol_label",
    "new_world",
    "scanned",
    "traffic_phases",
]

SIZE_FEATURES = tuple(
    f"{part}_{size}" for part in ("mean", "worst") for size in ("radius", "perimeter", "area")
) + tuple(f"{size}_error" for size in ("radius", "perimeter", "area"))
SCANNER_FACTOR = 1.3  # the new scanner's sizes, relative to the old one's
CONCAVE_POINTS = "worst_concave_points"
NEW_PROTOCOL_THRESHOLD = 0.08  # malignant (0) at or above, benign (1) below
SAMPLED_ROWS = 200


@dataclass(frozen=True)
class Phase:
    """One phase of replayed traffic: its rows (feature values in the header's order), the
    labels fed back for them, and what it shows."""

    name: str
    description: str
    rows: tuple[tuple[float, ...], ...]
    labels: tuple[int, ...]


def scanned(header: Sequence[str], row: Sequence[float]) -> tuple[float, ...]:
    """``row`` as the new scanner measures it: the size columns times ``SCANNER_FACTOR``."""
    sizes = {i for i, name in enumerate(header) if name in SIZE_FEATURES}
    return tuple(v * SCANNER_FACTOR if i in sizes else v for i, v in enumerate(row))


def new_protocol_label(header: Sequence[str], row: Sequence[float]) -> int:
    """The label the revised protocol gives ``row`` (1 benign, 0 malignant, as scikit-learn
    codes them): malignant once its worst concave points reach the threshold (a column the
    scanner change leaves alone)."""
    return 0 if row[list(header).index(CONCAVE_POINTS)] >= NEW_PROTOCOL_THRESHOLD else 1


def new_world(
    header: Sequence[str], rows: Sequence[Sequence[float]]
) -> tuple[tuple[tuple[float, ...], ...], tuple[int, ...]]:
    """``rows`` measured by the new scanner, and their labels under the new protocol."""
    return (
        tuple(scanned(header, row) for row in rows),
        tuple(new_protocol_label(header, row) for row in rows),
    )


def traffic_phases(
    header: Sequence[str],
    rows: Sequence[Sequence[float]],
    labels: Sequence[int],
    *,
    seed: int = 0,
    sampled: int = SAMPLED_ROWS,
) -> list[Phase]:
    """The four phases over the training ``rows`` (features only, in ``header``'s order) and
    their true ``labels``; samples are drawn with ``seed``, so the same data replays alike."""
    if len(rows) != len(labels):
        raise InvalidInputError(f"{len(rows)} rows but {len(labels)} labels to replay.")
    if not rows:
        raise InvalidInputError("No rows to replay: the training data is empty.")
    missing = [name for name in (*SIZE_FEATURES, CONCAVE_POINTS) if name not in header]
    if missing:
        raise InvalidInputError(
            f"The rows to replay have no column {missing[0]!r}; the loop replays the "
            "quickstart's breast-cancer data (loopml quickstart --data-only writes it)."
        )
    pick = random.Random(seed)

    def sample() -> list[int]:
        return [pick.randrange(len(rows)) for _ in range(sampled)]

    normal = sample()
    drifted, relabelled = new_world(header, rows)
    later = [sample(), sample()]
    return [
        Phase(
            "normal",
            "training rows as they were, with their true labels",
            tuple(tuple(rows[i]) for i in normal),
            tuple(int(labels[i]) for i in normal),
        ),
        Phase(
            "drift",
            f"a new scanner: sizes x{SCANNER_FACTOR:g}; a new protocol: malignant from "
            f"{CONCAVE_POINTS} {NEW_PROTOCOL_THRESHOLD:g}",
            drifted,
            relabelled,
        ),
        Phase(
            "recovered",
            "the new world, served by the retrained champion",
            tuple(drifted[i] for i in later[0]),
            tuple(relabelled[i] for i in later[0]),
        ),
        Phase(
            "worse",
            "the new world, served by a model trained on shuffled labels",
            tuple(drifted[i] for i in later[1]),
            tuple(relabelled[i] for i in later[1]),
        ),
    ]
