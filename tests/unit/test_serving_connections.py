"""The model server's connection cap stays below the process's file limit."""

from __future__ import annotations

import resource

from loopml.serving.connections import RESERVED_FILES_MIN, ConnectionLimits, connection_cap


def test_the_connection_cap_leaves_a_reserve_of_files_below_the_limit() -> None:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert connection_cap(ConnectionLimits()) <= soft - RESERVED_FILES_MIN


def test_a_given_connection_cap_is_kept_when_below_the_file_limit() -> None:
    assert connection_cap(ConnectionLimits(max_connections=5)) == 5


def test_connection_limits_travel_to_worker_processes_as_json() -> None:
    limits = ConnectionLimits(header_timeout=2.0, body_timeout=3.0, max_connections=7)
    assert ConnectionLimits.from_json(limits.to_json()) == limits
