"""Tree objects: canonical encoding and path safety (pure, no store needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopml.core.errors import InvalidInputError
from loopml.core.hashing import Digest, hash_bytes
from loopml.stores.artifacts.trees import TreeEntry, decode_tree, encode_tree

_segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="/\\\x00"),
    min_size=1,
    max_size=8,
).filter(lambda part: part not in (".", ".."))
_paths = (
    st.lists(_segment, min_size=1, max_size=3)
    .map("/".join)
    .filter(lambda path: not (path[0].isascii() and path[0].isalpha() and path[1:2] == ":"))
)
_digests = st.binary(min_size=32, max_size=32).map(lambda raw: Digest("blake3", raw.hex()))


@st.composite
def tree_entries(draw: st.DrawFn) -> list[TreeEntry]:
    """Entries with unique paths, none of which is a folder of another."""
    paths = draw(st.lists(_paths, max_size=12, unique=True))
    paths = [p for p in paths if not any(other.startswith(p + "/") for other in paths)]
    return [
        TreeEntry(path, draw(_digests), draw(st.integers(min_value=0, max_value=2**40)))
        for path in paths
    ]


@given(entries=tree_entries(), data=st.data())
def test_same_entries_in_any_order_have_the_same_digest(
    entries: list[TreeEntry], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(entries))
    assert encode_tree(shuffled) == encode_tree(entries)
    assert hash_bytes(encode_tree(shuffled)) == hash_bytes(encode_tree(entries))


@given(entries=tree_entries())
def test_decode_returns_the_entries_sorted_by_path(entries: list[TreeEntry]) -> None:
    assert decode_tree(encode_tree(entries)) == sorted(entries, key=lambda e: e.path)


def test_encoding_is_compact_json_with_the_type_first() -> None:
    digest = hash_bytes(b"x")
    assert (
        encode_tree([TreeEntry("b", digest, 1), TreeEntry("a/c", digest, 1)])
        == (
            '{"type":"tree","entries":['
            f'{{"path":"a/c","digest":"{digest}","size":1}},'
            f'{{"path":"b","digest":"{digest}","size":1}}]}}'
        ).encode()
    )


@pytest.mark.parametrize(
    "path",
    ["", "/etc/passwd", "../up", "a/../../up", "a/./b", "a//b", "a/", ".", "a\\b", "C:/x"],
)
def test_unsafe_or_unnormalised_paths_are_rejected(path: str) -> None:
    with pytest.raises(InvalidInputError, match="Invalid tree entry path"):
        TreeEntry(path, hash_bytes(b""), 0)


def test_negative_size_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="non-negative integer"):
        TreeEntry("a", hash_bytes(b""), -1)


def test_duplicate_paths_and_file_folder_clashes_are_rejected() -> None:
    digest = hash_bytes(b"")
    with pytest.raises(InvalidInputError, match="twice"):
        encode_tree([TreeEntry("a", digest, 0), TreeEntry("a", digest, 0)])
    with pytest.raises(InvalidInputError, match="as a file and as a folder"):
        encode_tree([TreeEntry("a", digest, 0), TreeEntry("a/b", digest, 0)])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b'{"entries":[],"type":"tree"}',
        b'{"type":"tree","entries":[]} ',
        b'{"type":"tree","entries":[{"path":"a","digest":"nope","size":1}]}',
        b'{"type":"tree","entries":[{"path":"../a","digest":"blake3:'
        + b"0" * 64
        + b'","size":1}]}',
    ],
)
def test_decode_rejects_what_is_not_a_canonical_tree(data: bytes) -> None:
    with pytest.raises(InvalidInputError, match="is not a tree object"):
        decode_tree(data, Digest.parse("0" * 64))
