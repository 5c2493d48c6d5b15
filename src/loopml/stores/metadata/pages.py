"""How many items one page of a metadata store listing holds unless the caller asks."""

from __future__ import annotations

from loopml.core.query_limits import MAX_RESULTS_LIMIT as MAX_RESULTS_LIMIT

DEFAULT_MAX_RESULTS = 1000
