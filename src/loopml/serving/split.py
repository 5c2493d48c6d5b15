"""The traffic split of a model server: a second alias of the served model as a canary (a
share of requests) or a shadow (a copy of every request, answers never returned).

>>> parse_split(canary="challenger:10%")
TrafficSplit(alias='challenger', mode='canary', share=0.1)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loopml.core.errors import InvalidInputError

__all__ = ["CANARY", "MAIN", "SHADOW", "TrafficSplit", "parse_split"]

MAIN, CANARY, SHADOW = "main", "canary", "shadow"
_CANARY = re.compile(r"^(?P<alias>[^:\s]+):(?P<share>\d+(\.\d+)?)%?$")


@dataclass(frozen=True)
class TrafficSplit:
    """The second alias (or version) of the served model, and what it gets."""

    alias: str
    mode: str  # CANARY or SHADOW
    share: float  # of requests, for a canary (0 < share < 1)

    def describe(self) -> str:
        if self.mode == CANARY:
            return f"canary {self.alias} takes {self.share:.0%} of requests"
        return f"shadow {self.alias} scores a copy of every request (never returned)"


def parse_split(*, canary: str | None = None, shadow: str | None = None) -> TrafficSplit | None:
    """``canary="challenger:10%"`` or ``shadow="challenger"`` (not both), checked."""
    if canary and shadow:
        raise InvalidInputError("Give --canary or --shadow, not both.")
    if shadow is not None:
        alias = shadow.strip()
        if not alias or ":" in alias or "@" in alias:
            raise InvalidInputError(
                f"--shadow {shadow!r}: give an alias or version of the served model, such as "
                "'challenger' or '4'."
            )
        return TrafficSplit(alias, SHADOW, 1.0)
    if canary is None:
        return None
    match = _CANARY.match(canary.strip())
    share = float(match["share"]) if match else -1.0
    if match is None or not 0 < share < 100:
        raise InvalidInputError(
            f"--canary {canary!r}: expected ALIAS:PERCENT with a percent above 0 and below "
            "100, such as 'challenger:10%'."
        )
    return TrafficSplit(match["alias"], CANARY, share / 100)
