"""A River detector's state as JSON-ready data, and back (for :mod:`.concept_drift`).

Page–Hinkley and DDM keep a few numbers, written by name; ADWIN keeps its buckets in River's
Rust core, whose own serialisation (plain data, the bytes River's pickling uses, not a
pickle) is stored base64-encoded with its SHA-256 digest and read back only by the same River
version. Reading
River's private attributes is the price of not pickling: the round-trip tests
(tests/unit/test_concept_drift.py) fail if a River release renames them.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Mapping
from typing import Any

from loopml.core.errors import InvalidInputError

__all__ = ["dump", "load", "river_version"]

_PAGE_HINKLEY = ("_sum_increase", "_sum_decrease", "_min_increase", "_max_decrease")
_DDM = ("_p_min", "_s_min", "_ps_min")


def river_version() -> str:
    """The installed River's version (its ``__version__``: importlib.metadata parses the
    package's metadata file on every call, too slow for every window)."""
    import river

    version: str = river.__version__  # type: ignore[attr-defined]
    return version


def dump(method: str, river: Any) -> dict[str, Any]:
    """``river``'s state (a detector of ``method``)."""
    state: dict[str, Any] = {"drift_detected": bool(river._drift_detected)}
    if method == "adwin":
        blob = river._helper.__getstate__()
        state["adwin"] = base64.b64encode(blob).decode("ascii")
        state["adwin_sha256"] = hashlib.sha256(blob).hexdigest()
    elif method == "page_hinkley":
        state["mean"] = [river._x_mean.n, river._x_mean._mean]
        state.update({name.lstrip("_"): _number(getattr(river, name)) for name in _PAGE_HINKLEY})
    else:
        state["mean"] = [river._p.n, river._p._mean]
        state["warning_detected"] = bool(river._warning_detected)
        state.update({name.lstrip("_"): _number(getattr(river, name)) for name in _DDM})
    return state


def load(method: str, river: Any, state: Mapping[str, Any], written_by: str) -> None:
    """Put ``state`` (from :func:`dump`, River ``written_by``) into the fresh ``river``."""
    river._drift_detected = bool(state["drift_detected"])
    if method == "adwin":
        installed = river_version()
        if written_by != installed:
            raise InvalidInputError(
                f"This ADWIN state was written by River {written_by} and River "
                f"{installed} is installed; ADWIN's state is River's own "
                "format, read only by the version that wrote it. Start the detector afresh."
            )
        blob = base64.b64decode(state["adwin"], validate=True)
        if hashlib.sha256(blob).hexdigest() != state["adwin_sha256"]:
            raise InvalidInputError("A malformed ADWIN state: its bytes do not match its digest.")
        try:
            river._helper.__setstate__(blob)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # River's Rust core panics (a BaseException) on bad bytes
            raise InvalidInputError(f"A malformed ADWIN state: {exc}") from exc
        return
    mean = river._x_mean if method == "page_hinkley" else river._p
    mean.n, mean._mean = float(state["mean"][0]), float(state["mean"][1])
    names = _PAGE_HINKLEY if method == "page_hinkley" else _DDM
    for name in names:
        if not hasattr(river, name):  # a River release renamed its state: refuse, not guess
            raise InvalidInputError(f"River's {method} has no {name} to restore any more.")
        setattr(river, name, _from_number(state[name.lstrip("_")]))
    if method == "ddm":
        river._warning_detected = bool(state["warning_detected"])


def _number(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "inf" if value > 0 else "-inf"  # JSON has no infinity


def _from_number(value: float | str | None) -> float | None:
    return None if value is None else float(value)
