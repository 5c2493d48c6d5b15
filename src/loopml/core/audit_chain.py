"""The hash chain of the audit log: how one entry is hashed, and how a whole log is verified.

Entry ``n`` (positions count 1, 2, …) stores ``prev_hash`` (the hash of entry ``n - 1``, or
:data:`GENESIS` for the first) and ``hash = BLAKE3(prev_hash + "\\n" + entry text)``, where the
entry text (:func:`entry_text`) frames every recorded field unambiguously: position, time,
actor, action, target, request id, before/after digests and the payload as canonical JSON
(:func:`canonical_json`; the store keeps that exact text, so verifying parses nothing).

:func:`verify_chain` walks the entries in position order and reports the first that does not
fit: an edited entry no longer hashes to its ``hash``; an inserted, deleted or reordered one
breaks the position sequence or the link to its predecessor. Rewriting the whole tail
consistently is only caught by an anchor (:class:`Anchor`): a head digest stored elsewhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from blake3 import blake3

from loopml.core.errors import InvalidInputError

GENESIS = "0" * 64
"""The ``prev_hash`` of the first entry."""

_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def canonical_json(payload: Mapping[str, object]) -> str:
    """``payload`` as the one JSON text the chain hashes (sorted keys, no spaces)."""
    return _canonical(dict(payload))


def digest_of(state: object) -> str:
    """The BLAKE3 hex digest of a state (``before``/``after`` of a change) as canonical JSON."""
    return blake3(_canonical(state).encode()).hexdigest()


class ChainEntry(NamedTuple):
    """One entry of the log as stored: what is hashed, and the two links (a plain tuple in
    this column order works too: the store hands its rows over as they come)."""

    seq: int
    timestamp: int
    actor: str
    action: str
    target: str
    request_id: str
    before_digest: str
    after_digest: str
    payload_json: str
    prev_hash: str
    hash: str


def entry_text(
    seq: int,
    timestamp: int,
    actor: str,
    action: str,
    target: str,
    request_id: str,
    before_digest: str,
    after_digest: str,
    payload_json: str,
) -> str:
    """The framed text of one entry: free-text fields carry their length, so no two entries
    share a text. Called once per entry by :func:`verify_chain`: kept to one f-string."""
    return (
        f"{seq}|{timestamp}|{len(actor)}:{actor}|{len(action)}:{action}|{len(target)}:{target}"
        f"|{len(request_id)}:{request_id}|{before_digest}|{after_digest}|{payload_json}"
    )


def chain_hash(prev_hash: str, text: str) -> str:
    """The hash of an entry whose text is ``text`` after an entry hashed ``prev_hash``."""
    return blake3(f"{prev_hash}\n{text}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Anchor:
    """The chain head at one moment: ``digest`` is the hash of the entry at ``seq``. Printed
    by ``loopml audit anchor`` as ``DIGEST@SEQ`` for the user to keep outside the store."""

    digest: str
    seq: int

    def __str__(self) -> str:
        return f"{self.digest}@{self.seq}"

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """``DIGEST@SEQ`` (64 hex characters, a position ≥ 1) or :class:`InvalidInputError`."""
        match = re.fullmatch(r"([0-9a-f]{64})@([1-9][0-9]{0,18})", text.strip())
        if match is None:
            raise InvalidInputError(
                f"Bad anchor {text!r}: expected DIGEST@POSITION, 64 lowercase hex characters, "
                "'@' and a position from 1 (as printed by 'loopml audit anchor')."
            )
        return cls(match.group(1), int(match.group(2)))


@dataclass(frozen=True, slots=True)
class ChainReport:
    """What :func:`verify_chain` found. ``first_bad`` is the position of the first entry that
    does not fit (None when the log is intact) and ``problem`` says how."""

    entries: int
    head: Anchor | None
    first_bad: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad is None


class ChainWalk(NamedTuple):
    """Where :func:`walk_chain` stopped: the hash of the last good entry and the position
    expected next, with the first bad position and what is wrong with it (None and "" when
    every entry walked fits)."""

    prev: str
    expected: int
    first_bad: int | None = None
    problem: str = ""


def walk_chain(
    entries: Iterable[ChainEntry],
    wanted: Mapping[int, str],
    prev: str = GENESIS,
    expected: int = 1,
) -> ChainWalk:
    """Check the links of ``entries`` (in stored position order) that follow an entry hashed
    ``prev`` at position ``expected - 1``, and the anchors ``wanted`` (position -> digest)
    among them. The whole log from :data:`GENESIS` is :func:`verify_chain`; a store may walk
    stretches of it in parallel, each from the stored hash before it, and join them.

    The loop runs once per entry of the log (a million in ~3 s is the goal): entry_text and
    chain_hash are inlined, and a good entry costs two comparisons, one f-string and one
    hash on a reused hasher (a new hasher per entry costs a third more).
    """
    hasher = blake3()
    reset, update, hexdigest = hasher.reset, hasher.update, hasher.hexdigest
    for seq, ts, actor, action, target, rid, before, after, payload, prev_hash, hash_ in entries:
        reset()
        update(
            f"{prev}\n{seq}|{ts}|{len(actor)}:{actor}|{len(action)}:{action}"
            f"|{len(target)}:{target}|{len(rid)}:{rid}|{before}|{after}|{payload}".encode()
        )
        if seq != expected or prev_hash != prev or hexdigest() != hash_:
            problem = _problem(seq, expected, prev_hash, prev)
            return ChainWalk(prev, expected, expected, f"Entry {expected}: {problem}.")
        if wanted and seq in wanted and wanted[seq] != hash_:
            problem = "it is not the entry the anchor recorded (the log was rewritten)"
            return ChainWalk(prev, expected, expected, f"Entry {expected}: {problem}.")
        prev = hash_
        expected += 1
    return ChainWalk(prev, expected)


def chain_report(walk: ChainWalk, wanted: Mapping[int, str]) -> ChainReport:
    """The report on a log walked to its end (``walk`` from :func:`walk_chain`): its first
    bad entry, or else the first anchor past its end (the log was truncated)."""
    count = walk.expected - 1
    head = _head(walk.prev, count)
    if walk.first_bad is not None:
        return ChainReport(count, head, walk.first_bad, walk.problem)
    past_end = [seq for seq in wanted if seq > count]
    if past_end:
        seq = min(past_end)
        problem = f"the anchor at position {seq} is past the end of the log (truncated)"
        return ChainReport(count, head, seq, f"Entry {seq}: {problem}.")
    return ChainReport(count, head)


def verify_chain(entries: Iterable[ChainEntry], anchors: Iterable[Anchor] = ()) -> ChainReport:
    """Check every link of the whole log ``entries`` (in stored position order) from
    :data:`GENESIS`, and every anchor."""
    wanted = anchor_positions(anchors)
    return chain_report(walk_chain(entries, wanted), wanted)


def anchor_positions(anchors: Iterable[Anchor]) -> dict[int, str]:
    """``anchors`` as position -> digest, the form :func:`walk_chain` looks them up in."""
    return {a.seq: a.digest for a in anchors}


def _problem(seq: int, expected: int, prev_hash: str, prev: str) -> str:
    if seq != expected:
        return (
            f"position {seq} follows position {expected - 1}: an entry was deleted, inserted "
            "or moved"
        )
    if prev_hash != prev:
        return "its link to the previous entry is broken (deleted, inserted or moved)"
    return "its content does not match its hash (edited)"


def _head(prev: str, count: int) -> Anchor | None:
    return Anchor(prev, count) if count else None
